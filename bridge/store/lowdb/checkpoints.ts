/**
 * Checkpoints: at a cut taken with the journal's rotation, write every changed document atomically (copy-on-write keeps
 * them as of the cut while later changes go on), commit the new generation in the manifest and delete the older journals.
 */
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Low } from 'lowdb';
import { fsyncDir, writeFileAtomic, writeFilesAtomic } from './atomic-json-file.ts';
import { DIRS, MANIFEST, SegmentDoc, type AnyDoc, type ManifestData } from './documents.ts';
import { journalGeneration } from './journal.ts';
import type { LowdbState } from './lowdb-state.ts';
import type { LowdbRecords } from './records.ts';
import type { SegmentCache } from './segment-cache.ts';

/** When checkpoints run, and the run itself. */
export class Checkpoints {
  manifest: Low<ManifestData> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The checkpoint in progress, if any. */
  running: Promise<void> | undefined;
  /** Why the last checkpoint failed, until one succeeds (reported by `health()`). */
  error: string | undefined;
  lastAttempt = 0;
  /** Segment documents of erased conversations: a failed checkpoint must not mark them for writing again. */
  readonly erasedDocs = new WeakSet<AnyDoc>();

  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
    private readonly records: LowdbRecords,
  ) {}

  /** Clears the last failure (before an open loads the data directory). */
  reset(): void {
    this.error = undefined;
  }

  /** Checkpoints every `checkpointIntervalMs` while anything changed. */
  start(): void {
    this.timer = setInterval(() => {
      if (this.s.dirty.size > 0 && !this.running) this.inBackground();
    }, this.s.checkpointIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  afterBatch(): void {
    if (!this.s.journal || this.running) return;
    // After a failed checkpoint (disk full), a journal write that works again means space is back: retry soon,
    // so health() recovers with the disk rather than at the next scheduled checkpoint.
    const retryFailed = this.error !== undefined && this.s.clock().getTime() - this.lastAttempt > 1000;
    if (this.s.journal.size >= this.s.checkpointBytes || retryFailed) this.inBackground();
  }

  inBackground(): void {
    this.run().catch((err: unknown) => this.s.logger.error({ err }, 'checkpoint failed; will retry'));
  }

  run(): Promise<void> {
    if (this.running) return this.running;
    const run = this.once().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async once(): Promise<void> {
    this.lastAttempt = this.s.clock().getTime();
    const journal = this.s.journal;
    const manifest = this.manifest;
    if (!journal || !manifest) return;
    // Exact messages, logged before anything is touched and after the old journals are gone: the crash harness
    // (LOG_LEVEL=debug) reads them to tell whether a kill landed mid-checkpoint. `generation` is the one it commits.
    const startedAt = performance.now();
    this.s.logger.debug({ generation: journal.generation + 1, journalBytes: journal.size }, 'checkpoint started');
    await this.records.sweepExpiredRecords();
    let snapshot: AnyDoc[] = [];
    // The cut is taken at the instant the old journal's last batch is: the snapshot equals exactly what that
    // journal holds, and copy-on-write (touch) keeps it that way while later changes go to the new journal.
    const generation = await journal.rotate(() => {
      snapshot = [...this.s.dirty];
      this.s.dirty.clear();
      for (const doc of snapshot) {
        doc.dirty = false;
        doc.inSnapshot = true;
      }
    }).catch((error: unknown) => {
      for (const doc of snapshot) this.abortSnapshot(doc);
      throw error;
    });
    try {
      // Chunks bound the open file handles; a document is serialised right before its write (copy-on-write has
      // frozen any document changed since the cut).
      const CHUNK = 32;
      for (let i = 0; i < snapshot.length; i += CHUNK) {
        // The journal goes first: a chunk's fsyncs start only once the appends waiting now are durable, so a
        // checkpoint slows itself down under load instead of stalling acknowledgements behind its file-system commits.
        await journal.barrier().catch(() => undefined);
        const chunk = snapshot.slice(i, i + CHUNK);
        const files = chunk.map((doc) => ({
          path: doc.adapter.path,
          pieces: (): Iterable<string> => doc.snapshotPieces(),
        }));
        await writeFilesAtomic(files);
        const segmentsDir = join(this.s.dataDir, DIRS.segments);
        for (const doc of chunk) {
          doc.clearSnapshot();
          if (doc instanceof SegmentDoc && doc.data.messages.length >= this.s.segmentSize) doc.dropEncoding();
          // An erased conversation's segment may still be written from this snapshot: its file is deleted later.
          if (doc.adapter.path.startsWith(segmentsDir) && !this.segments.erasedFiles.has(doc.adapter.name)) {
            this.segments.existingFiles.add(doc.adapter.name);
          }
        }
      }
      for (const name of Object.values(DIRS)) await fsyncDir(join(this.s.dataDir, name));
      manifest.data = { version: 1, generation, segmentSize: this.s.segmentSize };
      await writeFileAtomic(join(this.s.dataDir, MANIFEST), JSON.stringify(manifest.data), true);
      // The mark already names the new generation (the rotation recorded it); make that durable once per checkpoint.
      await this.s.commitMark?.sync();
      for (const name of await readdir(this.s.dataDir)) {
        const gen = journalGeneration(name);
        if (gen !== undefined && gen < generation) await unlink(join(this.s.dataDir, name));
      }
      this.error = undefined;
      // The checkpoint made its segments clean, so evictable again.
      this.segments.evictionRetryAt = 0;
      this.s.logger.debug(
        { generation, documents: snapshot.length, ms: Math.round(performance.now() - startedAt) },
        'checkpoint finished',
      );
      this.segments.evict();
    } catch (error) {
      for (const doc of snapshot) if (doc.inSnapshot) this.abortSnapshot(doc);
      const err = error as NodeJS.ErrnoException;
      this.error = `checkpoint failed: ${err.code ?? err.message}`;
      throw error;
    }
  }

  abortSnapshot(doc: AnyDoc): void {
    doc.clearSnapshot();
    if (this.erasedDocs.has(doc)) return;
    if (!doc.dirty) {
      doc.dirty = true;
      this.s.dirty.add(doc);
    }
  }
}
