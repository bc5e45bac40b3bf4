/**
 * The one home of the bridge's limits: token buckets ("N per minute" with bursts up to N) and the login throttle
 * per account. The arithmetic lives here; where the state lives depends on the limit:
 * - `SharedRateLimiter` keeps its buckets in the Store (`takeRateToken`): in memory on lowdb (one process), in a
 *   table on PostgreSQL, so every node of a cluster sees the same buckets (per-IP HTTP, login and connection rates);
 * - `RateLimiter` keeps them in this process, for keys that exist on one node only (a socket's id).
 */
import type { RateDecision, Store } from './store/store.ts';

/** A bucket refills from empty to full in this long, whatever its size. */
export const RATE_PERIOD_MS = 60_000;

/** One key's bucket: tokens left when last touched, and when (ms since the epoch). */
export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Takes one token from `bucket` (undefined: a full one) at `now`; a refused take leaves the tokens as they are.
 * PostgresStore.takeRateToken does this same arithmetic in one SQL statement.
 */
export function takeToken(
  bucket: TokenBucket | undefined,
  perMinute: number,
  now: number,
): { bucket: TokenBucket; decision: RateDecision } {
  const refillPerMs = perMinute / RATE_PERIOD_MS;
  const since = bucket ? Math.max(0, now - bucket.updatedAt) : 0;
  const tokens = bucket ? Math.min(perMinute, bucket.tokens + since * refillPerMs) : perMinute;
  const updatedAt = Math.max(bucket?.updatedAt ?? now, now);
  if (tokens >= 1) return { bucket: { tokens: tokens - 1, updatedAt }, decision: { ok: true } };
  return { bucket: { tokens, updatedAt }, decision: { ok: false, retryAfterMs: Math.ceil((1 - tokens) / refillPerMs) } };
}

/** Token buckets held in this process, keyed by string; full ones are dropped once a minute. */
export class LocalTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep = 0;

  /** Takes one token from `key`'s bucket of `perMinute`. */
  take(key: string, perMinute: number, now: number): RateDecision {
    this.sweep(now);
    const { bucket, decision } = takeToken(this.buckets.get(key), perMinute, now);
    this.buckets.set(key, bucket);
    return decision;
  }

  /** Forgets `key`. */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  // A bucket untouched for a whole period is full again and carries no information: the map stays as small as
  // the active clients.
  private sweep(now: number): void {
    if (now - this.lastSweep < RATE_PERIOD_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.updatedAt >= RATE_PERIOD_MS) this.buckets.delete(key);
  }
}

/** N events per minute per key, counted in this process: for keys that live on one node (socket ids). */
export class RateLimiter {
  private readonly buckets = new LocalTokenBuckets();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    /** Told of each refusal (the rate-limit metric). */
    private readonly refused?: () => void,
  ) {}

  /** Takes one token for `key`. */
  take(key: string): RateDecision {
    const decision = this.buckets.take(key, this.perMinute, this.now());
    if (!decision.ok) this.refused?.();
    return decision;
  }

  /** Forgets `key` (a socket that disconnected). */
  forget(key: string): void {
    this.buckets.forget(key);
  }
}

/** N events per minute per key, counted by the store: every node on the same storage shares the buckets. */
export class SharedRateLimiter {
  constructor(
    private readonly store: Pick<Store, 'takeRateToken'>,
    /** Keeps this limit's buckets apart from other limits' in the store (`login`, `http`, …). */
    private readonly scope: string,
    private readonly perMinute: number,
    /** Told of each refusal (the rate-limit metric). */
    private readonly refused?: () => void,
  ) {}

  /** Takes one token for `key` (a client IP). */
  async take(key: string): Promise<RateDecision> {
    const decision = await this.store.takeRateToken(`${this.scope}:${key}`, this.perMinute);
    if (!decision.ok) this.refused?.();
    return decision;
  }
}

/** The login throttle per account: failures allowed before delays start, the first delay, its cap, the memory. */
export const LOGIN_THROTTLE = {
  freeFailures: 5,
  firstDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  /** An account without attempts for this long starts from zero failures again. */
  forgetAfterMs: 60 * 60_000,
} as const;

/** An account's login attempts (times in ms since the epoch). */
export interface LoginAttempts {
  /** Attempts since the last success, each counted as a failure when it starts (a success clears them). */
  failures: number;
  /** No attempt is checked before this time. */
  lockedUntil: number;
  lastAttemptAt: number;
}

/**
 * Starts a login attempt on an account at `now`: refused while the account is delayed; otherwise the attempt is
 * counted as a failure up front, and from the 5th on the account is delayed exponentially (1 s, 2 s, 4 s, … up to
 * 15 min) until it ends. Counting up front makes claim-and-check atomic: attempts racing on several nodes cannot all
 * pass the check before any failure is stored, and the right password clears it all (`Store.clearLoginAttempts`).
 * Refused attempts are not counted, so an attacker cannot stretch a delay beyond its length by hammering.
 */
export function claimLoginAttempt(
  attempts: LoginAttempts | undefined,
  now: number,
): { attempts: LoginAttempts; decision: RateDecision } {
  const current = attempts && now - attempts.lastAttemptAt < LOGIN_THROTTLE.forgetAfterMs ? attempts : undefined;
  if (current && current.lockedUntil > now) {
    return { attempts: current, decision: { ok: false, retryAfterMs: current.lockedUntil - now } };
  }
  const failures = (current?.failures ?? 0) + 1;
  const delayed = failures - LOGIN_THROTTLE.freeFailures;
  const lockedUntil =
    delayed < 0 ? 0 : now + Math.min(LOGIN_THROTTLE.maxDelayMs, LOGIN_THROTTLE.firstDelayMs * 2 ** Math.min(delayed, 30));
  return { attempts: { failures, lockedUntil, lastAttemptAt: now }, decision: { ok: true } };
}
