/** WhatsApp media end to end on the PostgreSQL engine (the scenarios: whatsapp-media-contract.ts). */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { createBridge } from '../create-bridge.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { postgresNodeConfig } from '../testing/postgres-nodes.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { describeWhatsappMedia } from './whatsapp-media-contract.ts';

describeWhatsappMedia('PostgreSQL', async (webhooks, logger) => {
  const pool = new pg.Pool({ connectionString: await createTestDatabase('whatsapp_media'), max: 4 });
  await migrate(pool, logger);
  const store = new PostgresStore({ pool, logger });
  await store.open();
  const config = { ...postgresNodeConfig(), webhooks };
  const agent = await createAgentAccount(store, { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' }, new Date());
  const { token } = await startAgentSession(store, config.secrets.agentToken, agent, new Date());
  const bridge = createBridge({ config, store, logger });
  await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`,
    store,
    agentToken: token,
    async storedFiles() {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attachments');
      return rows[0]!.n;
    },
    async close() {
      await bridge.close();
      await store.close();
      await pool.end();
    },
  };
});
