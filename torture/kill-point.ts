/**
 * Preloaded (`node --import`) into a child bridge that the crash case kills at a named point, so that the kill lands
 * there whatever the machine's load instead of after a random delay. When TORTURE_KILL_POINT names a point, the
 * process prints `kill point <name>` and freezes itself (SIGSTOP) the TORTURE_KILL_AFTER-th time (default 1) it
 * reaches it; the harness then sends SIGKILL to the frozen process. The points are steps of the embedded store, seen
 * through node:fs/promises (wrapped here; syncBuiltinESMExports updates the bindings the bundle imported):
 * - `lock`: start-up, the data directory's lock file just created, its pid not yet written;
 * - `journal-replay`: start-up, a journal generation about to be read for replay;
 * - `commit-mark`: start-up, the journals read, the commit mark about to be read (torn-tail check next);
 * - `journal-write`: serving, a batch of journal lines about to be written (received, not yet durable nor acked);
 * - `journal-written`: serving, a batch just written, durable (O_DSYNC), its acks not yet sent.
 */
import fsPromises, { type FileHandle } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';

/** Named points the crash case kills a bridge at. */
export const KILL_POINTS = ['lock', 'journal-replay', 'commit-mark', 'journal-write', 'journal-written'] as const;

/** One of KILL_POINTS. */
export type KillPoint = (typeof KILL_POINTS)[number];

/** Environment that makes a child bridge freeze at `point`, the `after`-th time it gets there. */
export function killPointEnv(point: KillPoint, after = 1): Record<string, string> {
  return { TORTURE_KILL_POINT: point, TORTURE_KILL_AFTER: String(after) };
}

const JOURNAL = /^journal-\d+\.jsonl$/;

function install(point: KillPoint, after: number): void {
  let reached = 0;
  const at = (here: KillPoint): void => {
    if (here !== point || ++reached !== after) return;
    // A pipe write is synchronous on Linux: the line is out before the process stops.
    process.stdout.write(`kill point ${point}\n`);
    process.kill(process.pid, 'SIGSTOP');
  };
  const { open, readFile } = fsPromises;
  fsPromises.open = async (...args: Parameters<typeof open>): Promise<FileHandle> => {
    const [path, flags] = args;
    const handle = await open(...args);
    const name = basename(String(path));
    if (name === 'lock' && flags === 'wx') at('lock');
    if (JOURNAL.test(name) && typeof flags === 'number' && (flags & fsPromises.constants.O_WRONLY) !== 0) {
      const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
      (handle as { write: unknown }).write = async (...writeArgs: unknown[]) => {
        at('journal-write');
        const result = await write(...writeArgs);
        at('journal-written');
        return result;
      };
    }
    return handle;
  };
  fsPromises.readFile = (async (...args: Parameters<typeof readFile>) => {
    const path = args[0];
    const name = path instanceof URL || typeof path === 'string' || Buffer.isBuffer(path) ? basename(path.toString()) : '';
    if (JOURNAL.test(name)) at('journal-replay');
    if (name === 'commit-mark') at('commit-mark');
    return readFile(...args);
  }) as typeof readFile;
  syncBuiltinESMExports();
}

const named = process.env['TORTURE_KILL_POINT'];
if (named !== undefined) {
  if (!KILL_POINTS.includes(named as KillPoint)) throw new Error(`TORTURE_KILL_POINT ${named} is none of ${KILL_POINTS.join(', ')}`);
  install(named as KillPoint, Number(process.env['TORTURE_KILL_AFTER'] ?? '1'));
}
