/**
 * Case 11 (CI size): steady load with reconnects on a child bridge, sized by work (600 messages, 30 reconnects cutting
 * into sends in flight, then two sets of 100 idle reconnects), not by time, so no figure depends on the machine's speed. Heap
 * retained after a full GC grows only by what the store keeps per message and not at all per reconnect, fds flat,
 * nothing lost or duplicated, no unhandled rejection. `npm run torture soak` runs 10 minutes.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAP_BYTES_PER_MESSAGE, MAX_HEAP_BYTES_PER_RECONNECT, runSoak } from './soak.ts';

/** Enough messages after warm-up that a leak of MAX_HEAP_BYTES_PER_MESSAGE stands out of a full GC's noise. */
const MESSAGES = 600;
const RECONNECTS = 30;

describe('soak', () => {
  it(`${MESSAGES} messages with ${RECONNECTS} reconnects under load: memory and fds flat, zero lost or duplicated, no unhandled rejection`, async ({ annotate }) => {
    const f = await runSoak({ messages: MESSAGES, reconnects: RECONNECTS, visitors: 20 });
    await annotate(JSON.stringify(f));
    expect(f.problems).toEqual([]);
    expect(f.messages).toBe(MESSAGES);
    expect(f.reconnects).toBe(RECONNECTS);
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    expect(f.unhandledRejections).toBe(0);
    expect(f.heapBytesPerMessage).toBeLessThanOrEqual(MAX_HEAP_BYTES_PER_MESSAGE);
    expect(f.heapBytesPerIdleReconnect).toBeLessThanOrEqual(MAX_HEAP_BYTES_PER_RECONNECT);
    expect(f.fdsEnd).toBeLessThanOrEqual(f.fdsWarm + 5);
  }, 120_000);
});
