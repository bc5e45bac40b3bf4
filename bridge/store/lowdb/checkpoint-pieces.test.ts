/**
 * The lowdb checkpoint writes bucket documents (queue items here) in pieces: how much a retention sweep and the
 * checkpoint that writes its result serialise per event-loop turn, counted in characters of JSON made between two
 * turns (deterministic, no timing) with the store's and the sweep's clock injected; and that a bucket changed
 * between its pieces is still written as of the checkpoint's cut. Measured blocking in milliseconds is in
 * docs/performance.md, not here.
 */
import { mkdtemp, open, readFile, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BridgeContext } from '../../context.ts';
import { silentLogger } from '../../logger.ts';
import { Retention } from '../../retention.ts';
import { waitUntil } from '../../testing/wait-until.ts';
import { BUCKET_PIECE_CHARS, bucketJsonPieces } from './documents.ts';
import { LowdbStore } from './lowdb-store.ts';

const DAY_MS = 24 * 3600 * 1000;
/** Delivered 31 days before the sweep: pruned. */
const OLD_ITEMS = 1_000;
/** Delivered the day before: kept, so every queue bucket is still large when the checkpoint writes it. */
const RECENT_ITEMS = 4_000;
/**
 * Per turn, at most one piece per file being written (the checkpoint writes three at a time) and the journal's
 * record of one pruned batch; the rest is room to spare. Writing a bucket whole would put all of it in one turn.
 */
const MAX_CHARS_PER_TURN = 5 * BUCKET_PIECE_CHARS;

/** Counts the characters JSON.stringify produces between two event-loop turns (check phases). */
function turnMeter(): { stop: () => { maxCharsPerTurn: number; turns: number } } {
  const original = JSON.stringify;
  let current = 0;
  let max = 0;
  let turns = 0;
  let running = true;
  const spy = vi.spyOn(JSON, 'stringify').mockImplementation(((...args: Parameters<typeof JSON.stringify>) => {
    const text = original(...args);
    current += text?.length ?? 0;
    return text;
  }) as typeof JSON.stringify);
  const tick = (): void => {
    max = Math.max(max, current);
    current = 0;
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop: () => {
      running = false;
      spy.mockRestore();
      return { maxCharsPerTurn: Math.max(max, current), turns };
    },
  };
}

