/**
 * Capped exponential backoff with jitter, the one schedule behind every retry: the widget's reconnects and resends
 * and the bridge's delivery queues. Jitter keeps many clients that lost the same server (or many queue items that
 * failed together) from coming back in lockstep
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */

/** How a retry schedule grows. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay; the ceiling doubles per attempt. */
  baseDelayMs: number;
  /** Largest ceiling. */
  maxDelayMs: number;
  /**
   * Least delay of any attempt. Default: half the attempt's ceiling ("equal jitter": waits keep growing). A fixed
   * small floor spreads retries more widely, for clients that should come back as soon as the server is up.
   */
  floorMs?: number;
}

/** Delay before retry number `attempt` (1-based): uniform between the floor and `min(max, base × 2^(attempt−1))`. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const floor = Math.min(ceiling, policy.floorMs ?? ceiling / 2);
  return Math.round(floor + random() * (ceiling - floor));
}
