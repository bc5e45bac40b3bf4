/**
 * What PostgreSQL adds beyond the shared contract: migrations under an advisory lock, seq/rev across nodes (two
 * pools = two nodes), sync readers never skipping a row, ranks in SQL, group commit with isolated errors.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import pg from 'pg';
import { silentLogger } from '../../logger.ts';
import { createTestDatabase } from '../../testing/test-database.ts';
import { waitUntil } from '../../testing/wait-until.ts';
import type { Message } from '../../../protocol/message.ts';
import { SCHEMA_VERSION, migrate } from './migrations.ts';
import { PostgresStore } from './postgres-store.ts';
import { BridgeMetrics } from '../../metrics.ts';

const pools: pg.Pool[] = [];
let url: string;

function newPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pools.push(pool);
  return pool;
}

async function openStore(pool: pg.Pool): Promise<PostgresStore> {
  const store = new PostgresStore({ pool, logger: silentLogger() });
  await store.open();
  return store;
}

beforeAll(async () => {
  url = await createTestDatabase('postgres_store');
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
});

describe('migrate', () => {
  it('three nodes migrating at once apply each version exactly once; a second run changes nothing', async () => {
    const nodes = [newPool(), newPool(), newPool()];
    await Promise.all(nodes.map((pool) => migrate(pool, silentLogger())));
    const { rows } = await nodes[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    await migrate(nodes[1]!, silentLogger());
    const { rows: again } = await nodes[0]!.query('SELECT version FROM schema_migrations');
    expect(again).toHaveLength(SCHEMA_VERSION);
  });

  it('`npm run migrate` migrates DATABASE_URL; a wrong scheme gets one clear line, no stack', async () => {
    const target = await createTestDatabase('migrate_command');
    const run = promisify(execFile);
    const command = ['--import', 'tsx', 'bridge/store/postgres/migrate-main.ts'];
    const { stdout } = await run(process.execPath, command, { env: { ...process.env, DATABASE_URL: target, LOG_LEVEL: 'silent' } });
    expect(stdout).toContain(`schema at version ${SCHEMA_VERSION}`);
    const pool = new pg.Pool({ connectionString: target });
    pools.push(pool);
    expect((await pool.query('SELECT version FROM schema_migrations')).rows).toHaveLength(SCHEMA_VERSION);
    const wrong = await run(process.execPath, command, { env: { ...process.env, DATABASE_URL: 'mysql://h/db' } }).catch((e: { stderr: string; code: number }) => e);
    expect(wrong).toMatchObject({ code: 1 });
    expect((wrong as { stderr: string }).stderr.trim()).toBe('migrate failed: DATABASE_URL has scheme mysql; expected postgres:// or postgresql://');
  });

  it('a store refuses to open on a database without the schema, naming the command', async () => {
    const pool = new pg.Pool({ connectionString: await createTestDatabase('unmigrated') });
    pools.push(pool);
    await expect(new PostgresStore({ pool, logger: silentLogger() }).open()).rejects.toThrow(/npm run migrate/);
  });
});

describe('two nodes on one database', () => {
  let a: PostgresStore;
  let b: PostgresStore;
  let reader: PostgresStore;

  beforeAll(async () => {
    await migrate(newPool(), silentLogger());
    a = await openStore(newPool());
    b = await openStore(newPool());
    reader = await openStore(newPool());
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close(), reader.close()]);
  });

  it('concurrent appends on both nodes get gap-free seqs and revs; a sync reader following rev > cursor sees every message', async () => {
    await a.createConversation({ id: 'busy', channel: 'web', name: 'V' });
    const seen = new Map<string, Message>();
    let cursor = 0;
    let writing = true;
    // The reader polls like a reconnecting client: changes after its cursor, cursor = highest rev read.
    const reading = (async () => {
      while (writing) {
        const changes = await reader.getChangesSince('busy', cursor, 1000);
        for (const m of changes) {
          seen.set(m.id, m);
          cursor = Math.max(cursor, m.rev);
        }
      }
    })();
    const perNode = 150;
    const send = (store: PostgresStore, node: string) =>
      Promise.all(
        Array.from({ length: perNode }, (_, i) =>
          store.appendMessage({ conversationId: 'busy', clientId: `${node}-${i}`, author: { role: 'visitor' }, text: `${node} ${i}` }),
        ),
      );
    const [fromA, fromB] = await Promise.all([send(a, 'a'), send(b, 'b')]);
    writing = false;
    await reading;
    for (const m of await reader.getChangesSince('busy', cursor, 1000)) seen.set(m.id, m);
    const all = [...fromA, ...fromB].map((r) => r.message);
    const total = 2 * perNode;
    expect(all.map((m) => m.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(all.map((m) => m.rev).sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(seen.size).toBe(total);
    expect(await reader.getConversation('busy')).toMatchObject({ lastSeq: total, rev: total, unread: total });
  });

  it('batches mixing several conversations on both nodes keep each gap-free; receipts racing from both nodes only raise statuses', async () => {
    const ids = ['mix-1', 'mix-2', 'mix-3'];
    for (const id of ids) await a.createConversation({ id, channel: 'web', name: id });
    // Each node's appends of one turn share a batch: the same conversation several times, and different ones.
    const perNode = 60;
    const send = (store: PostgresStore, node: string) =>
      Promise.all(
        Array.from({ length: perNode }, (_, i) =>
          store.appendMessage({ conversationId: ids[i % 3]!, clientId: `${node}-${i}`, author: { role: 'visitor' }, text: `${node} ${i}` }),
        ),
      );
    const results = (await Promise.all([send(a, 'a'), send(b, 'b')])).flat();
    for (const id of ids) {
      const mine = results.map((r) => r.message).filter((m) => m.conversationId === id);
      const perConversation = (2 * perNode) / 3;
      expect(mine.map((m) => m.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: perConversation }, (_, i) => i + 1));
      expect(mine.map((m) => m.rev).sort((x, y) => x - y)).toEqual(Array.from({ length: perConversation }, (_, i) => i + 1));
    }
    // Delivered and read receipts for overlapping ranges, from both nodes at once, in shared status transactions.
    await Promise.all(
      ids.flatMap((id) => [
        a.applyReceipt(id, 'visitor', 10, 'read'),
        b.applyReceipt(id, 'visitor', 40, 'delivered'),
        a.applyReceipt(id, 'visitor', 25, 'delivered'),
        b.applyReceipt(id, 'visitor', 40, 'read'),
      ]),
    );
    for (const id of ids) {
      const messages = await reader.getMessages(id, { limit: 100 });
      expect(messages.map((m) => m.status)).toEqual(messages.map(() => 'read'));
      const conversation = await reader.getConversation(id);
      expect(conversation).toMatchObject({ agentReadSeq: 40, unread: 0 });
      // Every read is its own change: revs stay distinct and the conversation's rev is the highest.
      expect(new Set(messages.map((m) => m.rev)).size).toBe(messages.length);
      expect(conversation!.rev).toBe(Math.max(...messages.map((m) => m.rev)));
    }
  });

  it('the same clientId sent to both nodes at once is stored once', async () => {
    await a.createConversation({ id: 'dup', channel: 'web', name: 'V' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).appendMessage({ conversationId: 'dup', clientId: 'same', author: { role: 'visitor' }, text: 'x' }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
    expect((await reader.getConversation('dup'))?.lastSeq).toBe(1);
  });

  it('statuses from both nodes never move a message backwards, and each advance bumps rev once', async () => {
    await a.createConversation({ id: 'st', channel: 'whatsapp', name: 'W' });
    const { message } = await a.appendMessage({ conversationId: 'st', clientId: 'm', author: { role: 'agent' }, text: 'x' });
    const order = ['read', 'sent', 'delivered', 'failed', 'delivered', 'read', 'sent'] as const;
    await Promise.all(order.map((status, i) => (i % 2 ? a : b).applyStatus('st', message.id, { status })));
    const stored = await reader.getMessage('st', message.id);
    expect(stored?.status).toBe('read');
    const conversation = await reader.getConversation('st');
    expect(conversation?.rev).toBe(stored?.rev);
    // Only 'read' advanced (it sorts above every other status), possibly preceded by one lower advance.
    expect(conversation!.rev).toBeLessThanOrEqual(3);
  });

  it('the rank guard holds in SQL itself: an UPDATE to a lower rank through the store changes nothing', async () => {
    await a.createConversation({ id: 'rank', channel: 'web', name: 'V' });
    const { message } = await a.appendMessage({ conversationId: 'rank', clientId: 'm', author: { role: 'agent' }, text: 'x', status: 'read' });
    const { changed } = await b.applyStatus('rank', message.id, { status: 'delivered' });
    expect(changed).toEqual([]);
    const { rows } = await pools[0]!.query('SELECT status_rank FROM messages WHERE conversation_id = $1', ['rank']);
    expect(rows[0]?.status_rank).toBe(4);
  });

  it("a node's claims hold while its connection lives and are taken over at once when it dies, not when the lease ends", async () => {
    const item = await a.enqueue('claims', { n: 1 });
    const now = new Date(Date.now() + 1_000).toISOString();
    const hour = new Date(Date.now() + 3_600_000).toISOString();
    const dying = await openStore(newPool());
    onTestFinished(() => dying.close());
    expect((await dying.claimDueItems('claims', now, 10, { owner: 'dying', until: hour })).map((i) => i.id)).toEqual([item.id]);
    expect(await b.claimDueItems('claims', now, 10, { owner: 'b', until: hour })).toEqual([]);
    expect(await b.dueItems('claims', now, 10)).toEqual([]);
    // The node dies: its claim session's backend ends with it, as a killed process's connections do.
    const sessions = await pools[0]!.query<{ pid: number; key: string }>(
      "SELECT l.pid, q.lease_session::text AS key FROM queue_items q JOIN pg_locks l ON l.objid::bigint = q.lease_session AND l.locktype = 'advisory' AND l.objsubid = 2 WHERE q.id = $1",
      [item.id],
    );
    expect(sessions.rows).toHaveLength(1);
    await pools[0]!.query('SELECT pg_terminate_backend($1)', [sessions.rows[0]!.pid]);
    const taken = await waitForClaim(() => b.claimDueItems('claims', now, 10, { owner: 'b', until: hour }));
    expect(taken.map((i) => i.id)).toEqual([item.id]);
    // The dead node's late save of its attempt changes nothing: the item is b's now.
    expect(await dying.updateQueueItem({ ...item, state: 'delivered' }, 'dying')).toBe(false);
    expect(await b.updateQueueItem({ ...taken[0]!, state: 'delivered' }, 'b')).toBe(true);
  });
});

/** Claims until something is claimed: a terminated backend's locks are gone once it has exited, a moment later. */
function waitForClaim<T>(claim: () => Promise<T[]>): Promise<T[]> {
  return waitUntil("the dead session's claim to be taken over", async () => {
    const claimed = await claim();
    return claimed.length > 0 ? claimed : undefined;
  }, { intervalMs: 50 });
}

