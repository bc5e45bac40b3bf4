/**
 * The append-only journal: the durability point of the lowdb store. Each record is one line
 * `<crc32 hex> <json>\n`; concurrent appends are group-committed (one O_DSYNC write per batch, every
 * waiter of the batch resolved together). A checkpoint "rotates" it to a new generation file.
 */
import { constants } from 'node:fs';
import { lstat, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { CorruptFileError, fsyncDir } from './atomic-json-file.ts';
import type { CommitMarkData, CommitMarkWriter } from './commit-mark.ts';

/** File name of journal generation `gen`. */
export function journalName(gen: number): string {
  return `journal-${gen}.jsonl`;
}

/** Parses a journal file name; undefined for other files. */
export function journalGeneration(name: string): number | undefined {
  const match = /^journal-(\d+)\.jsonl$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Serialises one record as a journal line. */
export function journalLine(record: unknown): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** What a journal file held: its records, and how many bytes of it are valid. */
export interface JournalContents {
  records: unknown[];
  validBytes: number;
  /** Bytes after the last valid line (an unacknowledged, torn final write) that replay dropped. */
  tornBytes: number;
}

/**
 * Reads a journal. A damaged tail (an incomplete or unparsable final stretch with no valid line after it) is a
 * write that never finished, so was never acknowledged: it is reported in `tornBytes` when `allowTornTail`,
 * otherwise, like any damaged line followed by valid ones, it is a CorruptFileError.
 */
export async function readJournal(path: string, allowTornTail: boolean): Promise<JournalContents> {
  const stat = await lstat(path);
  if (!stat.isFile()) throw new CorruptFileError(path, 'is not a regular file');
  const buffer = await readFile(path);
  const records: unknown[] = [];
  let offset = 0;
  let validBytes = 0;
  let badLine: number | undefined;
  let lineNo = 0;
  while (offset < buffer.length) {
    const end = buffer.indexOf(10, offset);
    lineNo++;
    if (end === -1) {
      badLine ??= lineNo;
      break;
    }
    const record = parseLine(buffer, offset, end);
    if (record === undefined) {
      badLine ??= lineNo;
    } else {
      if (badLine !== undefined) {
        throw new CorruptFileError(path, `has a damaged record at line ${badLine} followed by valid ones`);
      }
      records.push(record);
      validBytes = end + 1;
    }
    offset = end + 1;
  }
  const tornBytes = buffer.length - validBytes;
  if (tornBytes > 0) {
    const where = `at line ${badLine ?? lineNo}`;
    if (!allowTornTail) throw new CorruptFileError(path, `has a damaged record ${where} although a newer journal exists`);
    const tail = buffer.subarray(validBytes);
    if (!isTornWrite(tail, records.length > 0)) {
      throw new CorruptFileError(path, `has a damaged record ${where} that is not the cut-off end of an unfinished write`);
    }
  }
  return { records, validBytes, tornBytes };
}

/**
 * What an interrupted append can leave after the last complete record: a prefix of the next line (no newline,
 * starting like `<crc hex> {`), or zero bytes where the file size was extended before its data reached the disk
 * (XFS, ext4 data=writeback) — the latter only after at least one valid record, since a journal that is nothing
 * but zeros cannot be told apart from one wiped by damage. Anything else is damage, not a torn write.
 */
function isTornWrite(tail: Buffer, hasValidRecords: boolean): boolean {
  if (tail.every((byte) => byte === 0)) return hasValidRecords;
  if (tail.includes(10)) return false;
  const head = tail.toString('latin1', 0, Math.min(tail.length, 10));
  return /^[0-9a-f]{0,8}$/.test(head) || /^[0-9a-f]{8} (\{.*)?$/.test(head);
}

function parseLine(buffer: Buffer, start: number, end: number): unknown {
  if (end - start < 10 || buffer[start + 8] !== 0x20) return undefined;
  const hex = buffer.toString('latin1', start, start + 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) return undefined;
  // CRC over the raw bytes: no re-encoding of the line to check it.
  if (crc32(buffer.subarray(start + 9, end)) !== Number.parseInt(hex, 16)) return undefined;
  try {
    return JSON.parse(buffer.toString('utf8', start + 9, end));
  } catch {
    return undefined;
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Waiters handle the rejection; this only keeps an unawaited batch from crashing the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

interface RotateRequest {
  /** Called synchronously at the instant the last batch of the old generation is taken. */
  onCut: () => void;
  resolve: (gen: number) => void;
  reject: (error: Error) => void;
}

/**
 * Journal files are written with O_DSYNC (synchronized I/O data integrity: the same guarantee as fdatasync after
 * the write) — one thread-pool round trip per batch instead of two, which measured cheaper per append than write +
 * fdatasync (docs/performance.md).
 */
const JOURNAL_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC;
const RESOLVED = Promise.resolve();
const RETRY_MS = 500;

/** The group-committing journal writer. */
export class Journal {
  private handle: FileHandle | undefined;
  private needTruncate = false;
  private pendingLines: string[] = [];
  private pendingBytes = 0;
  private pendingWaiters: Deferred | undefined;
  /** Lines of a failed batch, written first by the next attempt (the store's memory already holds them). */
  private retryLines: string[] = [];
  private inFlight: Deferred | undefined;
  private writing = false;
  private scheduled = false;
  private rotateRequest: RotateRequest | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Set while writes fail; cleared by the next successful write. */
  lastError: string | undefined;
  /** Told how long each durable batch write took, in seconds (the store commit latency metric). */
  observeCommit: ((seconds: number) => void) | undefined;

  constructor(
    private readonly dir: string,
    public generation: number,
    /** Bytes of valid content already in the file. */
    public size: number,
    private readonly logger: Logger,
    /** Called after each durable batch (the store checks whether a checkpoint is due). */
    private readonly afterBatch: () => void,
    /** Told the durable length after each batch and rotation, so a journal cut short later is detected at open. */
    private readonly mark?: CommitMarkWriter,
    /** Final length of the previous generation (0 when it is gone or unknown). */
    private previousSize = 0,
  ) {}

  get path(): string {
    return join(this.dir, journalName(this.generation));
  }

  get failing(): boolean {
    return this.lastError !== undefined;
  }

  /** Queues a record; the promise resolves once it is on disk (its O_DSYNC write returned). Call synchronously after the change. */
  append(record: unknown): Promise<void> {
    const line = journalLine(record);
    this.pendingLines.push(line);
    this.pendingBytes += line.length;
    this.pendingWaiters ??= deferred();
    this.schedule();
    return this.pendingWaiters.promise;
  }

  /** Resolves once everything queued so far is durable. */
  barrier(): Promise<void> {
    if (this.pendingWaiters) return this.pendingWaiters.promise;
    if (this.inFlight) return this.inFlight.promise;
    return this.failing ? this.ready() : RESOLVED;
  }

  /** Resolves at once when healthy; while writes fail, retries them and rejects if they still fail. */
  ready(): Promise<void> {
    if (!this.failing) return RESOLVED;
    this.pendingWaiters ??= deferred();
    const promise = this.pendingWaiters.promise;
    this.schedule();
    return promise;
  }

  /** Ends this generation after the records queued so far and continues in a new file; resolves with its number. */
  rotate(onCut: () => void): Promise<number> {
    if (this.rotateRequest) return Promise.reject(new Error('journal rotation already in progress'));
    return new Promise<number>((resolve, reject) => {
      this.rotateRequest = { onCut, resolve, reject };
      this.schedule();
    });
  }

  /** Waits for queued writes, then closes the file. */
  async close(): Promise<void> {
    await this.barrier().catch(() => undefined);
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.closed) return;
    this.scheduled = true;
    // setImmediate: every append made while handling this round of I/O joins the same batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush().catch((err: unknown) => this.logger.error({ err }, 'journal flush loop failed'));
    });
  }

  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pendingLines.length > 0 || this.retryLines.length > 0 || this.pendingWaiters || this.rotateRequest) {
        const lines = this.retryLines.length > 0 ? this.retryLines.concat(this.pendingLines) : this.pendingLines;
        const waiters = this.pendingWaiters ?? deferred();
        const rotate = this.rotateRequest;
        this.pendingLines = [];
        this.pendingBytes = 0;
        this.pendingWaiters = undefined;
        this.retryLines = [];
        this.rotateRequest = undefined;
        rotate?.onCut();
        this.inFlight = waiters;
        try {
          if (lines.length > 0) {
            const started = performance.now();
            await this.writeBatch(lines.join(''));
            this.observeCommit?.((performance.now() - started) / 1000);
          }
        } catch (error) {
          const err = error as NodeJS.ErrnoException;
          this.retryLines = lines;
          this.lastError = `journal write to ${this.path} failed: ${err.code ?? err.message}`;
          this.logger.error({ err, path: this.path }, 'journal write failed; writes are refused until it succeeds');
          this.inFlight = undefined;
          waiters.reject(new Error(this.lastError));
          rotate?.reject(new Error(this.lastError));
          this.scheduleRetry();
          return;
        }
        if (this.lastError !== undefined) this.logger.warn({ path: this.path }, 'journal writes succeed again');
        this.lastError = undefined;
        this.inFlight = undefined;
        waiters.resolve();
        // Only now, with the batch durable: the mark may lag the journal but never run ahead of it. Written on the
        // next tick, after the waiters' continuations (acks) of this turn ran: the mark is not fsynced, so writing it
        // later in the same turn weakens nothing, and its write no longer delays every acknowledgement.
        if (lines.length > 0 && this.mark) this.recordMarkSoon({ generation: this.generation, committed: this.size, previous: this.previousSize });
        if (rotate) {
          try {
            rotate.resolve(await this.startGeneration(this.generation + 1));
          } catch (error) {
            rotate.reject(error as Error);
          }
        }
        this.afterBatch();
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Records `mark` once the current microtask queue has drained (process.nextTick runs after the promise reactions
   * queued by `resolve`). Ticks run in order and before any I/O completes, so marks still land in order and before
   * a rotation's own mark.
   */
  private recordMarkSoon(mark: CommitMarkData): void {
    process.nextTick(() => this.mark?.record(mark));
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.retryLines.length > 0) this.schedule();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  private async openHandle(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const handle = await open(this.path, JOURNAL_FLAGS, 0o600);
    try {
      const { size } = await handle.stat();
      if (size < this.size) throw new Error(`journal ${this.path} shrank from ${this.size} to ${size} bytes`);
      if (size > this.size || this.needTruncate) {
        await handle.truncate(this.size);
        // O_DSYNC makes each write durable, not an earlier truncate: commit the cut before writing after it.
        await handle.datasync();
      }
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    this.needTruncate = false;
    this.handle = handle;
    return handle;
  }

  private async writeBatch(text: string): Promise<void> {
    const buffer = Buffer.from(text, 'utf8');
    try {
      const handle = await this.openHandle();
      // Not writeSync: under write-back pressure the kernel stalls writers, and that stall must not hit the event loop.
      // The file is open with O_DSYNC: each write returns once its data (and the size needed to read it back) is
      // durable, as write + fdatasync would, in one thread-pool round trip instead of two.
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, this.size + written);
        written += bytesWritten;
      }
      this.size += buffer.length;
    } catch (error) {
      // A partial write may have left bytes past `size`: drop the handle so the next attempt truncates them.
      this.needTruncate = true;
      const handle = this.handle;
      this.handle = undefined;
      await handle?.close().catch(() => undefined);
      throw error;
    }
  }

  private async startGeneration(gen: number): Promise<number> {
    const path = join(this.dir, journalName(gen));
    const handle = await open(path, JOURNAL_FLAGS | constants.O_TRUNC, 0o600);
    try {
      await fsyncDir(this.dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    const old = this.handle;
    this.handle = handle;
    this.previousSize = this.size;
    this.generation = gen;
    this.size = 0;
    // The new file and its directory entry are durable (fsyncDir above) before the mark names it.
    this.mark?.record({ generation: gen, committed: 0, previous: this.previousSize });
    this.needTruncate = false;
    await old?.close().catch(() => undefined);
    return gen;
  }
}

/** Makes a journal's current content durable (at open, before the commit mark may claim its length). */
export async function syncJournal(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Cuts a torn tail off the last journal so new records follow the last valid line, durably (fsync). */
export async function truncateJournal(path: string, validBytes: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(validBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
