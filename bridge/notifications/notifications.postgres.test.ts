/**
 * Notification mails on two nodes of one PostgreSQL store: both scan at once (as their timers do), each due
 * notification reaches the loopback SMTP server once, to the right people, and a node started later sends nothing again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { silentLogger } from '../logger.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { startTestSmtpServer, type TestSmtpServer } from '../testing/test-smtp-server.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { Notifications } from './notifications.ts';

const MINUTE = 60_000;
let now = Date.parse('2026-03-02T09:00:00.000Z');
const clock = () => new Date(now);
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];
const nodes: Notifications[] = [];
let url: string;
let smtp: TestSmtpServer;

async function node(): Promise<{ store: PostgresStore; notifications: Notifications }> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pools.push(pool);
  const store = new PostgresStore({ pool, clock, logger: silentLogger() });
  await store.open();
  stores.push(store);
  const notifications = new Notifications({
    store,
    logger: silentLogger(),
    clock,
    mail: { smtpUrl: smtp.url, from: 'support@example.com', unansweredAfterMs: 5 * MINUTE, visitorAfterMs: 10 * MINUTE },
    publicUrl: () => 'https://chat.example',
    secret: 'unsubscribe-test-secret',
    pollMs: 60_000,
  });
  // The worker only: the test runs each scan itself, so both nodes' scans overlap as their timers' may.
  notifications.worker.start();
  nodes.push(notifications);
  return { store, notifications };
}

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  url = await createTestDatabase('notifications');
  const pool = new pg.Pool({ connectionString: url });
  await migrate(pool, silentLogger());
  await pool.end();
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  // A store holds a connection of its own for its queue claims; the pool ends only once that is given back.
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(pools.map((pool) => pool.end()));
  await smtp?.close();
});

describe('notification mails on PostgreSQL', () => {
  it('two nodes scanning at once send each notification once; a node started later sends nothing again', async () => {
    const [a, b] = [await node(), await node()];
    const agent = { displayName: 'Gil', active: true, passwordHash: '', sessionEpoch: 0, availability: 'online' as const, createdAt: clock().toISOString() };
    await a.store.createAgent({ ...agent, id: 'adm', name: 'adm', role: 'admin', email: 'adm@example.com' });
    await a.store.createAgent({ ...agent, id: 'gil', name: 'gil', role: 'agent', email: 'gil@example.com' });
    // c1: assigned to gil, unanswered. c2: unassigned, unanswered (admins). c3: a reply the visitor has not read.
    for (const id of ['c1', 'c2', 'c3']) await a.store.createConversation({ id, channel: 'web', name: `Visitor ${id}` });
    await a.store.setConversationAssignee('c1', 'gil');
    await a.store.appendMessage({ conversationId: 'c1', clientId: 'v', author: { role: 'visitor' }, text: 'hello from c1' });
    await b.store.appendMessage({ conversationId: 'c2', clientId: 'v', author: { role: 'visitor' }, text: 'hello from c2' });
    await a.store.appendMessage({ conversationId: 'c3', clientId: 'v', author: { role: 'visitor' }, text: 'question' });
    await a.store.appendMessage({ conversationId: 'c3', clientId: 'r', author: { role: 'agent', agentId: 'gil', name: 'Gil' }, text: 'the answer' });
    await a.store.setConversationVisitorEmail('c3', 'ann@example.com');

    now += 11 * MINUTE;
    await Promise.all([a.notifications.scan(), b.notifications.scan(), a.notifications.scan(), b.notifications.scan()]);
    a.notifications.worker.kick();
    b.notifications.worker.kick();
    await waitUntil('three notification mails', () => smtp.received.length >= 3);
    await Promise.all([a.notifications.worker.idle(), b.notifications.worker.idle()]);
    const later = await node();
    await later.notifications.scan();
    later.notifications.worker.kick();
    await later.notifications.worker.idle();

    const byRecipient = Object.fromEntries(smtp.received.map((r) => [r.rcptTo.join(','), r.mail.text]));
    expect(smtp.received).toHaveLength(3);
    expect(byRecipient['gil@example.com']).toContain('> hello from c1');
    expect(byRecipient['adm@example.com']).toContain('> hello from c2');
    expect(byRecipient['ann@example.com']).toContain('Gil:\n> the answer');
    expect(new Set(smtp.received.map((r) => r.mail.messageId)).size).toBe(3);
  });
});