describe('group commit', () => {
  let store: PostgresStore;
  let pool: pg.Pool;

  beforeAll(async () => {
    pool = newPool();
    await migrate(pool, silentLogger());
    store = await openStore(pool);
  });

  afterAll(async () => {
    await store.close();
  });

  it('appends arriving together share one transaction', async () => {
    await store.createConversation({ id: 'gc', channel: 'web', name: 'V' });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.appendMessage({ conversationId: 'gc', clientId: `m${i}`, author: { role: 'visitor' }, text: `t${i}` }),
      ),
    );
    expect(results.every((r) => r.created)).toBe(true);
    const { rows } = await pool.query<{ xmin: string; n: number }>(
      "SELECT xmin::text, count(*)::int AS n FROM messages WHERE conversation_id = 'gc' GROUP BY xmin",
    );
    // One transaction id per batch: far fewer transactions than messages.
    expect(rows.length).toBeLessThan(20);
    expect(rows.reduce((sum, row) => sum + row.n, 0)).toBe(200);
  });

  it('a bad item fails alone: its batch-mates are stored', async () => {
    await store.createConversation({ id: 'ok', channel: 'web', name: 'V' });
    // A row the database itself refuses fails the shared INSERT: the batch is retried item by item.
    await pool.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.text_lower = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    try {
      const results = await Promise.allSettled([
        store.appendMessage({ conversationId: 'ok', clientId: 'a', author: { role: 'visitor' }, text: 'a' }),
        store.appendMessage({ conversationId: 'missing', clientId: 'b', author: { role: 'visitor' }, text: 'b' }),
        store.appendMessage({ conversationId: 'ok', clientId: 'c', author: { role: 'visitor' }, text: 'nul \u0000 inside' }),
        store.appendMessage({ conversationId: 'ok', clientId: 'p', author: { role: 'visitor' }, text: 'POISON' }),
        store.appendMessage({ conversationId: 'ok', clientId: 'd', author: { role: 'visitor' }, text: 'lone \ud800' }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect(results[1]).toMatchObject({ reason: { code: 'not_found' } });
      expect(results[3]).toMatchObject({ reason: { code: 'storage_unavailable' } });
      const stored = await store.getMessages('ok', { limit: 10 });
      expect(stored.map((m) => m.text)).toEqual(['a', 'nul \u0000 inside', 'lone \ufffd']);
      expect(stored.map((m) => m.seq)).toEqual([1, 2, 3]);
    } finally {
      await pool.query('DROP TRIGGER refuse_poison ON messages');
    }
  });

  it('receipts and statuses arriving together share one transaction, each seeing the ones before it; a refused one fails alone', async () => {
    const ids = ['gs1', 'gs2', 'gs3', 'gs4'];
    const agentReplies: Message[] = [];
    for (const id of ids) {
      await store.createConversation({ id, channel: 'web', name: 'V' });
      for (let i = 0; i < 3; i++) await store.appendMessage({ conversationId: id, clientId: `v${i}`, author: { role: 'visitor' }, text: 'v' });
      agentReplies.push((await store.appendMessage({ conversationId: id, clientId: 'a', author: { role: 'agent' }, text: 'a' })).message);
    }
    const results = await Promise.allSettled([
      ...ids.flatMap((id) => [store.applyReceipt(id, 'visitor', 2, 'read'), store.applyReceipt(id, 'visitor', 3, 'delivered')]),
      ...agentReplies.map((m) => store.applyStatus(m.conversationId, m.id, { status: 'delivered' })),
      store.applyReceipt('missing', 'visitor', 1, 'read'),
      store.applyStatus('gs1', 'no-such-message', { status: 'read' }),
      ...agentReplies.map((m) => store.applyStatus(m.conversationId, m.id, { status: 'read' })),
    ]);
    expect(results.slice(12, 14)).toMatchObject([{ reason: { code: 'not_found' } }, { reason: { code: 'not_found' } }]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(2);
    for (const id of ids) {
      const conversation = (await store.getConversation(id))!;
      const changes = await store.getChangesSince(id, 0, 100);
      expect(changes.map((m) => m.status)).toEqual(['read', 'read', 'delivered', 'read']);
      // Appends 1–4, then one rev per change in arrival order: read v1, read v2, delivered v3, delivered a, read a.
      expect(changes.map((m) => m.rev)).toEqual([5, 6, 7, 9]);
      expect(conversation).toMatchObject({ rev: 9, agentReadSeq: 2, unread: 1 });
    }
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(DISTINCT xmin::text)::int AS n FROM messages WHERE conversation_id LIKE 'gs%' AND status_rank > 1",
    );
    // Sixteen messages changed by far fewer transactions.
    expect(rows[0]!.n).toBeLessThan(8);
  });


  it('the receipts of one transaction read their messages in one statement and write them in one; a message delivered and read in it is saved read, with both event webhooks', async () => {
    const ids = ['gr1', 'gr2', 'gr3'];
    for (const id of ids) {
      await store.createConversation({ id, channel: 'web', name: 'V' });
      for (let i = 0; i < 3; i++) await store.appendMessage({ conversationId: id, clientId: `v${i}`, author: { role: 'visitor' }, text: 'v' });
      await store.appendMessage({ conversationId: id, clientId: 'a', author: { role: 'agent' }, text: 'a' });
    }
    const remove = store.addOutboundWork({
      statusChanged: (ms) => ms.map((m) => ({ queue: 'gr-events', id: `evt:${m.id}:${m.status}`, payload: { status: m.status } })),
    });
    const queries = vi.spyOn(pg.Client.prototype, 'query');
    const results = await Promise.all(
      ids.flatMap((id) => [
        store.applyReceipt(id, 'visitor', 3, 'delivered'),
        store.applyReceipt(id, 'visitor', 2, 'read'),
        store.applyReceipt(id, 'agent', 4, 'read'),
      ]),
    ).finally(remove);
    const named = queries.mock.calls.map((args) => {
      const query: unknown = args[0];
      return typeof query === 'object' && query !== null && 'name' in query ? query.name : undefined;
    });
    queries.mockRestore();
    // Nine receipts arriving together: one transaction, one read and one write for all of them.
    expect(named.filter((name) => name === 'receipts-range')).toHaveLength(1);
    expect(named.filter((name) => name === 'statuses-save')).toHaveLength(1);
    // Each sees the ones before it: appends are revs 1–4, then one rev per change in arrival order.
    const seen = results.map((r) => r.changed.map((m) => [m.seq, m.status, m.rev]));
    expect(seen).toEqual(
      ids.flatMap(() => [
        [
          [1, 'delivered', 5],
          [2, 'delivered', 6],
          [3, 'delivered', 7],
        ],
        [
          [1, 'read', 8],
          [2, 'read', 9],
        ],
        [[4, 'read', 10]],
      ]),
    );
    for (const id of ids) {
      const changes = await store.getChangesSince(id, 4, 100);
      expect(changes.map((m) => [m.seq, m.status, m.rev])).toEqual([
        [3, 'delivered', 7],
        [1, 'read', 8],
        [2, 'read', 9],
        [4, 'read', 10],
      ]);
      expect(await store.getConversation(id)).toMatchObject({ rev: 10, agentReadSeq: 2, visitorReadSeq: 4, unread: 1 });
      const { rows } = await pool.query('SELECT delivered_visitor_seq, delivered_agent_seq FROM conversations WHERE id = $1', [id]);
      expect(rows[0]).toEqual({ delivered_visitor_seq: '3', delivered_agent_seq: '4' });
    }
    const events = await store.listQueueItems('gr-events', 100);
    expect(events).toHaveLength(ids.length * 6);
    expect(events.filter((e) => e.id.endsWith(':read'))).toHaveLength(ids.length * 3);
  });

  it('a status and receipts on one message in one transaction each see the others: the message never moves back, each change bumps rev once', async () => {
    await store.createConversation({ id: 'gm', channel: 'web', name: 'V' });
    const replies: Message[] = [];
    for (let i = 0; i < 2; i++) replies.push((await store.appendMessage({ conversationId: 'gm', clientId: `a${i}`, author: { role: 'agent' }, text: 'a' })).message);
    const [first, second] = replies as [Message, Message];
    const results = await Promise.all([
      store.applyReceipt('gm', 'agent', 1, 'delivered'),
      store.applyStatus('gm', first.id, { status: 'read' }),
      store.applyReceipt('gm', 'agent', 2, 'delivered'),
      store.applyStatus('gm', second.id, { status: 'delivered' }),
      store.applyReceipt('gm', 'agent', 2, 'read'),
    ]);
    // Appends are revs 1–2; then delivered a0 (3), read a0 (4), delivered a1 (5), nothing, read a1 (6).
    expect(results.map((r) => r.changed.map((m) => [m.seq, m.status, m.rev]))).toEqual([
      [[1, 'delivered', 3]],
      [[1, 'read', 4]],
      [[2, 'delivered', 5]],
      [],
      [[2, 'read', 6]],
    ]);
    expect((await store.getChangesSince('gm', 2, 10)).map((m) => [m.seq, m.status, m.rev])).toEqual([
      [1, 'read', 4],
      [2, 'read', 6],
    ]);
    expect(await store.getConversation('gm')).toMatchObject({ rev: 6, visitorReadSeq: 2 });
    // All in one transaction (not the fallback that reruns each change alone).
    const { rows } = await pool.query<{ n: number }>("SELECT count(DISTINCT xmin::text)::int AS n FROM messages WHERE conversation_id = 'gm'");
    expect(rows[0]!.n).toBe(1);
  });

  it('statuses by external id arriving together share one transaction; an unknown id is kept, a repeated delivery id fails alone', async () => {
    const replies: Message[] = [];
    for (const id of ['ge1', 'ge2']) {
      await store.createConversation({ id, channel: 'whatsapp', name: 'V', externalUserId: id });
      for (let i = 0; i < 10; i++) {
        replies.push((await store.appendMessage({ conversationId: id, clientId: `a${i}`, author: { role: 'agent' }, text: 'a', externalId: `wamid.${id}.${i}` })).message);
      }
    }
    const once = (key: string) => ({ namespace: 'status-webhook-delivery', key, value: true });
    const queries = vi.spyOn(pg.Client.prototype, 'query');
    const results = await Promise.allSettled([
      ...replies.map((m, i) => store.applyStatusByExternalId(m.externalId!, { status: 'delivered' }, { once: once(`d${i}`) })),
      store.applyStatusByExternalId('wamid.ge1.0', { status: 'read' }, { once: once('d0') }),
      store.applyStatusByExternalId('wamid.later', { status: 'read' }, { keepUntil: new Date(Date.now() + 60_000).toISOString() }),
      ...replies.map((m) => store.applyStatusByExternalId(m.externalId!, { status: 'read' })),
    ]);
    const named = queries.mock.calls.map((args) => {
      const query: unknown = args[0];
      return typeof query === 'object' && query !== null && 'name' in query ? query.name : undefined;
    });
    queries.mockRestore();
    // Each transaction reads the messages its statuses name in one statement and writes its changes in one.
    const transactions = named.filter((name) => name === 'statuses-save').length;
    expect(transactions).toBeGreaterThan(0);
    expect(named.filter((name) => name === 'status-messages')).toHaveLength(transactions);
    expect(named.filter((name) => name === 'status-message')).toHaveLength(0);
    expect(results[20]).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
    expect(results[21]).toEqual({ status: 'fulfilled', value: undefined });
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    for (const id of ['ge1', 'ge2']) {
      // Appends 1–10, then one rev per change in arrival order: ten delivered, ten read.
      const changes = await store.getChangesSince(id, 10, 100);
      expect(changes.map((m) => m.status)).toEqual(Array(10).fill('read'));
      expect((await store.getConversation(id))!.rev).toBe(30);
    }
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(DISTINCT xmin::text)::int AS n FROM messages WHERE conversation_id LIKE 'ge%' AND status_rank > 1",
    );
    // Twenty messages changed twice each by far fewer transactions.
    expect(rows[0]!.n).toBeLessThan(8);
    const { rows: kept } = await pool.query("SELECT 1 FROM records WHERE namespace = 'pending-status' AND key = 'wamid.later'");
    expect(kept).toHaveLength(1);
  });
  it("a status for an external id no message carries yet waits for the id's lock: a link in progress is seen, the status not kept", async () => {
    await store.createConversation({ id: 'gx', channel: 'whatsapp', name: 'V', externalUserId: 'gx' });
    const { message: reply } = await store.appendMessage({ conversationId: 'gx', clientId: 'a', author: { role: 'agent' }, text: 'a' });
    // Another node links the id as setExternalId does: the id's advisory lock first, then the message.
    const linking = await pool.connect();
    try {
      await linking.query('BEGIN');
      await linking.query("SELECT pg_advisory_xact_lock(hashtextextended('external-id:' || $1, 0))", ['wamid.gx']);
      await linking.query("UPDATE messages SET external_id = 'wamid.gx' WHERE conversation_id = 'gx' AND id = $1", [reply.id]);
      const keepUntil = new Date(Date.now() + 60_000).toISOString();
      const status = store.applyStatusByExternalId('wamid.gx', { status: 'read' }, { keepUntil });
      await waitUntil('the status to wait for the id\'s lock', async () => {
        const { rows } = await pool.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        return rows.length > 0 || undefined;
      });
      await linking.query('COMMIT');
      expect((await status)?.changed).toMatchObject([{ id: reply.id, status: 'read' }]);
    } finally {
      linking.release();
    }
    expect(await store.getRecord('pending-status', 'wamid.gx')).toBeUndefined();
  });

  it('a message and its outbound work commit together: when queueing fails, the message is not stored either', async () => {
    await store.createConversation({ id: 'atomic', channel: 'whatsapp', name: 'W', externalUserId: '49' });
    const remove = store.addOutboundWork({
      messageCreated: (m) => [{ queue: 'whatsapp-send', id: `wa-send:${m.id}`, payload: { text: m.text } }],
    });
    await pool.query(`
      CREATE FUNCTION refuse_queue() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'queue refused'; END $$;
      CREATE TRIGGER refuse_queue BEFORE INSERT ON queue_items FOR EACH ROW EXECUTE FUNCTION refuse_queue();`);
    try {
      await expect(
        store.appendMessage({ conversationId: 'atomic', clientId: 'x', author: { role: 'agent' }, text: 'x' }),
      ).rejects.toMatchObject({ code: 'storage_unavailable' });
      expect(await store.getMessages('atomic', { limit: 10 })).toEqual([]);
      expect((await store.getConversation('atomic'))?.lastSeq).toBe(0);
    } finally {
      await pool.query('DROP TRIGGER refuse_queue ON queue_items');
    }
    const { message } = await store.appendMessage({ conversationId: 'atomic', clientId: 'x', author: { role: 'agent' }, text: 'x' });
    remove();
    expect((await store.listQueueItems('whatsapp-send', 10)).map((i) => i.id)).toEqual([`wa-send:${message.id}`]);
  });
});

