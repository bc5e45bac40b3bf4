/**
 * Case 10: outbound event webhooks. No request ever reaches a receiver behind a private address spelled 13 ways;
 * hostile receivers (timeout, reset, 429, 500, 503, endless body, hanging body) get a bounded number of attempts
 * and cannot grow the bridge's memory; a receiver that is down across a SIGKILL gets every event afterwards.
 */
import { describe, expect, it } from 'vitest';
import { runOutbound } from './outbound.ts';

describe('outbound event webhooks', () => {
  it('forbidden targets untouched, retries bounded, memory bounded, nothing lost across a restart', async ({ annotate }) => {
    const f = await runOutbound({ messages: 5 });
    await annotate(JSON.stringify({ forbidden: f.forbidden, rss: f.rss, restart: f.restart }));
    expect(f.problems).toEqual([]);
    expect(f.forbidden.urls).toBeGreaterThanOrEqual(10);
    expect(f.forbidden.requestsReceived).toBe(0);
    for (const [behaviour, r] of Object.entries(f.hostile)) {
      expect(r.requests, behaviour).toBeGreaterThan(0);
      // An attempt in flight at the SIGKILL may not be recorded by the bridge, so one more can arrive after it.
      expect(r.maxAttemptsPerDelivery, behaviour).toBeLessThanOrEqual(f.maxAttemptsAllowed + 1);
    }
    // Failing receivers were retried at all (more than one attempt for some delivery).
    for (const b of ['timeout', 'reset', '429', '500', '503']) expect(f.hostile[b]!.maxAttemptsPerDelivery, b).toBeGreaterThan(1);
    // An endless 200 body is not read: memory stays within 50 MB of the baseline.
    expect(f.rss.peakMb - f.rss.baselineMb).toBeLessThan(50);
    expect(f.restart.missing).toBe(0);
    expect(f.restart.deliveredAfterRestart).toBeGreaterThanOrEqual(f.restart.events);
  }, 120_000);
});
