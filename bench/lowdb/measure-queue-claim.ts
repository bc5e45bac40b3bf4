/**
 * Measures what one queue claim costs on the lowdb store as the backlog grows (run by hand:
 * `tsx bench/lowdb/measure-queue-claim.ts [--pending 10000,100000] [--claims 50]`): for each size it fills a temp
 * store's `web-push-event` queue with that many pending items (createdAt advancing 1 ms per 100 items), then times
 * `claimDueItems(…, 8, lease)` the way a queue worker's pass calls it, `--claims` times in a row (after each claim its
 * 8 items are saved delivered, untimed, as the worker does), and prints the median and the mean per claim.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';

const { values } = parseArgs({ options: { pending: { type: 'string', default: '10000,100000' }, claims: { type: 'string', default: '50' } } });
const sizes = values.pending.split(',').map(Number);
const claims = Number(values.claims);

for (const size of sizes) {
  let now = Date.parse('2026-01-01T00:00:00.000Z');
  const clock = (): Date => new Date(now);
  const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-measure-claim-'));
  const store = new LowdbStore({ dataDir, logger: pino({ level: 'silent' }), clock, checkpointIntervalMs: 3_600_000, checkpointBytes: 1024 ** 3 });
  await store.open();
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < size) {
        const i = next++;
        if (i % 100 === 0) now += 1;
        await store.enqueue('web-push-event', { conversationId: `conv-${i % 1000}`, messageId: `msg-${i}` }, `push:conv-${i % 1000}:msg-${i}`);
      }
    };
    await Promise.all(Array.from({ length: 128 }, () => worker()));
    now += 1000;
    const at = clock().toISOString();
    const lease = { owner: 'bench', until: new Date(now + 60_000).toISOString() };
    const micros: number[] = [];
    for (let c = 0; c < claims; c++) {
      const started = process.hrtime.bigint();
      const batch = await store.claimDueItems('web-push-event', at, 8, lease);
      micros.push(Number(process.hrtime.bigint() - started) / 1000);
      if (batch.length !== 8) throw new Error(`claim ${c} took ${batch.length} items`);
      await Promise.all(batch.map((item) => store.updateQueueItem({ ...item, state: 'delivered', attempts: 1 }, lease.owner)));
    }
    const sorted = [...micros].sort((a, b) => a - b);
    const mean = micros.reduce((a, b) => a + b, 0) / micros.length;
    console.log(JSON.stringify({ pending: size, claims, claimMedianUs: Math.round(sorted[sorted.length >> 1]!), claimMeanUs: Math.round(mean) }));
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
