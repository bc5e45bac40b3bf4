/**
 * Erasure on the PostgreSQL engine (#15): after `DELETE /api/conversations/:id` the conversation's texts are in no row
 * of any table of the database — messages, conversation previews, queue items, records and attachments included.
 * (The lowdb counterpart, bridge/conversation-erasure.test.ts, greps every file under DATA_DIR.)
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentAccount } from './auth/agent-accounts.ts';
import { createBridge, type Bridge } from './create-bridge.ts';
import { silentLogger } from './logger.ts';
import { migrate } from './store/postgres/migrations.ts';
import { PostgresStore } from './store/postgres/postgres-store.ts';
import { connectAgent, connectVisitor, emitWithAck, type AgentClient, type VisitorClient } from './testing/clients.ts';
import { createTestDatabase } from './testing/test-database.ts';
import { eventIdOf } from './webhooks/event-webhooks.ts';
import { sendIdOf } from './webhooks/whatsapp-delivery.ts';
import { PENDING_STATUS_NAMESPACE } from './webhooks/external-statuses.ts';
import { postgresNodeConfig } from './testing/postgres-nodes.ts';

const logger = silentLogger();
const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
let pool: pg.Pool;
let store: PostgresStore;
let bridge: Bridge;
let url: string;
const sockets: (VisitorClient | AgentClient)[] = [];

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('conversation_erasure');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  await migrate(pool, logger);
  store = new PostgresStore({ pool, logger });
  await store.open();
  await createAgentAccount(store, ADMIN, new Date());
  const config = postgresNodeConfig();
  bridge = createBridge({ config, store, logger });
  await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await bridge?.close();
  await store?.close();
  await pool?.end();
});

/** `table.column` of every row in the public schema whose text contains `needle`. */
async function rowsHolding(needle: string): Promise<string[]> {
  const { rows: tables } = await pool.query<{ name: string }>(
    "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const hits: string[] = [];
  for (const { name } of tables) {
    // The whole row as text (bytea columns as hex, so binary content is searched too) holds the needle.
    const hex = Buffer.from(needle, 'utf8').toString('hex');
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${name} AS t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0`,
      [needle, hex],
    );
    if (Number(rows[0]?.n) > 0) hits.push(`${name} (${rows[0]?.n} rows)`);
  }
  return hits;
}

describe('erasure on PostgreSQL', () => {
  it('leaves the erased texts in no row of any table, and keeps the other conversations', async () => {
    const login = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: ADMIN.name, password: ADMIN.password }),
    });
    const { token } = (await login.json()) as { token: string };
    const secret = `erase-me-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const visitor = await connectVisitor(url);
    const kept = await connectVisitor(url);
    const agent = await connectAgent(url, token);
    sockets.push(visitor, kept, agent);
    const id = visitor.session.conversationId;
    const first = await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: `${secret} first` });
    const keptSend = await emitWithAck(kept, 'message:send', { clientId: 'k-1', text: 'kept text' });
    const reply = await emitWithAck(agent, 'message:send', { conversationId: id, clientId: 'r-1', text: `${secret} reply` });
    if (!first.ok || !reply.ok || !keptSend.ok) throw new Error('a send failed');
    // Data that lives elsewhere: a webhook delivery and a WhatsApp send carrying the text, a pending status.
    await store.setExternalId(id, reply.data.id, 'wamid.erase-test');
    await store.putRecord(PENDING_STATUS_NAMESPACE, 'wamid.erase-test', { status: 'read', note: secret });
    await store.enqueue('webhook', { body: `${secret} in a webhook body` }, `${eventIdOf('message.created', first.data)}:feedc0de`);
    await store.enqueue('whatsapp-send', { text: `${secret} reply` }, sendIdOf(reply.data.id));
    expect((await rowsHolding(secret)).length).toBeGreaterThan(0);

    const res = await fetch(`${url}/api/conversations/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    // Answered only once committed: nothing to wait for.
    expect(await rowsHolding(secret)).toEqual([]);
    expect(await rowsHolding(reply.data.id)).toEqual([]);
    expect(await rowsHolding('wamid.erase-test')).toEqual([]);
    expect((await store.getMessages(kept.session.conversationId, { limit: 10 })).map((m) => m.text)).toEqual(['kept text']);
  });
});
