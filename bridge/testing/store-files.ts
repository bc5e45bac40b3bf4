/** What the files of a data directory hold: a snapshot to prove a rejected request changed nothing on disk, and a search to prove an erasure left no trace. */
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

/**
 * Every file under `dir` (journals of every generation, segments, queue buckets, temp files included) whose bytes
 * contain `needle`, as paths relative to `dir`: an erased text must be in none of them.
 */
export async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const bytes = Buffer.from(needle, 'utf8');
  const hits: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    try {
      if ((await readFile(path)).includes(bytes)) hits.push(path.slice(dir.length + 1));
    } catch (error) {
      // A checkpoint's temp file may be renamed away between listing and reading; its content is then in the renamed file.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return hits;
}
