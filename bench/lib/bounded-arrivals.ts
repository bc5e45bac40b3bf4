/**
 * Open-loop arrivals with bounded concurrency, for connection ramps: task i is due at t0 + i/rate whatever
 * happened to earlier ones; when `maxInFlight` tasks are already running it waits in a FIFO queue, and its latency
 * is still measured from its due time, so a server that falls behind shows up as queueing (no coordinated
 * omission) instead of silently slowing the arrivals. Bounded in count (`count`) and in time (`boundMs`: tasks
 * not started by then are skipped and counted; each task must bound itself).
 */
import { Histogram } from './histogram.ts';
import { openLoop } from './open-loop.ts';

/** What a bounded-arrivals run did. */
export interface ArrivalsResult {
  planned: number;
  succeeded: number;
  failed: number;
  /** Due but never started within `boundMs` (the in-flight cap stayed full). */
  skipped: number;
  /** Due time → task settled, successful tasks only (ms). */
  latency: Histogram;
  /** Due time → task started: the queueing behind the in-flight cap plus the generator's own lateness (ms). */
  wait: Histogram;
  /** performance.now() of the first due time and of the last successful completion. */
  startedAt: number;
  lastSuccessAt: number;
}

/** Runs `task(i)` for i < count, arriving at `rate` per second, at most `maxInFlight` at once, within `boundMs`. */
export async function boundedArrivals(
  rate: number,
  count: number,
  maxInFlight: number,
  boundMs: number,
  task: (i: number) => Promise<void>,
): Promise<ArrivalsResult> {
  const interval = 1000 / rate;
  const latency = new Histogram();
  const wait = new Histogram();
  const queue: number[] = [];
  let head = 0;
  let inFlight = 0;
  let succeeded = 0;
  let failed = 0;
  let skipped = 0;
  let lastSuccessAt = 0;
  let startedAt = 0;
  let deadline = Number.POSITIVE_INFINITY;
  let drained: (() => void) | undefined;
  const start = (i: number): void => {
    const dueAt = startedAt + i * interval;
    const now = performance.now();
    wait.record(now - dueAt);
    inFlight++;
    task(i).then(
      () => {
        lastSuccessAt = performance.now();
        latency.record(lastSuccessAt - dueAt);
        succeeded++;
      },
      () => {
        failed++;
      },
    ).finally(() => {
      inFlight--;
      pump();
    });
  };
  const pump = (): void => {
    while (inFlight < maxInFlight && head < queue.length) {
      const i = queue[head++]!;
      if (performance.now() > deadline) skipped++;
      else start(i);
    }
    if (drained && inFlight === 0 && head >= queue.length) drained();
  };
  const loop = openLoop(rate, (count / rate) * 1000, (i) => {
    if (i === 0) {
      startedAt = performance.now();
      deadline = startedAt + boundMs;
    }
    queue.push(i);
    pump();
  });
  const fired = await loop;
  skipped += count - fired.fired;
  // Every started task bounds itself, and nothing new starts after the deadline, so this wait ends.
  await new Promise<void>((resolve) => {
    drained = resolve;
    pump();
  });
  return { planned: count, succeeded, failed, skipped, latency, wait, startedAt, lastSuccessAt };
}
