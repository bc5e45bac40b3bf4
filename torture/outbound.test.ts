/**
 * Case 10: outbound event webhooks. No request ever reaches a receiver behind a private address spelled 13 ways;
 * hostile receivers (timeout, reset, 429, 500, 503, endless body, hanging body) get a bounded number of attempts;
 * an endless body is hung up on unread, so it cannot grow the bridge's memory (RSS is reported, not asserted);
 * a receiver that is down across a SIGKILL gets every event afterwards.
 */
import { describe, expect, it } from 'vitest';
import { runOutbound } from './outbound.ts';

describe('outbound event webhooks', () => {
  it('forbidden targets untouched, retries bounded, endless bodies hung up on unread, nothing lost across a restart', async ({ annotate }) => {
    const messages = 5;
    const f = await runOutbound({ messages });
    await annotate(JSON.stringify({ forbidden: f.forbidden, endlessBody: f.endlessBody, rss: f.rss, restart: f.restart }));
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
    // An endless 200 body is not read: the bridge hung up on every one (one per event at least) before the
    // receiver could write more than the connection's kernel buffers hold.
    expect(f.endlessBody.started).toBeGreaterThanOrEqual(messages);
    expect(f.endlessBody.closed).toBe(f.endlessBody.started);
    expect(f.endlessBody.maxBytesBeforeClose).toBeGreaterThan(0);
    expect(f.endlessBody.maxBytesBeforeClose).toBeLessThanOrEqual(f.endlessBody.boundBytes);
    expect(f.restart.missing).toBe(0);
    expect(f.restart.deliveredAfterRestart).toBeGreaterThanOrEqual(f.restart.events);
  }, 120_000);
});
