/**
 * The bridge's pool (postgres-pool.ts) against a node frozen inside a transaction (SIGSTOP, a paused VM, a stuck event
 * loop): PostgreSQL ends the frozen transaction after `idle_in_transaction_session_timeout`, so another node's append
 * to the conversation it locked goes through instead of waiting for ever, and the frozen node, when it resumes, finds
 * its transaction gone (its append refused, nothing stored) and carries on with new connections. LISTEN connections,
 * never inside a transaction, are left alone by that; a node whose change feed LISTEN connection has run nothing for
 * `frozenNodeAfterMs` has all its connections (named after it by the pool) ended by the other nodes, and nothing else.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { silentLogger } from '../logger.ts';
import { StoreError } from '../store/store.ts';
import { CHANGE_FEED_CHANNEL, NODE_APPLICATION_PREFIX } from '../store/postgres/change-feed.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { postgresBinDir } from '../testing/postgres.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { WAIT_DEADLINE_MS, waitUntil } from '../testing/wait-until.ts';
import { openPostgresPool } from './postgres-pool.ts';

/**
 * Short, so the tests wait little for the frozen transactions to end (production's default is
 * DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS); long enough that the nodes' own appends, whose transactions a loaded
 * machine can stall between statements, are never ended by it (they are expected to succeed).
 */
const IDLE_IN_TRANSACTION_MS = 5_000;
const logger = silentLogger();
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];
let url: string;
/** The test's own connection, outside the bridge's pools (no timeout). */
let admin: pg.Pool;

beforeAll(async () => {
  url = await createTestDatabase('idle_transactions');
  admin = new pg.Pool({ connectionString: url, max: 2 });
  await migrate(admin, logger);
});

afterAll(async () => {
  for (const store of stores) await store.close();
  await Promise.all(pools.map((pool) => pool.end()));
  await admin?.end();
});

/** A node: its pool as main.ts opens it (with a short timeout) and a store on it. */
async function openNode(changeFeed = false): Promise<{ pool: pg.Pool; store: PostgresStore }> {
  const pool = await openPostgresPool(url, logger, { max: 4, idleInTransactionTimeoutMs: IDLE_IN_TRANSACTION_MS });
  pools.push(pool);
  const store = new PostgresStore({ pool, logger, changeFeed });
  await store.open();
  stores.push(store);
  return { pool, store };
}

/** Backends of this database waiting for a lock (an append queued behind a row lock). */
async function lockWaiters(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows.map((row) => row.pid);
}

/**
 * Freezes this process (its event loop, as SIGSTOP would) until backend `pid` has ended, or WAIT_DEADLINE_MS: asks the
 * server through psql, which runs without the event loop.
 */
