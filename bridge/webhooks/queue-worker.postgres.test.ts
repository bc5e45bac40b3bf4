/** Queue workers on two nodes of one PostgreSQL store: each item worked once; a dead node's claims are taken over. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { silentLogger } from '../logger.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import type { QueueItem } from '../store/store.ts';
import { QueueWorker, type DeliveryOutcome } from './queue-worker.ts';

const retry = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 50 };
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];

async function node(url: string): Promise<PostgresStore> {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  pools.push(pool);
  const store = new PostgresStore({ pool, logger: silentLogger() });
  await store.open();
  stores.push(store);
  return store;
}

let url: string;
beforeAll(async () => {
  url = await createTestDatabase('queue_worker');
  const pool = new pg.Pool({ connectionString: url });
  await migrate(pool, silentLogger());
  await pool.end();
});

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(pools.map((pool) => pool.end()));
});

describe('QueueWorker on PostgreSQL', () => {
  it('two nodes working one queue attempt every item exactly once', async () => {
    const [a, b] = [await node(url), await node(url)];
    const attempts = new Map<string, string[]>();
    // Every attempt is held until both nodes have one under way, so both take part whatever the scheduling.
    let bothAttempting!: () => void;
    const bothBusy = new Promise<void>((resolve) => (bothAttempting = resolve));
    const worker = (store: PostgresStore, name: string) =>
      new QueueWorker<{ n: number }>({
        store,
        queue: 'webhook',
        logger: silentLogger(),
        clock: () => new Date(),
        retry,
        pollMs: 25,
        concurrency: 4,
        deliver: async (item: QueueItem<{ n: number }>) => {
          attempts.set(item.id, [...(attempts.get(item.id) ?? []), name]);
          if (new Set([...attempts.values()].flat()).size === 2) bothAttempting();
          await bothBusy;
          return { ok: true, status: 200 };
        },
      });
    const workers = [worker(a, 'a'), worker(b, 'b')];
    const total = 120;
    await Promise.all(Array.from({ length: total }, (_, n) => (n % 2 ? a : b).enqueue('webhook', { n }, `item-${n}`)));
    for (const w of workers) w.start();
    await waitUntil('every item delivered', async () => (await a.listQueueItems('webhook', 1000)).every((i) => i.state === 'delivered'));
    await Promise.all(workers.map((w) => w.stop()));
    expect(attempts.size).toBe(total);
    expect([...attempts.values()].filter((by) => by.length !== 1)).toEqual([]);
    // Both nodes took part: a node that cannot claim while the other holds claims would never get there.
    expect(new Set([...attempts.values()].flat())).toEqual(new Set(['a', 'b']));
  });

  it("a dead node's claim expires and another node delivers the item", async () => {
    const [dead, alive] = [await node(url), await node(url)];
    await dead.enqueue('whatsapp-send', { n: 1 }, 'orphan');
    const leaseEnds = new Date(Date.now() + 1_000).toISOString();
    const claimed = await dead.claimDueItems('whatsapp-send', new Date().toISOString(), 10, { owner: 'dead-node', until: leaseEnds });
    expect(claimed.map((i) => i.id)).toEqual(['orphan']);
    const deliveredAt: string[] = [];
    const worker = new QueueWorker<{ n: number }>({
      store: alive,
      queue: 'whatsapp-send',
      logger: silentLogger(),
      clock: () => new Date(),
      retry,
      pollMs: 50,
      deliver: async () => {
        deliveredAt.push(new Date().toISOString());
        return { ok: true };
      },
    });
    worker.start();
    await waitUntil('the orphan delivered', async () => (await alive.listQueueItems('whatsapp-send', 10))[0]?.state === 'delivered');
    await worker.stop();
    expect(deliveredAt).toHaveLength(1);
    expect(deliveredAt[0]! >= leaseEnds).toBe(true);
  });

  it('an attempt that outlived its lease does not overwrite the result of the node that took the item over', async () => {
    const [slowStore, fastStore] = [await node(url), await node(url)];
    await slowStore.enqueue('webhook', { n: 1 }, 'overtaken');
    const attempts: string[] = [];
    let fastDelivered!: () => void;
    const delivered = new Promise<void>((resolve) => (fastDelivered = resolve));
    let slowDone!: () => void;
    const slowFinished = new Promise<void>((resolve) => (slowDone = resolve));
    const worker = (store: PostgresStore, name: string, deliver: () => Promise<DeliveryOutcome>) =>
      new QueueWorker<{ n: number }>({
        store,
        queue: 'webhook',
        logger: silentLogger(),
        clock: () => new Date(),
        retry,
        pollMs: 25,
        leaseMs: name === 'slow' ? 200 : 60_000,
        deliver: async () => {
          attempts.push(name);
          return deliver();
        },
      });
    // The slow node's attempt goes on past its lease, until the other node has claimed and delivered the item; then
    // it fails (a timeout, say).
    const overtaken = async () => (await slowStore.listQueueItems('webhook', 10)).find((i) => i.id === 'overtaken');
    const slow = worker(slowStore, 'slow', async () => {
      await delivered;
      await waitUntil('the other node to record its delivery', async () => (await overtaken())?.state === 'delivered');
      slowDone();
      return { ok: false, permanent: false, error: 'timeout' };
    });
    slow.start();
    await waitUntil('the slow node attempting', () => attempts.length === 1);
    const fast = worker(fastStore, 'fast', async () => {
      fastDelivered();
      return { ok: true, status: 200 };
    });
    fast.start();
    await slowFinished;
    await slow.idle();
    await Promise.all([slow.stop(), fast.stop()]);
    const item = (await overtaken())!;
    expect(item).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(item.lastError).toBeUndefined();
    expect(attempts).toEqual(['slow', 'fast']);
  });
});
