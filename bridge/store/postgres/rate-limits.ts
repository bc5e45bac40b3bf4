/** Rate limits and login throttling, shared by every node: one row per key or account, locked while it changes. */
import type { RateDecision } from '../store.ts';
import { LOGIN_THROTTLE, RATE_PERIOD_MS, claimLoginAttempt, type LoginAttempts } from '../../rate-limiter.ts';
import type { PostgresState } from './postgres-state.ts';

/** The rate limit and login attempt calls of the Store. */
export class PostgresRateLimits {
  private limitsSweptAt = 0;

  constructor(private readonly s: PostgresState) {}

  /**
   * `takeToken` (bridge/rate-limiter.ts) in one statement: the upsert locks the key's row, so takes on every node
   * are serialised per key. `last_ok` carries the decision out through RETURNING.
   */
  async takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    const now = this.s.clock().getTime();
    const refillPerMs = perMinute / RATE_PERIOD_MS;
    const refilled = 'LEAST($2::float8, b.tokens + GREATEST(0, $3::bigint - b.updated_at) * $4::float8)';
    const { rows } = await this.s.query<{ tokens: number; last_ok: boolean }>(
      `INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, last_ok) VALUES ($1, $2::float8 - 1, $3, true)
       ON CONFLICT (key) DO UPDATE SET
         tokens = CASE WHEN ${refilled} >= 1 THEN ${refilled} - 1 ELSE ${refilled} END,
         updated_at = GREATEST(b.updated_at, $3::bigint),
         last_ok = ${refilled} >= 1
       RETURNING tokens, last_ok`,
      [key, perMinute, now, refillPerMs],
    );
    this.sweepLimits(now);
    const row = rows[0]!;
    return row.last_ok ? { ok: true } : { ok: false, retryAfterMs: Math.ceil((1 - row.tokens) / refillPerMs) };
  }

  async claimLoginAttempt(account: string): Promise<RateDecision> {
    const now = this.s.clock().getTime();
    const decision = await this.s.transaction(async (client) => {
      // The row lock serialises attempts on one account across nodes; `claimLoginAttempt` decides.
      await client.query(
        'INSERT INTO login_attempts (account, failures, locked_until, last_attempt_at) VALUES ($1, 0, 0, 0) ON CONFLICT DO NOTHING',
        [account],
      );
      const { rows } = await client.query<{ failures: number; locked_until: string; last_attempt_at: string }>(
        'SELECT failures, locked_until, last_attempt_at FROM login_attempts WHERE account = $1 FOR UPDATE',
        [account],
      );
      const row = rows[0]!;
      const stored: LoginAttempts = {
        failures: row.failures,
        lockedUntil: Number(row.locked_until),
        lastAttemptAt: Number(row.last_attempt_at),
      };
      const { attempts, decision } = claimLoginAttempt(stored, now);
      if (decision.ok) {
        await client.query(
          'UPDATE login_attempts SET failures = $2, locked_until = $3, last_attempt_at = $4 WHERE account = $1',
          [account, attempts.failures, attempts.lockedUntil, attempts.lastAttemptAt],
        );
      }
      return decision;
    });
    this.sweepLimits(now);
    return decision;
  }

  async clearLoginAttempts(account: string): Promise<void> {
    await this.s.query('DELETE FROM login_attempts WHERE account = $1', [account]);
  }

  // Rows of full buckets and forgotten accounts carry no information; once a minute per node they go (not awaited:
  // a failed sweep only leaves them for the next one).
  private sweepLimits(now: number): void {
    if (now - this.limitsSweptAt < RATE_PERIOD_MS) return;
    this.limitsSweptAt = now;
    void this.s.pool
      .query(
        `WITH gone AS (DELETE FROM rate_limit_buckets WHERE updated_at < $1)
         DELETE FROM login_attempts WHERE last_attempt_at < $2 AND locked_until < $3`,
        [now - RATE_PERIOD_MS, now - LOGIN_THROTTLE.forgetAfterMs, now],
      )
      .catch((error: unknown) => this.s.logger.warn({ err: error }, 'postgres store: sweeping limits failed'));
  }
}
