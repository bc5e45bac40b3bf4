/** Case 4 over the wire: ≥ 10,000 hostile socket events and HTTP bodies → no 5xx, no crash, no state change. */
import { describe, expect, it } from 'vitest';
import { runWireFuzz } from './wire-fuzz.ts';

describe('wire fuzz', () => {
  it('hostile payloads on every event and route: zero 5xx, zero accepted, storage byte-identical, bridge healthy', async ({ annotate }) => {
    const f = await runWireFuzz({ target: 10_000 });
    await annotate(`requests=${f.requests} (socket ${f.socketEvents}, http ${f.httpRequests}) 5xx=${f.status5xx} oversizedDisconnects=${f.oversizedDisconnects} timings=${JSON.stringify(f.timings)} unanswered=${JSON.stringify(f.unanswered)}`);
    expect(f.details).toEqual([]);
    expect(f.requests).toBeGreaterThanOrEqual(10_000);
    expect(f.status5xx).toBe(0);
    expect(f.accepted).toBe(0);
    expect(f.stateChanged).toBe(false);
    expect(f.healthyAfter).toBe(true);
  }, 600_000);
});