function freezeUntilBackendEnds(pid: number): void {
  const psql = join(postgresBinDir(), 'psql');
  const deadline = Date.now() + WAIT_DEADLINE_MS;
  while (Date.now() < deadline) {
    const left = execFileSync(psql, [url, '-Atc', `SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`], { encoding: 'utf8' });
    if (left.trim() === '0') return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

describe('a node frozen inside a transaction', () => {
  it("holds the conversation's row lock only until the timeout: another node's append goes through, the frozen connection is ended", async () => {
    const frozenNode = await openNode();
    const other = await openNode(true);
    await other.store.createConversation({ id: 'held', channel: 'web', name: 'Visitor' });
    const { rows: feedBefore } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
      [`LISTEN ${CHANGE_FEED_CHANNEL}`],
    );
    expect(feedBefore).toHaveLength(1);

    // What an append or status batch does first, then nothing: the node froze.
    const frozen = await frozenNode.pool.connect();
    let released = false;
    // A failed test ends it, so its lock goes and the stores can close.
    onTestFinished(() => void (released || frozen.release(true)));
    const ended: unknown[] = [];
    frozen.on('error', (error) => ended.push(error));
    await frozen.query('BEGIN');
    await frozen.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', ['held']);

    // Without the timeout this append waits as long as the frozen node stays frozen.
    const stillWaiting = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the append still waits for the frozen transaction')), WAIT_DEADLINE_MS).unref(),
    );
    const appended = await Promise.race([
      other.store.appendMessage({ conversationId: 'held', clientId: 'other-1', author: { role: 'visitor' }, text: 'still there?' }),
      stillWaiting,
    ]);
    expect(appended.message.seq).toBe(1);

    // PostgreSQL ended the frozen transaction's connection (25P03); its next statement fails.
    await waitUntil('the frozen connection told it was ended', () => ended.length > 0);
    expect(ended[0]).toMatchObject({ code: '25P03' });
    const next = await frozen.query('SELECT 1').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(next).toBeInstanceOf(Error);
    frozen.release(next as Error);
    released = true;

    // The frozen node carries on with a new connection, no restart.
    const after = await frozenNode.store.appendMessage({ conversationId: 'held', clientId: 'frozen-1', author: { role: 'visitor' }, text: 'back' });
    expect(after.message.seq).toBe(2);

    // The change feed's LISTEN connection (outside any transaction) outlived the timeout, the same backend.
    const { rows: feedAfter } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
      [`LISTEN ${CHANGE_FEED_CHANNEL}`],
    );
    expect(feedAfter).toEqual(feedBefore);
    expect(other.store.health().ok).toBe(true);
  });

  it('finds its append transaction gone when it resumes: the append is refused, nothing is stored, the next append works', async () => {
    const node = await openNode();
    await node.store.createConversation({ id: 'paused', channel: 'web', name: 'Visitor' });

    // The test holds the row, so the node's append is inside its transaction, waiting for the lock, when it freezes.
    const holder = await admin.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', ['paused']);
    const append = node.store
      .appendMessage({ conversationId: 'paused', clientId: 'paused-1', author: { role: 'visitor' }, text: 'during the pause' })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    const [waiter] = await waitUntil('the append waiting for the row lock', async () => {
      const pids = await lockWaiters();
      return pids.length > 0 && pids;
    });

    // Sent without awaiting (pg writes it at once); the node's lock statement completes while the node is frozen.
    const released = holder.query('COMMIT');
    freezeUntilBackendEnds(waiter!);
    await released;
    holder.release();

    const refused = await append;
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused).toMatchObject({ code: 'storage_unavailable' });
    const { rows } = await admin.query<{ count: number }>("SELECT count(*)::int AS count FROM messages WHERE conversation_id = 'paused'");
    expect(rows[0]!.count).toBe(0);

    // The widget's outbox sends it again; the node stores it on a new connection.
    const again = await node.store.appendMessage({ conversationId: 'paused', clientId: 'paused-1', author: { role: 'visitor' }, text: 'during the pause' });
    expect(again.message.seq).toBe(1);
    expect(node.store.health().ok).toBe(true);
  });

  it("says so at open when DATABASE_URL's own options replace the timeout (pg lets them win)", async () => {
    const lines: string[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const plain = await openPostgresPool(url, capture, { max: 1, idleInTransactionTimeoutMs: IDLE_IN_TRANSACTION_MS });
    pools.push(plain);
    expect(lines).toEqual([]);
    const withOptions = new URL(url);
    withOptions.searchParams.set('options', '-c search_path=public');
    const replaced = await openPostgresPool(withOptions.toString(), capture, { max: 1, idleInTransactionTimeoutMs: IDLE_IN_TRANSACTION_MS });
    pools.push(replaced);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
      expect.stringContaining("DATABASE_URL's options replace the bridge's idle_in_transaction_session_timeout"),
    ]);
  });
});

