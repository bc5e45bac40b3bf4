import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { silentLogger } from '../logger.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { parseRetryAfter, QueueWorker } from './queue-worker.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('QueueWorker', () => {
  it('delivers items queued while an attempt hangs: a slow receiver holds one slot, not the queue', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-queue-worker-'));
    dirs.push(dataDir);
    const store = new LowdbStore({ dataDir, logger: silentLogger() });
    await store.open();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const attempted: string[] = [];
    const worker = new QueueWorker<{ n: number }>({
      store,
      queue: 'webhook',
      logger: silentLogger(),
      clock: () => new Date(),
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      pollMs: 25,
      concurrency: 2,
      deliver: async (item) => {
        attempted.push(item.id);
        if (item.id === 'slow') await released;
        return { ok: true, status: 200 };
      },
    });
    try {
      await store.enqueue('webhook', { n: 0 }, 'slow');
      worker.start();
      await waitUntil('the slow attempt under way', () => attempted.includes('slow'));
      // Queued after the slow item was claimed: each is delivered while the slow attempt still hangs.
      for (const n of [1, 2, 3]) await store.enqueue('webhook', { n }, `after-${n}`);
      const delivered = async () => (await store.listQueueItems('webhook', 10)).filter((i) => i.state === 'delivered').map((i) => i.id);
      await waitUntil('the items queued later delivered', async () => (await delivered()).length === 3);
      expect((await delivered()).sort()).toEqual(['after-1', 'after-2', 'after-3']);
      release();
      await waitUntil('the slow item delivered', async () => (await delivered()).includes('slow'));
      expect(attempted.sort()).toEqual(['after-1', 'after-2', 'after-3', 'slow']);
    } finally {
      release();
      await worker.stop();
      await store.close();
    }
  });
});
