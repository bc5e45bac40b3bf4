/**
 * Case 1 (npm test size): 9 planned SIGKILLs of a child bridge under steady sends — 3 forced into a running checkpoint,
 * one at each named step of start-up, 3 inside a journal write (each named point of it at least once) — and a last
 * one; nothing acked is lost or duplicated. `npm run torture crash` repeats every kind (18 kills, 500 long).
 */
import { describe, expect, it } from 'vitest';
import { checkpointState, killPlan, runCrash } from './crash.ts';

describe('crash harness', () => {
  it('SIGKILLs forced into checkpoints, start-up steps and journal writes: every acked message present exactly once, files readable, outboxes delivered once', async ({ annotate }) => {
    const f = await runCrash({ kills: 9, checkpointKills: 3, clients: 10 });
    await annotate(
      `kills=${f.kills} by ${JSON.stringify(f.killsBy)} (${f.forcedCheckpointKills} forced into a checkpoint; log/disk disagreements ${JSON.stringify(f.checkpointDisagreements)}; ` +
        `at points ${JSON.stringify(f.killsAt)}; ${f.checkpointLifetimes}/${f.lifetimes} lifetimes checkpointing, ${f.checkpointsFinished} checkpoints finished) acked=${f.acked} lost=${f.lost} dup=${f.duplicates} unreadable=${f.unreadable}`,
    );
    expect(f.problems).toEqual([]);
    expect(f.kills).toBe(10);
    // Each forced kill was proven inside a checkpoint (journal rotated, old generation present, process frozen).
    expect(f.forcedCheckpointKills).toBe(3);
    expect(f.killsBy.checkpoint).toBeGreaterThanOrEqual(3);
    expect(f.startupKills).toBe(3);
    // Each start-up and journal-write kill froze the bridge at its named point first.
    expect(f.killsAt).toEqual({ lock: 1, 'journal-replay': 1, 'commit-mark': 1, 'journal-write': 2, 'journal-written': 1 });
    expect(f.acked).toBeGreaterThan(f.kills);
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    expect(f.unreadable).toBe(0);
    expect(f.undelivered).toBe(0);
    expect(f.refused).toBe(0);
    expect(f.seqErrors).toBe(0);
  }, 420_000);

  it('plans every third kill during start-up and spreads the checkpoint kills over the others', () => {
    expect(killPlan(9, 3)).toEqual(['journal', 'checkpoint', 'startup', 'journal', 'checkpoint', 'startup', 'journal', 'checkpoint', 'startup']);
    expect(killPlan(18, 6).filter((k) => k === 'checkpoint')).toHaveLength(6);
    expect(killPlan(18, 6).filter((k) => k === 'startup')).toHaveLength(6);
    expect(() => killPlan(3, 3)).toThrow(/do not fit/);
  });

  it('a log cut inside a checkpoint reads as mid-checkpoint; finished or failed ones do not', () => {
    const line = (msg: string, extra = '') => `{"level":20,"time":1,${extra}"msg":"${msg}"}`;
    expect(checkpointState([line('bridge listening'), line('checkpoint started')].join('\n')).midCheckpoint).toBe(true);
    expect(checkpointState([line('checkpoint started'), line('checkpoint finished', '"ms":12,'), '{"level":20,"ti'].join('\n'))).toEqual({ midCheckpoint: false, finishedMs: [12] });
    expect(checkpointState([line('checkpoint started'), line('checkpoint failed; will retry')].join('\n')).midCheckpoint).toBe(false);
  });
});
