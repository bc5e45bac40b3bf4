/** Case 7: ≥ 1,000 attempts on foreign conversations, rooms, tokens, namespaces and origins → zero successes. */
import { describe, expect, it } from 'vitest';
import { runIsolation } from './isolation.ts';

describe('isolation', () => {
  it('a visitor never reaches another conversation, the agent namespace, or the bridge from a foreign Origin', async ({ annotate }) => {
    const f = await runIsolation({ minAttempts: 1000, victims: 6 });
    await annotate(`attempts=${f.attempts} successes=${f.successes} foreignEvents=${f.foreignEvents} eventsChecked=${f.eventsChecked}`);
    expect(f.details).toEqual([]);
    expect(f.attempts).toBeGreaterThanOrEqual(1000);
    expect(f.successes).toBe(0);
    expect(f.foreignEvents).toBe(0);
    expect(f.eventsChecked).toBeGreaterThan(0);
  }, 120_000);
});
