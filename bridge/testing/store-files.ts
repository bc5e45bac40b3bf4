/** Snapshot of every file under a data directory, to prove a rejected request changed nothing on disk. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_MARKER } from '../store/lowdb/atomic-json-file.ts';

/**
 * Path → content (base64) of every file under `dir`, recursively. A checkpoint's temp files (renamed or removed
 * within the checkpoint) are not state and are left out, as is a file that vanishes between listing and reading.
 */
export async function snapshotFiles(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.includes(TEMP_MARKER)) continue;
    const path = join(entry.parentPath, entry.name);
    try {
      result[path.slice(dir.length + 1)] = (await readFile(path)).toString('base64');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return result;
}
