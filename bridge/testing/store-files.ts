/** Snapshot of every file under a data directory, to prove a rejected request changed nothing on disk. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Path → content (base64) of every file under `dir`, recursively. */
export async function snapshotFiles(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    result[path.slice(dir.length + 1)] = (await readFile(path)).toString('base64');
  }
  return result;
}
