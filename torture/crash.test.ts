/** Case 1 (CI size): ≥ 50 SIGKILLs of a child bridge under steady sends, ≥ 10 of them mid-checkpoint; nothing acked is lost or duplicated. */
import { describe, expect, it } from 'vitest';
import { checkpointState, runCrash } from './crash.ts';

describe('crash harness', () => {
  it('50 random SIGKILLs, ≥ 10 during a checkpoint (log and disk agree): every acked message present exactly once, files readable, outboxes delivered once', async ({ annotate }) => {
    // 70 % of the lifetimes checkpoint continuously: about half the aimed kills land inside a checkpoint (the rest after
    // it finished, or in lifetimes where none started), and ≥ 10 of 50 must, with margin.
    const f = await runCrash({ kills: 50, clients: 10, upMinMs: 40, upMaxMs: 300, checkpointShare: 0.7 });
    await annotate(
      `kills=${f.kills} by ${JSON.stringify(f.killsBy)} (log/disk disagreements ${JSON.stringify(f.checkpointDisagreements)}; ${f.checkpointLifetimes}/${f.lifetimes} lifetimes checkpointing, ` +
        `${f.checkpointsFinished} checkpoints finished, p50 ${f.checkpointP50Ms} ms) acked=${f.acked} lost=${f.lost} dup=${f.duplicates} unreadable=${f.unreadable} restart=${f.meanRestartMs}ms`,
    );
    expect(f.problems).toEqual([]);
    expect(f.kills).toBeGreaterThanOrEqual(50);
    // The checkpoint knobs took effect (the stressed lifetimes checkpointed) and ≥ 10 kills cut a checkpoint short.
    expect(f.checkpointsFinished).toBeGreaterThan(0);
    expect(f.killsBy.checkpoint).toBeGreaterThanOrEqual(10);
    expect(f.acked).toBeGreaterThan(f.kills);
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    expect(f.unreadable).toBe(0);
    expect(f.undelivered).toBe(0);
    expect(f.refused).toBe(0);
    expect(f.seqErrors).toBe(0);
  }, 420_000);

  it('a log cut inside a checkpoint reads as mid-checkpoint; finished or failed ones do not', () => {
    const line = (msg: string, extra = '') => `{"level":20,"time":1,${extra}"msg":"${msg}"}`;
    expect(checkpointState([line('bridge listening'), line('checkpoint started')].join('\n')).midCheckpoint).toBe(true);
    expect(checkpointState([line('checkpoint started'), line('checkpoint finished', '"ms":12,'), '{"level":20,"ti'].join('\n'))).toEqual({ midCheckpoint: false, finishedMs: [12] });
    expect(checkpointState([line('checkpoint started'), line('checkpoint failed; will retry')].join('\n')).midCheckpoint).toBe(false);
  });
});
