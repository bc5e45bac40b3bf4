/** Rate limits and the login throttle: in memory, since one process is every node there is and a restart may forget them. */
import type { RateDecision, Store } from '../store.ts';
import { LOGIN_THROTTLE, LocalTokenBuckets, claimLoginAttempt, type LoginAttempts } from '../../rate-limiter.ts';
import type { LowdbState } from './lowdb-state.ts';

/** The rate-limit calls of the Store. */
export class LowdbRateLimits implements Pick<Store, 'takeRateToken' | 'claimLoginAttempt' | 'clearLoginAttempts'> {
  private readonly rateBuckets = new LocalTokenBuckets();
  private readonly loginAttempts = new Map<string, LoginAttempts>();
  private loginSweepAt = 0;

  constructor(private readonly s: LowdbState) {}

  async takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    this.s.assertOpen();
    return this.rateBuckets.take(key, perMinute, this.s.clock().getTime());
  }

  async claimLoginAttempt(account: string): Promise<RateDecision> {
    this.s.assertOpen();
    const now = this.s.clock().getTime();
    const { attempts, decision } = claimLoginAttempt(this.loginAttempts.get(account), now);
    this.loginAttempts.set(account, attempts);
    // Accounts nobody tried for a while start from zero anyway: drop them (once a minute) so the map stays small.
    if (now - this.loginSweepAt >= 60_000) {
      this.loginSweepAt = now;
      for (const [key, value] of this.loginAttempts) {
        if (now - value.lastAttemptAt >= LOGIN_THROTTLE.forgetAfterMs) this.loginAttempts.delete(key);
      }
    }
    return decision;
  }

  async clearLoginAttempts(account: string): Promise<void> {
    this.s.assertOpen();
    this.loginAttempts.delete(account);
  }
}
