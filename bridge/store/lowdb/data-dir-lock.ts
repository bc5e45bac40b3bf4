/**
 * One bridge process per data directory: a `lock` file created with O_EXCL holding the owner's pid. Two processes
 * appending to the same journal would interleave and corrupt it.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDir } from './atomic-json-file.ts';

/** Name of the lock file inside the data directory. */
export const LOCK_FILE = 'lock';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds: a second open in the same process must still be refused. */
const heldHere = new Set<string>();

/** Takes the lock of `dir` (taking over a stale one left by a dead process); returns the release function. */
export async function acquireDataDirLock(dir: string, logger: Logger): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsyncDir(dir);
      heldHere.add(path);
      return async () => {
        heldHere.delete(path);
        await unlink(path).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const text = await readFile(path, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    // Our own pid in a lock we do not hold is stale: a container's PID 1 (or any fixed pid) restarted after a
    // crash finds its previous run's lock carrying its own pid, and must not refuse to start forever.
    const ours = pid === process.pid && !heldHere.has(path);
    if (Number.isInteger(pid) && pid > 0 && !ours && isAlive(pid)) {
      throw new Error(
        `data directory ${dir} is in use by pid ${pid} (lock file ${path}); ` +
          `run one bridge per data directory, or stop that process first (if that pid is not a bridge, e.g. after ` +
          `a reboot reused it, delete ${path})`,
      );
    }
    logger.warn({ path, pid: Number.isNaN(pid) ? text.trim() : pid }, 'taking over a stale data directory lock');
    try {
      await unlink(path);
    } catch (error) {
      // Say why (typically EACCES on a read-only data dir) instead of retrying into a misleading message.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new Error(`cannot remove the stale lock ${path} (${code ?? String(error)}); check the data directory's permissions`, {
          cause: error,
        });
    }
  }
  throw new Error(`could not take the lock ${path}: another process keeps recreating it`);
}
