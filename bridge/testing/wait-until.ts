/**
 * Waiting in tests for the state an assertion needs, never for a fixed time: `waitUntil` polls a probe until it
 * yields a value, and a deadline that expires says what it waited for and what the probe last saw. Deadlines are
 * sized for a loaded 2-core CI machine (other test files, Chromium and child processes share it), not for a quiet one.
 */

/**
 * How long a child process (a bridge, a bench server, a load generator) may take to print that it is ready. A
 * bridge that starts in about a second on a quiet machine takes ten times that when both cores are busy.
 */
export const START_DEADLINE_MS = 60_000;

/** Default deadline of `waitUntil`: state that follows from one request or event, on a loaded machine. */
export const WAIT_DEADLINE_MS = 30_000;

/** Options of `waitUntil`. */
export interface WaitOptions {
  /** Give up after this long (default WAIT_DEADLINE_MS). */
  timeoutMs?: number;
  /** Pause between probes (default 25 ms). */
  intervalMs?: number;
}

/** What a probe returns while the state has not arrived yet. */
type NotYet = undefined | null | false;

/**
 * Calls `probe` until it returns something other than `undefined`, `null` or `false` (a thrown error counts as
 * "not yet") and resolves with that value. After the deadline it rejects with `waited N ms for <what>` and the
 * last result or error, so a failure names the state that never came.
 */
export async function waitUntil<T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? WAIT_DEADLINE_MS;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; the last probe gave ${describe(last)}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `the error "${value.message}"`;
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
