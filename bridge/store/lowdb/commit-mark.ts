/**
 * The commit mark: a small fixed-size file (`commit-mark`) recording how many bytes of the current journal
 * generation (and of the one before it) were durable and acknowledged. A journal found shorter than that at open
 * was cut by outside damage — also exactly at a record boundary, which the journal's own CRCs cannot see — so the
 * store refuses to start instead of silently losing acknowledged records.
 *
 * It is overwritten in place (one positional write at offset 0, always the same length) only after the journal
 * data it describes is fdatasynced, and is itself fsynced only at checkpoints and close: after a power loss it can
 * lag behind the journal (weaker detection), never run ahead of it (no false alarm).
 */
import { constants, writeSync } from 'node:fs';
import { lstat, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { CorruptFileError, fsyncDir } from './atomic-json-file.ts';

/** File name of the commit mark in the data directory. */
export const COMMIT_MARK = 'commit-mark';

/** What the mark says: journal `generation` held at least `committed` acknowledged bytes, and generation − 1 `previous`. */
export interface CommitMarkData {
  generation: number;
  committed: number;
  /** Final length of journal generation − 1 (0 when unknown); checked only while that journal still exists. */
  previous: number;
}

const DIGITS = 15; // Number.MAX_SAFE_INTEGER has 16 digits; 15 cover a petabyte and every realistic generation.
const PREFIX = 'anon-chat commit mark v1';
const pad = (n: number): string => String(n).padStart(DIGITS, '0');
/** Length of every encoding: the file is always overwritten whole. */
export const COMMIT_MARK_BYTES = encodeCommitMark({ generation: 0, committed: 0, previous: 0 }).length;

/** One text line (readable with `cat`), fixed width, CRC-checked: `<prefix> gen=… committed=… previous=… crc=…`. */
export function encodeCommitMark(mark: CommitMarkData): Buffer {
  const body = `${PREFIX} gen=${pad(mark.generation)} committed=${pad(mark.committed)} previous=${pad(mark.previous)}`;
  return Buffer.from(`${body} crc=${crc32(body).toString(16).padStart(8, '0')}\n`, 'latin1');
}

/** Parses a mark; undefined when it is torn, foreign or damaged. */
export function decodeCommitMark(buffer: Buffer): CommitMarkData | undefined {
  const text = buffer.toString('latin1');
  const match = new RegExp(`^(${PREFIX} gen=(\\d{${DIGITS}}) committed=(\\d{${DIGITS}}) previous=(\\d{${DIGITS}})) crc=([0-9a-f]{8})\\n$`).exec(text);
  if (!match || crc32(match[1]!) !== Number.parseInt(match[5]!, 16)) return undefined;
  return { generation: Number(match[2]), committed: Number(match[3]), previous: Number(match[4]) };
}

/**
 * Reads the mark at open. Missing → undefined (a data directory from before the mark, or an operator who deleted
 * it to accept a loss). Torn or unreadable → a warning and undefined: the check is skipped, never a refusal,
 * because the mark only guards the journal and is not worth refusing a start on its own.
 */
export async function readCommitMark(dataDir: string, logger: Logger): Promise<CommitMarkData | undefined> {
  const path = join(dataDir, COMMIT_MARK);
  let buffer: Buffer;
  try {
    const stat = await lstat(path);
    if (!stat.isFile()) {
      logger.warn({ path }, 'commit mark is not a regular file; journal length check skipped');
      return undefined;
    }
    buffer = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    logger.warn({ path, err: error }, 'commit mark unreadable; journal length check skipped');
    return undefined;
  }
  const mark = decodeCommitMark(buffer);
  if (!mark) logger.warn({ path, bytes: buffer.length }, 'commit mark torn or damaged; journal length check skipped');
  return mark;
}

/**
 * Keeps the mark up to date while the store runs. `record` writes synchronously: ~100 bytes into a page that is
 * almost always already dirty in the page cache cost less CPU than an async write's thread-pool round trip, whose
 * thread competes with the event loop for the core. Marks therefore land in order.
 */
export class CommitMarkWriter {
  private handle: FileHandle | undefined;
  private failing = false;

  private constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Creates (or rewrites) the mark with `initial`, durably, and returns a writer holding it open. */
  static async open(dataDir: string, initial: CommitMarkData, logger: Logger): Promise<CommitMarkWriter> {
    const path = join(dataDir, COMMIT_MARK);
    const writer = new CommitMarkWriter(path, logger);
    // Created durably once (file and directory entry), so later in-place overwrites never meet a missing inode.
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const buffer = encodeCommitMark(initial);
      await handle.write(buffer, 0, buffer.length, 0);
      await handle.truncate(buffer.length);
      await handle.sync();
      await fsyncDir(dataDir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    writer.handle = handle;
    return writer;
  }

  /** Notes a new durable state; call only after the journal bytes it names are fdatasynced. */
  record(mark: CommitMarkData): void {
    if (!this.handle) return;
    const buffer = encodeCommitMark(mark);
    try {
      // One write at offset 0, same length every time: the file is never shorter than a whole mark.
      writeSync(this.handle.fd, buffer, 0, buffer.length, 0);
      this.failing = false;
    } catch (error) {
      // A failed mark write only weakens detection (the mark lags); the journal, which holds the data, is fine.
      if (!this.failing) this.logger.warn({ err: error, path: this.path }, 'commit mark write failed; journal length check may lag');
      this.failing = true;
    }
  }

  /** Makes the last recorded value durable (checkpoints and close). */
  async sync(): Promise<void> {
    await this.handle?.sync();
  }

  /** Syncs the last value, then closes the file. */
  async close(): Promise<void> {
    await this.sync().catch((err: unknown) => this.logger.warn({ err, path: this.path }, 'commit mark sync failed'));
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}

/**
 * Compares the journals found at open with the mark: throws a `CorruptFileError` naming the journal when one that
 * must still exist (generation ≥ the manifest's) is missing or holds fewer valid bytes than were acknowledged.
 * `validBytes` maps each live journal generation to its valid length; call it before any journal is modified.
 */
export function checkJournalsAgainstMark(
  dataDir: string,
  mark: CommitMarkData | undefined,
  manifestGeneration: number,
  validBytes: ReadonlyMap<number, number>,
  journalPath: (gen: number) => string,
): void {
  if (!mark) return;
  const expected: [number, number][] = [
    [mark.generation, mark.committed],
    [mark.generation - 1, mark.previous],
  ];
  for (const [gen, committed] of expected) {
    // Older generations were folded into the documents by a finished checkpoint and deleted with it.
    if (gen < manifestGeneration || committed === 0) continue;
    const found = validBytes.get(gen);
    if (found === undefined || found < committed) {
      throw new TruncatedJournalError(journalPath(gen), found, committed, join(dataDir, COMMIT_MARK));
    }
  }
}

/** A journal shorter than what was acknowledged from it: refused, with how to restore or to accept the loss. */
export class TruncatedJournalError extends CorruptFileError {
  constructor(path: string, found: number | undefined, committed: number, markPath: string) {
    const what =
      found === undefined
        ? `is missing, but ${committed} bytes of it were acknowledged as durable`
        : `holds ${found} valid bytes, but ${committed} bytes of it were acknowledged as durable`;
    super(path, what);
    this.message =
      `Storage file ${path} ${what} (recorded in ${markPath}): acknowledged records were cut off by something outside ` +
      `the bridge (a truncation, a file restored or copied from an older state, a disk fault). The bridge refuses to ` +
      `start rather than start without them and leaves the file as it is: restore this file from a backup, or, to ` +
      `accept losing those records deliberately, delete ${markPath} and start again.`;
  }
}
