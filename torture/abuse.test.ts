/**
 * Case 8: a 1,000 msgs/s flooder, 1 MB frames, oversized bodies and 2,000 half-open connections (from one other
 * address) against a child bridge, generated from a separate process. Asserted: each abuse is refused with a clear
 * code, half-open connections beyond the per-IP cap are refused at once and the held ones closed by the request
 * timeout, the bridge stays up, every normal message is acked, file descriptors return to baseline. The p95 and RSS figures are reported
 * (annotation, docs/reliability.md): on a shared 2-core machine the generator competes with the bridge for CPU.
 */
import { describe, expect, it } from 'vitest';
import { runAbuse } from './abuse.ts';

describe('abuse', () => {
  it('flood, oversized frames and bodies, half-open connections: refused with clear errors, bridge up, fds back to baseline', async ({ annotate }) => {
    const f = await runAbuse({ phaseMs: 4000, halfOpen: 2000, floodPerSecond: 1000 });
    await annotate(
      `p95 ${f.baselineP95Ms} → ${f.abuseP95Ms} ms; bridge cpu ${f.cpuBaseline} → ${f.cpuAbuse}; flood ${f.flood.ratePerSecond}/s ok ${f.flood.ok} limited ${f.flood.rateLimited}; ` +
        `rss ${f.usage.baseline.rssMb}/${f.usage.peak.rssMb}/${f.usage.after.rssMb} MB; fds ${f.usage.baseline.fds}/${f.usage.peak.fds}/${f.usage.after.fds}; ` +
        `half-open ${f.halfOpen.opened}: refused ${f.halfOpen.refused}, 408 ${f.halfOpen.timedOut} (slowest ${f.halfOpen.slowestCloseMs} ms), still open ${f.halfOpen.stillOpen}`,
    );
    expect(f.bridgeAlive).toBe(true);
    expect(f.normalClientErrors).toEqual([]);
    // The flooder is throttled: beyond its burst every send is `rate_limited` with a retry hint, none unanswered.
    expect(f.flood.ratePerSecond).toBeGreaterThanOrEqual(500);
    expect(f.flood.rateLimited).toBeGreaterThan(f.flood.ok);
    expect(f.flood.otherErrors).toBe(0);
    expect(f.flood.unanswered).toBe(0);
    // Oversized frames cost the sender its connection; oversized bodies get 413 (or are cut off).
    expect(f.oversizedFrames.disconnected).toBe(f.oversizedFrames.sent);
    expect(f.oversizedBodies.other).toEqual([]);
    expect(f.oversizedBodies.status413).toBe(f.oversizedBodies.sent);
    // Half-open sockets: at most the per-IP cap is held, the rest is refused at accept; the held ones are answered
    // 408 and closed by the bridge itself (none left for the client to close).
    const cap = f.limits.maxConnectionsPerIp;
    expect(f.halfOpen.refused + f.halfOpen.timedOut).toBe(f.halfOpen.opened);
    expect(f.halfOpen.refused).toBeGreaterThanOrEqual(f.halfOpen.opened - cap);
    expect(f.halfOpen.timedOut).toBeGreaterThan(0);
    expect(f.halfOpen.stillOpen).toBe(0);
    // fds rose by about the cap, not by the number of half-open sockets, and came back down.
    expect(f.usage.peak.fds).toBeGreaterThan(f.usage.baseline.fds + cap / 2);
    expect(f.usage.peak.fds).toBeLessThan(f.usage.baseline.fds + cap + 200);
    expect(f.usage.after.fds).toBeLessThanOrEqual(f.usage.baseline.fds + 3);
  }, 120_000);
});
