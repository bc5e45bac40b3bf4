/**
 * Case 11 (CI size, ~30 s): steady load with random reconnects on a child bridge. Heap retained after a full GC
 * grows only by what the store keeps per message and not at all per reconnect, fds flat, nothing lost or
 * duplicated, no unhandled rejection. `npm run torture soak` runs 10 minutes.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAP_BYTES_PER_MESSAGE, MAX_HEAP_BYTES_PER_RECONNECT, runSoak } from './soak.ts';

describe('soak', () => {
  it('30 s of steady load with random reconnects: memory and fds flat, zero lost or duplicated, no unhandled rejection', async ({ annotate }) => {
    const f = await runSoak({ durationMs: 30_000, visitors: 20 });
    await annotate(JSON.stringify(f));
    expect(f.problems).toEqual([]);
    expect(f.messages).toBeGreaterThan(500);
    expect(f.reconnects).toBeGreaterThan(20);
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    expect(f.unhandledRejections).toBe(0);
    expect(f.heapBytesPerMessage).toBeLessThanOrEqual(MAX_HEAP_BYTES_PER_MESSAGE);
    expect(f.heapBytesPerIdleReconnect).toBeLessThanOrEqual(MAX_HEAP_BYTES_PER_RECONNECT);
    expect(f.fdsEnd).toBeLessThanOrEqual(f.fdsWarm + 5);
  }, 120_000);
});
