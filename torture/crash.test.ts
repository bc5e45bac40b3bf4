/** Case 1 (CI size): ≥ 50 SIGKILLs of a child bridge under steady sends; nothing acked is lost or duplicated. */
import { describe, expect, it } from 'vitest';
import { runCrash } from './crash.ts';

describe('crash harness', () => {
  it('50 random SIGKILLs: every acked message present exactly once, files readable, outboxes delivered once', async ({ annotate }) => {
    const f = await runCrash({ kills: 50, clients: 10, upMinMs: 40, upMaxMs: 300 });
    await annotate(`kills=${f.kills} (during startup ${f.startupKills}) acked=${f.acked} lost=${f.lost} dup=${f.duplicates} unreadable=${f.unreadable} restart=${f.meanRestartMs}ms`);
    expect(f.problems).toEqual([]);
    expect(f.kills).toBeGreaterThanOrEqual(50);
    expect(f.acked).toBeGreaterThan(f.kills);
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    expect(f.unreadable).toBe(0);
    expect(f.undelivered).toBe(0);
    expect(f.refused).toBe(0);
    expect(f.seqErrors).toBe(0);
  }, 420_000);
});