describe('a node frozen outside a transaction', () => {
  it("has every connection ended by the other nodes once its change feed's LISTEN connection ran nothing for too long; nothing else is", async () => {
    const connect = async (application_name: string, listen: boolean): Promise<{ client: pg.Client; errors: unknown[] }> => {
      const client = new pg.Client({ connectionString: url, application_name });
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      await client.connect();
      if (listen) await client.query(`LISTEN ${CHANGE_FEED_CHANNEL}`);
      return { client, errors };
    };
    // Older than the frozen node's: stale as long, it would be ended first if the name did not protect it.
    const bystander = await connect('reporting', true);
    // A frozen node: its change feed's LISTEN connection and a pool connection, named as openPostgresPool names them.
    const frozenName = `${NODE_APPLICATION_PREFIX}frozen`;
    const frozen = [await connect(frozenName, true), await connect(frozenName, false)];
    const pool = await openPostgresPool(url, logger, { max: 2 });
    pools.push(pool);
    // Its own checks get production's 5 s to answer (by default they would get the 333 ms between them): a check
    // given up on leaves the node unhealthy until it listens again, and the test asserts it healthy.
    const live = new PostgresStore({ pool, logger, changeFeed: { frozenNodeAfterMs: 1_000, pingTimeoutMs: 5_000 } });
    await live.open();
    stores.push(live);
    const liveName = pool.options.application_name!;
    const connectionsOf = async (name: string) =>
      (await admin.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [name])).rows.length;

    await waitUntil('the frozen node told its connections were ended', () => frozen.every((f) => f.errors.length > 0));
    expect(frozen.map((f) => f.errors[0])).toEqual([expect.objectContaining({ code: '57P01' }), expect.objectContaining({ code: '57P01' })]);
    // A terminated backend leaves pg_stat_activity when its process exits, a moment after its client hears of it.
    await waitUntil('the frozen node gone from pg_stat_activity', async () => (await connectionsOf(frozenName)) === 0);
    expect(await connectionsOf('reporting')).toBe(1);
    expect(await connectionsOf(liveName)).toBeGreaterThan(0);
    expect(live.health().ok).toBe(true);
    expect(bystander.errors).toEqual([]);
    await bystander.client.end();
    for (const f of frozen) await f.client.end().catch(() => undefined);
  });

  it('has its LISTEN connection ended also while PostgreSQL is blocked writing notifications to it (its socket full)', async () => {
    // A stopped process that listened: psql, named as a node, LISTENing on a channel of its own (to be flooded) and,
    // last, on the change feed's (what the nodes look for).
    const name = `${NODE_APPLICATION_PREFIX}stopped`;
    // Each -c is sent as it is (the nodes look for the exact statement); `-f -` then waits on stdin, reading nothing.
    const psql = spawn(
      join(postgresBinDir(), 'psql'),
      ['-X', '-q', '-c', 'LISTEN stopped_flood', '-c', `LISTEN ${CHANGE_FEED_CHANNEL}`, '-f', '-', url],
      { env: { ...process.env, PGAPPNAME: name }, stdio: ['pipe', 'ignore', 'ignore'] },
    );
    onTestFinished(() => void psql.kill('SIGKILL'));
    const backend = async () =>
      (
        await admin.query<{ query: string; state: string; wait_event: string | null }>(
          'SELECT query, state, wait_event FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
          [name],
        )
      ).rows[0];
    await waitUntil('psql listening', async () => (await backend())?.query === `LISTEN ${CHANGE_FEED_CHANNEL}`);
    psql.kill('SIGSTOP');
    // Distinct payloads (PostgreSQL folds repeats within a transaction), far more than the socket buffers hold.
    await admin.query("SELECT pg_notify('stopped_flood', i || repeat('x', 7900)) FROM generate_series(1, 4000) AS i");
    await waitUntil('PostgreSQL blocked writing to the stopped listener', async () => (await backend())?.wait_event === 'ClientWrite');
    expect((await backend())?.state).toBe('idle');

    const pool = await openPostgresPool(url, logger, { max: 2 });
    pools.push(pool);
    const live = new PostgresStore({ pool, logger, changeFeed: { frozenNodeAfterMs: 1_000 } });
    await live.open();
    stores.push(live);
    // Ended, it no longer holds the queue's tail. (Whether the queue is then trimmed is not asserted: the queue is the
    // whole server's, and the listeners of the test files running alongside hold it too.)
    await waitUntil('the stopped listener ended', async () => (await backend()) === undefined);
  });
});
