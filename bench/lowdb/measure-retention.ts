/**
 * Measures how long the retention sweep holds the event loop on the lowdb store (run by hand:
 * `tsx bench/lowdb/measure-retention.ts [--items 50000] [--prunable 0.1]`): fills a temp store with delivered
 * queue items (webhook-sized payloads, a short attempt log), checkpoints, moves the injected clock past
 * QUEUE_RETENTION_DAYS for a share of them, then runs one sweep and the checkpoint that writes its result, and
 * prints the longest event-loop delay seen meanwhile (perf_hooks.monitorEventLoopDelay) and the longest 1 ms timer gap.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { BridgeContext } from '../../bridge/context.ts';
import { Retention } from '../../bridge/retention.ts';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';

const DAY_MS = 24 * 3600 * 1000;

const { values } = parseArgs({ options: { items: { type: 'string', default: '50000' }, prunable: { type: 'string', default: '0.1' } } });
const items = Number(values.items);
const prunableShare = Number(values.prunable);

let now = Date.parse('2026-01-01T00:00:00.000Z');
const clock = (): Date => new Date(now);
const logger = pino({ level: 'silent' });
const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-measure-retention-'));
const store = new LowdbStore({ dataDir, logger, clock, checkpointIntervalMs: 3_600_000, checkpointBytes: 1024 ** 3 });
await store.open();
try {
  const payload = (i: number) => ({
    id: `evt:msg-${i}:delivered:r3`,
    type: 'message.status',
    createdAt: clock().toISOString(),
    data: { conversationId: `conv-${i % 1000}`, messageId: `msg-${i}`, clientId: `client-${i}`, status: 'delivered', rev: 3 },
    url: 'https://hooks.example.com/anon-chat/events',
  });
  const add = async (from: number, to: number): Promise<void> => {
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to) {
        const i = next++;
        const item = await store.enqueue('webhook', payload(i), `evt:msg-${i}:delivered:r3`);
        const at = clock().toISOString();
        await store.updateQueueItem({ ...item, state: 'delivered', attempts: 1, updatedAt: at, log: [{ at, ok: true, status: 200 }] });
      }
    };
    await Promise.all(Array.from({ length: 128 }, () => worker()));
  };
  // The first share is delivered 31 days before the sweep, the rest 1 day before: only the first is pruned.
  const old = Math.round(items * prunableShare);
  await add(0, old);
  now += 30 * DAY_MS;
  await add(old, items);
  await store.checkpoint();
  now += 2000;

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  // A gap can also be the OS running another process on a shared machine: the CPU this process used during the
  // gap tells a real block (it burns CPU) from a preemption (it does not).
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let maxGapMs = 0;
  let maxGapCpuMs = 0;
  const ticker = setInterval(() => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const gap = t - last - 1;
    const used = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    maxGapMs = Math.max(maxGapMs, gap);
    maxGapCpuMs = Math.max(maxGapCpuMs, Math.min(gap, used - 1));
    last = t;
    lastCpu = cpu;
  }, 1);
  histogram.enable();
  const started = performance.now();
  const ctx = { store, logger, clock } as unknown as BridgeContext;
  const retention = new Retention(ctx, { queueDays: 30, sweepIntervalMs: 3_600_000 });
  const sweep = await retention.sweep();
  const sweptAt = performance.now();
  const sweepGapCpuMs = maxGapCpuMs;
  await store.checkpoint();
  const done = performance.now();
  histogram.disable();
  clearInterval(ticker);
  console.log(
    JSON.stringify({
      items,
      pruned: sweep.prunedQueueItems,
      sweepMs: Math.round(sweptAt - started),
      checkpointMs: Math.round(done - sweptAt),
      loopDelayMaxMs: +(histogram.max / 1e6).toFixed(1),
      loopDelayP99Ms: +(histogram.percentile(99) / 1e6).toFixed(1),
      timerGapMaxMs: +maxGapMs.toFixed(1),
      timerGapMaxCpuMs: +maxGapCpuMs.toFixed(1),
      sweepTimerGapMaxCpuMs: +sweepGapCpuMs.toFixed(1),
    }),
  );
} finally {
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
}
