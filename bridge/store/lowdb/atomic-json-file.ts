/**
 * A lowdb `Adapter` that makes every write crash-safe: write a temp file, fsync it, rename it over the target,
 * fsync the directory. lowdb's own `JSONFile` (steno) renames without fsync, so after a power cut the rename can
 * survive while the data does not; and `JSONFilePreset` switches to memory under NODE_ENV=test.
 */
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Adapter } from 'lowdb';

/** Marker in the names of temp files; anything carrying it is a leftover of an interrupted write. */
export const TEMP_MARKER = '.tmp-';

/** A storage file that exists but cannot be trusted; the message names the file and what to do. */
export class CorruptFileError extends Error {
  override name = 'CorruptFileError';
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(
      `Storage file ${path} ${problem}. The bridge refuses to start on damaged data rather than start empty: ` +
        `restore this file from a backup, or move it out of the data directory to accept losing what it held, ` +
        `then start again.`,
    );
  }
}

/** fsync a directory, so that renames and creations inside it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let tempCounter = 0;

/**
 * Writes `content` (text as UTF-8, or bytes) to `path` atomically and durably: temp file, fdatasync, rename, and
 * with `syncDir` the directory's fsync. A reader sees the whole file or none; a failed write leaves no temp file.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array, syncDir: boolean): Promise<void> {
  const temp = `${path}${TEMP_MARKER}${process.pid}-${++tempCounter}`;
  const handle = await open(temp, 'w', 0o600);
  try {
    try {
      await handle.writeFile(content);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  if (syncDir) await fsyncDir(dirname(path));
}

/**
 * Writes many files atomically and durably: all temp files first, then one fdatasync each, then the renames.
 * Batching lets the file system commit them together (the first fdatasync carries the others' data along), so a
 * checkpoint of a thousand files costs about one journal commit instead of a thousand. The caller fsyncs the
 * directories afterwards. Each file's `pieces` are made and written one by one, right before that file is written.
 */
export async function writeFilesAtomic(files: { path: string; pieces: () => Iterable<string> }[]): Promise<void> {
  const written: { temp: string; path: string; handle: FileHandle | undefined }[] = files.map(({ path }) => ({
    temp: `${path}${TEMP_MARKER}${process.pid}-${++tempCounter}`,
    path,
    handle: undefined,
  }));
  try {
    await inParallel(written.length, async (i) => {
      const entry = written[i]!;
      entry.handle = await open(entry.temp, 'w', 0o600);
      // Serialised a piece at a time, each written before the next is made: the event loop never holds a whole
      // checkpoint's JSON, nor a whole large document's.
      for (const piece of files[i]!.pieces()) await writeAll(entry.handle, piece);
    });
    await inParallel(written.length, (i) => written[i]!.handle!.datasync());
    await inParallel(written.length, async (i) => {
      const entry = written[i]!;
      await entry.handle!.close();
      entry.handle = undefined;
      await rename(entry.temp, entry.path);
    });
  } catch (error) {
    for (const entry of written) {
      await entry.handle?.close().catch(() => undefined);
      await unlink(entry.temp).catch(() => undefined);
    }
    throw error;
  }
}

/** Appends `text` at the handle's position, however many writes the file system takes for it. */
async function writeAll(handle: FileHandle, text: string): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, null);
    offset += bytesWritten;
  }
}

/**
 * Runs `task(0 … count-1)` three at a time: overlaps the per-call latency of the fs thread pool (four threads)
 * while always leaving one thread for the journal's fdatasync.
 */
async function inParallel(count: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all([worker(), worker(), worker()]);
}

/**
 * The lowdb adapter for one JSON file. `read` returns null only when the file does not exist; an empty, truncated,
 * zero-filled or otherwise unparsable file, or one whose shape `validate` rejects, throws a CorruptFileError.
 */
export class AtomicJsonFile<T> implements Adapter<T> {
  constructor(
    readonly path: string,
    private readonly validate: (value: unknown) => string | undefined,
    /** False when the caller fsyncs the directory itself once for many files (a checkpoint). */
    private readonly syncDir = true,
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (text.length === 0) throw new CorruptFileError(this.path, 'is empty');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const zeros = /^\0+$/.test(text) ? ' (it is filled with zero bytes)' : '';
      throw new CorruptFileError(this.path, `is not valid JSON${zeros}: it was truncated or damaged`);
    }
    const problem = this.validate(value);
    if (problem !== undefined) throw new CorruptFileError(this.path, `has unexpected content (${problem})`);
    return value as T;
  }

  async write(data: T): Promise<void> {
    await this.writeText(JSON.stringify(data));
  }

  /** Writes an already serialised document (a copy-on-write snapshot taken earlier). */
  async writeText(text: string): Promise<void> {
    await writeFileAtomic(this.path, text, this.syncDir);
  }

  /** File name without directory, for messages. */
  get name(): string {
    return basename(this.path);
  }
}
