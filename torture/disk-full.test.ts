/**
 * Case 3: disk full (a size-limited tmpfs filled to ENOSPC) and permission denied (uid 65534, data dir made
 * read-only) during writes. Needs mount rights: where tmpfs cannot be mounted the case reports itself as not
 * run instead of passing silently (see the annotation).
 */
import { describe, expect, it } from 'vitest';
import { canMountTmpfs, runDiskFull } from './disk-full.ts';

const mountable = canMountTmpfs();

describe('disk full and permission denied', () => {
  it('no ack without durability, the client retries, the bridge stays up and says why, recovers, and nothing acked is lost', async ({ annotate }) => {
    if (!mountable) {
      await annotate('tmpfs cannot be mounted here (no CAP_SYS_ADMIN): disk-full case not run', 'warning');
      return;
    }
    const f = await runDiskFull();
    await annotate(JSON.stringify({ ...f, problems: f.problems.length }));
    expect(f.problems).toEqual([]);
    // While full, the client was told why, with a retryable code.
    expect(f.errorsWhileFull['storage_unavailable'] ?? 0).toBeGreaterThan(0);
    expect(f.clientMessage).toMatch(/^storage_unavailable: /);
    expect(f.healthWhileFull.status).toBe(503);
    expect(f.healthWhileFull.lastError ?? '').toMatch(/ENOSPC|space/i);
    // Space came back: the same process recovered and delivered the retried messages.
    expect(f.recoveredLive).toBe(true);
    expect(f.healthAfterRecovery).toBe(200);
    // Every ack (including any sent while full) survived a SIGKILL and restart exactly once.
    expect(f.lost).toBe(0);
    expect(f.duplicates).toBe(0);
    // Permission denied: nothing acked was lost, and a start on the unwritable dir is refused with a reason.
    expect(f.permission.lost).toBe(0);
    expect(f.permission.shutdownSaid).toMatch(/EACCES/);
    expect(f.permission.startRefusal).toMatch(/EACCES/);
    expect(f.permission.startRefusal).toContain('lock');
  }, 120_000);
});