describe('metrics', () => {
  it('reports each write transaction\'s COMMIT as anon_chat_store_commit_seconds and counts queue items in one query', async () => {
    const pool = newPool();
    await migrate(pool, silentLogger());
    const metrics = new BridgeMetrics();
    const store = new PostgresStore({ pool, logger: silentLogger(), observeCommit: metrics.observeStoreCommit });
    await store.open();
    try {
      metrics.watchQueues(store, ['metrics-queue']);
      await store.createConversation({ id: 'metrics', channel: 'web', name: 'V' });
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.appendMessage({ conversationId: 'metrics', clientId: `m${i}`, author: { role: 'visitor' }, text: 't' }),
        ),
      );
      const delivered = await store.enqueue('metrics-queue', { n: 1 }, 'metrics-1');
      await store.updateQueueItem({ ...delivered, state: 'delivered' });
      await store.enqueue('metrics-queue', { n: 2 }, 'metrics-2');
      const sample = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
      const { body } = await metrics.render();
      // At least one COMMIT for the appends (they share transactions), none counted for plain reads.
      expect(sample(body, 'anon_chat_store_commit_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(sample(body, 'anon_chat_queue_items{queue="metrics-queue",state="pending"}')).toBe(1);
      expect(sample(body, 'anon_chat_queue_items{queue="metrics-queue",state="delivered"}')).toBe(1);
      const queries = vi.spyOn(pool, 'query');
      expect(await store.countQueueItems('metrics-queue')).toEqual({ pending: 1, delivered: 1, dead: 0 });
      expect(queries).toHaveBeenCalledTimes(1);
      queries.mockRestore();
    } finally {
      await store.close();
    }
  });
});
