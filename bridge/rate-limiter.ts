/** Token-bucket rate limiting keyed by socket or IP; a limit is "N per minute" with bursts up to N. */

/** Result of taking one token. */
export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** N events per minute per key, each key refilling continuously. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;
  private lastSweep = 0;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    /** Told of each refusal (the rate-limit metric). */
    private readonly refused?: () => void,
  ) {
    this.refillPerMs = perMinute / 60_000;
  }

  /** Takes one token for `key`. */
  take(key: string): RateDecision {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updatedAt: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updatedAt) * this.refillPerMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    this.refused?.();
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.refillPerMs) };
  }

  /** Forgets `key` (a socket that disconnected). */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  // Full buckets carry no information: drop them once a minute so the map stays as small as the active clients.
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * this.refillPerMs >= this.perMinute) this.buckets.delete(key);
    }
  }
}
