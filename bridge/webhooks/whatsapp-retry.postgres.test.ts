/** An agent's Retry of a WhatsApp reply while its send is under way, on the PostgreSQL engine (the scenarios: whatsapp-retry-contract.ts). */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { createBridge } from '../create-bridge.ts';
import { silentLogger } from '../logger.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { postgresNodeConfig } from '../testing/postgres-nodes.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { describeWhatsappRetry } from './whatsapp-retry-contract.ts';

describeWhatsappRetry('PostgreSQL', async (webhooks) => {
  const logger = silentLogger();
  const pool = new pg.Pool({ connectionString: await createTestDatabase('whatsapp_retry'), max: 4 });
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
    async close() {
      await bridge.close();
      await store.close();
      await pool.end();
    },
  };
});