describe('lowdb checkpoint of large buckets, in pieces', () => {
  let dataDir: string;
  let store: LowdbStore;
  let now = Date.parse('2026-01-01T00:00:00.000Z');
  const clock = (): Date => new Date(now);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-retention-turns-'));
    store = new LowdbStore({ dataDir, logger: silentLogger(), clock, checkpointIntervalMs: 3_600_000, checkpointBytes: 1024 ** 3 });
    await store.open();
    // A webhook-delivery-sized payload; items are added by 64 concurrent writers so journal commits are shared.
    const payload = { event: 'message.created', text: 'x'.repeat(2_000) };
    const deliver = async (from: number, to: number): Promise<void> => {
      let next = from;
      const writer = async (): Promise<void> => {
        while (next < to) {
          const i = next++;
          const item = await store.enqueue('webhook', payload, `evt:${i}`);
          const at = clock().toISOString();
          await store.updateQueueItem({ ...item, state: 'delivered', attempts: 1, updatedAt: at, log: [{ at, ok: true, status: 200 }] });
        }
      };
      await Promise.all(Array.from({ length: 64 }, () => writer()));
    };
    await deliver(0, OLD_ITEMS);
    now += 30 * DAY_MS;
    await deliver(OLD_ITEMS, OLD_ITEMS + RECENT_ITEMS);
    await store.checkpoint();
    now += DAY_MS;
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serialises at most a few pieces per turn while pruning and checkpointing, never a whole queue bucket', async () => {
    const retention = new Retention({ store, logger: silentLogger(), clock } as unknown as BridgeContext, {
      queueDays: 30,
      sweepIntervalMs: 3_600_000,
    });
    const meter = turnMeter();
    const sweep = await retention.sweep();
    await store.checkpoint();
    const { maxCharsPerTurn, turns } = meter.stop();

    expect(sweep.prunedQueueItems).toBe(OLD_ITEMS);
    expect(await store.countQueueItems('webhook')).toMatchObject({ delivered: RECENT_ITEMS });
    // The buckets the checkpoint rewrote are each several turns' worth: written whole, one would exceed the bound.
    const queuesDir = join(dataDir, 'queues');
    const bucketBytes = await Promise.all((await readdir(queuesDir)).map(async (name) => (await stat(join(queuesDir, name))).size));
    expect(Math.min(...bucketBytes)).toBeGreaterThan(2 * MAX_CHARS_PER_TURN);
    expect(maxCharsPerTurn).toBeLessThanOrEqual(MAX_CHARS_PER_TURN);
    expect(turns).toBeGreaterThan(bucketBytes.length);
  });

  it("writes each bucket as of the checkpoint's cut while its items change between the pieces", async () => {
    // One writer, so updates are ordered: those acknowledged before the cut are in the files, none after it.
    // A bucket read live across its pieces would hold later updates in its later pieces only: not a prefix.
    const MARK = 1_000_000;
    const createdAt = clock().toISOString();
    let k = 0;
    let done = false;
    const writer = (async () => {
      for (; !done && k < RECENT_ITEMS; k++) {
        await store.updateQueueItem({
          id: `evt:${OLD_ITEMS + k}`,
          queue: 'webhook',
          payload: { event: 'message.created', text: 'y'.repeat(2_000) },
          attempts: MARK + k,
          dueAt: createdAt,
          state: 'delivered',
          createdAt,
          updatedAt: createdAt,
          log: [],
        });
      }
    })();
    await waitUntil('the writer to have changed items in most queue buckets', () => k >= 48);
    const startedAt = k;
    // Forced interleaving: the checkpoint's first write of a queue bucket's first piece (after the cut, with the
    // rest of that bucket and the other buckets still to serialise) waits until the writer has had more updates
    // acknowledged, so updates between the pieces happen on every machine, not only when fsync is slow enough.
    const FORCED_UPDATES = 16;
    let pausedAt: number | undefined;
    const probe = await open(join(dataDir, 'manifest.json'), 'r');
    const handleProto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const originalWrite = Reflect.get(handleProto, 'write') as (this: FileHandle, ...args: unknown[]) => Promise<unknown>;
    const write = vi.spyOn(handleProto, 'write').mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
      const bytes = args[0];
      if (pausedAt === undefined && Buffer.isBuffer(bytes) && bytes.subarray(0, 15).toString() === '{"items":{"evt:') {
        pausedAt = k;
        const from = k;
        await waitUntil(`${FORCED_UPDATES} updates acknowledged during the checkpoint`, () => k >= from + FORCED_UPDATES);
      }
      return originalWrite.apply(this, args);
    } as unknown as FileHandle['write']);
    try {
      await store.checkpoint();
    } finally {
      write.mockRestore();
    }
    const endedAt = k;
    done = true;
    await writer;

    const queuesDir = join(dataDir, 'queues');
    const written = new Set<number>();
    for (const name of await readdir(queuesDir)) {
      const bucket = JSON.parse(await readFile(join(queuesDir, name), 'utf8')) as { items: Record<string, { attempts: number }> };
      for (const item of Object.values(bucket.items)) if (item.attempts >= MARK) written.add(item.attempts - MARK);
    }
    expect(pausedAt, 'the checkpoint wrote a queue bucket').toBeDefined();
    expect(endedAt - pausedAt!, 'updates acknowledged between the pieces').toBeGreaterThanOrEqual(FORCED_UPDATES);
    // Everything acknowledged before the checkpoint began is in the files; nothing acknowledged after its cut (which
    // came before the paused write) is.
    expect(written.size).toBeGreaterThanOrEqual(startedAt);
    expect(written.size).toBeLessThanOrEqual(pausedAt!);
    expect([...written].sort((a, b) => a - b)).toEqual(Array.from({ length: written.size }, (_, i) => i));
  });

  it('writes a bucket in pieces that join to exactly what JSON.stringify makes of it', () => {
    const items = Object.create(null) as Record<string, unknown>;
    for (let i = 0; i < 300; i++) items[i % 7 === 0 ? String(i) : `key-${i}`] = { n: i, text: '"quoted"\n'.repeat(i % 5) };
    const pieces = [...bucketJsonPieces(() => items, 1_000)];
    expect(pieces.join('')).toBe(JSON.stringify({ items }));
    expect(pieces.length).toBeGreaterThan(5);
    for (const piece of pieces) expect(piece.length).toBeLessThan(1_000 + 200);
    expect([...bucketJsonPieces(() => Object.create(null) as Record<string, unknown>, 1_000)].join('')).toBe('{"items":{}}');
  });
});
