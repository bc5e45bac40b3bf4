/**
 * Constant-arrival-rate (open-loop) load: operation i is due at t0 + i/rate whatever happened to earlier ones, so
 * a slow server cannot slow the generator down and hide its own queueing (no coordinated omission). How late the
 * generator itself fires (its own overload) is recorded as `lag`, and the loop is bounded in count and in time.
 */
import { Histogram } from './histogram.ts';

/** What an open-loop run did. */
export interface OpenLoopResult {
  planned: number;
  fired: number;
  /** performance.now() at start and after the last fire. */
  startedAt: number;
  endedAt: number;
  /** How late each operation fired relative to its schedule (generator saturation shows here first). */
  lag: Histogram;
  /** True when the time bound stopped the loop before every planned operation fired. */
  cutShort: boolean;
}

/** Fires `fire(i)` for i < rate × durationMs / 1000 at a constant rate; stops at `durationMs × 1.5` at the latest. */
export function openLoop(rate: number, durationMs: number, fire: (i: number) => void): Promise<OpenLoopResult> {
  const planned = Math.round((rate * durationMs) / 1000);
  const interval = 1000 / rate;
  const lag = new Histogram();
  const startedAt = performance.now();
  const deadline = startedAt + durationMs * 1.5 + 1000;
  let fired = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(planned, Math.floor((now - startedAt) / interval) + 1);
      while (fired < due) {
        const dueAt = startedAt + fired * interval;
        lag.record(performance.now() - dueAt);
        fire(fired);
        fired++;
      }
      if (fired >= planned || now > deadline) {
        resolve({ planned, fired, startedAt, endedAt: performance.now(), lag, cutShort: fired < planned });
        return;
      }
      setTimeout(tick, Math.max(0, Math.min(1, startedAt + fired * interval - performance.now())));
    };
    tick();
  });
}

/** Fraction of one core the current process used between two `process.cpuUsage()` readings over `wallMs`. */
export function cpuShare(before: NodeJS.CpuUsage, wallMs: number): number {
  const d = process.cpuUsage(before);
  return Math.round(((d.user + d.system) / 1000 / wallMs) * 1000) / 1000;
}
