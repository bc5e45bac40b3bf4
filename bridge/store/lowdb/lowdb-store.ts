/**
 * `LowdbStore`: the embedded, durable, flat-cost implementation of `Store`, on lowdb JSON files.
 *
 * Every change is applied in memory and appended to a journal (one CRC-checked JSON line per record); concurrent
 * changes share one write + fdatasync (group commit), and callers resolve only after it. A checkpoint later writes
 * the changed lowdb documents (per-conversation message segments, bucketed indexes) atomically and starts a new
 * journal, so no write ever re-serialises the whole database. See README.md in this folder for the file layout,
 * the crash argument and the limits.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { Author, Message } from '../../../protocol/message.ts';
import type { Channel, Conversation, ConversationState } from '../../../protocol/conversation.ts';
import { STATUS_RANK, isStatusAdvance, type StoredStatus } from '../../../protocol/status.ts';
import { newQueueItem, setVisitorEmailFields,
  PENDING_STATUS_NAMESPACE,
  StoreError,
  type RateDecision,
  type AgentChange,
  type ExternalStatusOptions,
  type OnceRecord,
  type AgentRecord,
  type AppendResult,
  type ConversationDump,
  type ConversationErasure,
  type ConversationQuery,
  type NewConversation,
  type NewAttachment,
  type NewMessage,
  type OutboundItem,
  type OutboundWork,
  type QueueItem,
  type QueueLease,
  type RecordDump,
  type StatusResult,
  type StatusUpdate,
  type Store,
  type StoreHealth,
  type StoredAttachment,
} from '../store.ts';
import { AttachmentFiles } from './attachment-files.ts';
import { AtomicJsonFile, CorruptFileError, TEMP_MARKER, fsyncDir, writeFileAtomic, writeFilesAtomic } from './atomic-json-file.ts';
import { BucketedCollection } from './bucketed-collection.ts';
import {
  DIRS,
  Doc,
  MANIFEST,
  SegmentDoc,
  freezeConversationBucket,
  freezeReplacedItems,
  freezeSegment,
  type AnyDoc,
  type ManifestData,
  type SegmentData,
} from './documents.ts';
import type { JournalRecord, TxRecord } from './journal-records.ts';
import {
  agentRecord,
  byCreation,
  cloneConversation,
  cloneMessage,
  copyJson,
  externalUserKey,
  fileKey,
  fnv1a,
  isActiveAdmin,
  isObject,
  recordKey,
  uploadKeyOf,
  validateAgent,
  validateAny,
  validateAttachment,
  validateConversationRecord,
  validateExternalId,
  validateQueueItem,
  type ConversationEntry,
  type ConversationIndex,
  type ConversationRecord,
  type ExternalIdTarget,
  type StoredRecord,
} from './stored-shapes.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { Journal, journalGeneration, journalName, readJournal, syncJournal, truncateJournal, type JournalContents } from './journal.ts';
import { OutboundWorkRegistry } from '../outbound-work.ts';
import { LOGIN_THROTTLE, LocalTokenBuckets, claimLoginAttempt, type LoginAttempts } from '../../rate-limiter.ts';
import { CommitMarkWriter, checkJournalsAgainstMark, readCommitMark } from './commit-mark.ts';

/** Options of `LowdbStore`; everything but `dataDir` has a default. */
export interface LowdbStoreOptions {
  dataDir: string;
  clock?: () => Date;
  randomId?: () => string;
  logger?: Logger;
  /** Messages per segment file (fixed when the data directory is created). Default 100. */
  segmentSize?: number;
  /** Journal size that triggers a checkpoint. Default 16 MiB. */
  checkpointBytes?: number;
  /** A checkpoint also runs this often when anything changed. Default 30 s. */
  checkpointIntervalMs?: number;
  /** Message segments kept in memory (dirty ones are never evicted). Default 2,000. */
  maxCachedSegments?: number;
  /** Messages covered by in-memory per-conversation indexes (clientId, id, rev) before the least recently used are dropped. Default 1,000,000. */
  maxIndexedMessages?: number;
  /** Told the duration in seconds of each durable journal write (the bridge's store commit latency metric). */
  observeCommit?: (seconds: number) => void;
}

const QUEUE_LOG_LIMIT = 20;
/** Queue items a background scan looks at per event-loop turn. */
const QUEUE_SCAN_SLICE = 2_000;


let randomPool = Buffer.alloc(0);
let randomOffset = 0;

/** 96 random bits as 16 base64url characters; bytes come from a pooled buffer (one syscall per 340 ids). */
function randomIdDefault(): string {
  if (randomOffset + 12 > randomPool.length) {
    randomPool = randomBytes(4096);
    randomOffset = 0;
  }
  const id = randomPool.toString('base64url', randomOffset, randomOffset + 12);
  randomOffset += 12;
  return id;
}

/** The lowdb-backed Store: durable (journal + fsync), group-committed, with write cost independent of data size. */
export class LowdbStore implements Store {
  private readonly dataDir: string;
  private readonly clock: () => Date;
  private readonly randomId: () => string;
  private readonly logger: Logger;
  private readonly outbound: OutboundWorkRegistry;
  private segmentSize: number;
  private readonly checkpointBytes: number;
  private readonly checkpointIntervalMs: number;
  private readonly maxCachedSegments: number;
  private readonly maxIndexedMessages: number;
  private readonly observeCommit: ((seconds: number) => void) | undefined;

  private opened = false;
  private releaseLock: (() => Promise<void>) | undefined;
  private journal: Journal | undefined;
  private commitMark: CommitMarkWriter | undefined;
  private manifest: Low<ManifestData> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointRun: Promise<void> | undefined;
  private checkpointError: string | undefined;
  private lastCheckpointAttempt = 0;

  private conversationDocs!: BucketedCollection<ConversationRecord>;
  private agents!: BucketedCollection<AgentRecord>;
  private records!: BucketedCollection<StoredRecord>;
  private queues!: BucketedCollection<QueueItem>;
  private externalIds!: BucketedCollection<ExternalIdTarget>;
  private attachments!: BucketedCollection<StoredAttachment>;
  private readonly attachmentFiles: AttachmentFiles;
  /** Attachment ids by conversation, and by (conversation, uploader, upload key): rebuilt at open, never stored. */
  private attachmentsOf = new Map<string, Set<string>>();
  private attachmentsByUpload = new Map<string, string>();
  private attachmentBytes = 0;
  /** Content addresses (file folder, sha256) of erased attachments, deleted once their erasure is final. */
  private erasedAttachmentFiles = new Map<string, { folder: string; sha256: string }>();

  private entries = new Map<string, ConversationEntry>();
  private byExternalUser = new Map<string, string>();
  private segments = new Map<string, Doc<SegmentData>>();
  private segmentLoads = new Map<string, Promise<Doc<SegmentData>>>();
  private existingSegmentFiles = new Set<string>();
  private dirty = new Set<AnyDoc>();
  private locks = new Map<string, Promise<void>>();
  /** Queue claims: item id → lease end (ISO). */
  private readonly leases = new Map<string, QueueLease>();
  /** Limits live in memory: one process is every node there is, and a restart may forget them. */
  private readonly rateBuckets = new LocalTokenBuckets();
  private readonly loginAttempts = new Map<string, LoginAttempts>();
  private loginSweepAt = 0;
  private messageCount = 0;
  /** Pending queue items by queue, so polling for due items never scans delivered history. */
  private pendingItems = new Map<string, Map<string, QueueItem>>();
  /** Conversations with a built index, least recently used first, with how many messages each covered. */
  private indexed = new Map<string, number>();
  private indexedTotal = 0;
  /** Cache size at which the next eviction scan runs after one that could not get below the limit. */
  private segmentEvictionRetryAt = 0;
  /**
   * Segment files of erased conversations, deleted once a checkpoint has retired every journal that could still
   * replay into them; also set at open for orphans a crash left behind.
   */
  private erasedSegmentFiles = new Set<string>();
  /** True while an erasure's data may still sit in a journal generation or document not yet rewritten. */
  private erasureUnfinished = false;
  /** Conversations an `x` record still ahead in the journals being replayed erases, with how many (only during open). */
  private erasedInJournal = new Map<string, number>();
  /** Segment documents of erased conversations: a failed checkpoint must not mark them for writing again. */
  private erasedDocs = new WeakSet<AnyDoc>();

  constructor(options: LowdbStoreOptions) {
    this.dataDir = options.dataDir;
    this.clock = options.clock ?? (() => new Date());
    this.randomId = options.randomId ?? randomIdDefault;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.outbound = new OutboundWorkRegistry(this.logger);
    this.segmentSize = options.segmentSize ?? 100;
    this.checkpointBytes = options.checkpointBytes ?? 16 * 1024 * 1024;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 30_000;
    this.maxCachedSegments = options.maxCachedSegments ?? 2000;
    this.maxIndexedMessages = options.maxIndexedMessages ?? 1_000_000;
    this.observeCommit = options.observeCommit;
    this.attachmentFiles = new AttachmentFiles(this.dataDir);
  }

  // ------------------------------------------------------------------ lifecycle

  async open(): Promise<void> {
    if (this.opened) throw new Error(`store on ${this.dataDir} is already open`);
    await mkdir(this.dataDir, { recursive: true });
    const release = await acquireDataDirLock(this.dataDir, this.logger);
    try {
      await this.load();
    } catch (error) {
      await this.journal?.close().catch(() => undefined);
      this.journal = undefined;
      await this.commitMark?.close();
      this.commitMark = undefined;
      await release();
      throw error;
    }
    this.releaseLock = release;
    this.opened = true;
    // An erasure replayed from the journal (a crash before it was answered) or segment files left without a
    // conversation (a crash before they were deleted): finish it before serving, so no file keeps the text.
    if (this.erasureUnfinished || this.erasedSegmentFiles.size > 0) {
      try {
        await this.finishErasures();
      } catch (error) {
        await this.close().catch(() => undefined);
        throw error;
      }
    }
    try {
      const removed = await this.attachmentFiles.sweep((folder, sha256) => this.liveContent(folder, sha256));
      if (removed > 0) this.logger.warn({ files: removed }, 'removed attachment files no stored attachment refers to');
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
    this.checkpointTimer = setInterval(() => {
      if (this.dirty.size > 0 && !this.checkpointRun) this.checkpointInBackground();
    }, this.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearInterval(this.checkpointTimer);
    try {
      await this.checkpointRun?.catch(() => undefined);
      if (this.journal && !this.journal.failing) {
        await this.runCheckpoint().catch((err: unknown) => {
          this.logger.error({ err }, 'final checkpoint failed; the journal still holds every change');
        });
      }
      await this.journal?.close();
      await this.commitMark?.close();
    } finally {
      this.journal = undefined;
      this.commitMark = undefined;
      await this.releaseLock?.();
      this.releaseLock = undefined;
    }
  }

  health(): StoreHealth {
    const lastError = this.journal?.lastError ?? this.checkpointError;
    return {
      ok: this.opened && lastError === undefined,
      engine: 'lowdb',
      dataDir: this.dataDir,
      conversations: this.entries.size,
      messages: this.messageCount,
      attachments: this.attachments.size,
      attachmentBytes: this.attachmentBytes,
      ...(lastError !== undefined ? { lastError } : {}),
    };
  }

  /** Writes every changed document and starts a new journal (runs by itself; exposed for shutdown, tools and tests). */
  async checkpoint(): Promise<void> {
    this.assertOpen();
    while (this.checkpointRun) await this.checkpointRun.catch(() => undefined);
    await this.runCheckpoint();
  }

  private resetState(): void {
    const touch = (doc: AnyDoc): void => this.touch(doc);
    const dir = (name: string): string => join(this.dataDir, name);
    this.conversationDocs = new BucketedCollection(dir(DIRS.conversations), 256, validateConversationRecord, touch, freezeConversationBucket);
    this.agents = new BucketedCollection(dir(DIRS.agents), 1, validateAgent, touch);
    this.records = new BucketedCollection(dir(DIRS.records), 256, validateAny, touch, freezeReplacedItems);
    this.queues = new BucketedCollection(dir(DIRS.queues), 16, validateQueueItem, touch, freezeReplacedItems);
    this.externalIds = new BucketedCollection(dir(DIRS.externalIds), 64, validateExternalId, touch, freezeReplacedItems);
    this.attachments = new BucketedCollection(dir(DIRS.attachments), 64, validateAttachment, touch, freezeReplacedItems);
    this.attachmentsOf = new Map();
    this.attachmentsByUpload = new Map();
    this.attachmentBytes = 0;
    this.erasedAttachmentFiles = new Map();
    this.entries = new Map();
    this.byExternalUser = new Map();
    this.segments = new Map();
    this.segmentLoads = new Map();
    this.existingSegmentFiles = new Set();
    this.dirty = new Set();
    this.locks = new Map();
    this.messageCount = 0;
    this.pendingItems = new Map();
    this.indexed = new Map();
    this.indexedTotal = 0;
    this.segmentEvictionRetryAt = 0;
    this.erasedSegmentFiles = new Set();
    this.erasureUnfinished = false;
    this.checkpointError = undefined;
  }

  private async load(): Promise<void> {
    this.resetState();
    for (const name of Object.values(DIRS)) await mkdir(join(this.dataDir, name), { recursive: true });
    await this.removeTempFiles();

    const rootNames = await readdir(this.dataDir);
    const journals = rootNames
      .map((name) => journalGeneration(name))
      .filter((gen): gen is number => gen !== undefined)
      .sort((a, b) => a - b);

    const manifestAdapter = new AtomicJsonFile<ManifestData>(join(this.dataDir, MANIFEST), (v) =>
      isObject(v) && v.version === 1 && Number.isInteger(v.generation) && Number.isInteger(v.segmentSize)
        ? undefined
        : 'expected {"version":1,"generation":n,"segmentSize":n}',
    );
    const manifestData = await manifestAdapter.read();
    let manifest: ManifestData;
    if (manifestData === null) {
      const hasData =
        journals.length > 0 || (await readdir(join(this.dataDir, DIRS.conversations))).some((n) => n.endsWith('.json'));
      if (hasData) {
        throw new CorruptFileError(join(this.dataDir, MANIFEST), 'is missing although the directory holds data');
      }
      manifest = { version: 1, generation: 1, segmentSize: this.segmentSize };
      await writeFileAtomic(manifestAdapter.path, JSON.stringify(manifest), true);
    } else {
      manifest = manifestData;
    }
    this.manifest = new Low(manifestAdapter, manifest);
    this.segmentSize = manifest.segmentSize;

    await this.conversationDocs.load();
    await this.agents.load();
    await this.records.load();
    await this.queues.load();
    await this.externalIds.load();
    await this.attachments.load();
    for (const [, attachment] of this.attachments.entries()) this.indexAttachment(attachment);
    for (const [, item] of this.queues.entries()) this.indexQueueItem(item);
    for (const [id, record] of this.conversationDocs.entries()) this.indexConversation(id, record);
    for (const name of await readdir(join(this.dataDir, DIRS.segments))) this.existingSegmentFiles.add(name);

    // Journals older than the manifest's generation were folded into the documents by a finished checkpoint.
    for (const gen of journals.filter((g) => g < manifest.generation)) {
      await unlink(join(this.dataDir, journalName(gen)));
    }
    const live = journals.filter((g) => g >= manifest.generation);
    const journalPath = (gen: number): string => join(this.dataDir, journalName(gen));
    const contents = new Map<number, JournalContents>();
    for (const [i, gen] of live.entries()) contents.set(gen, await readJournal(journalPath(gen), i === live.length - 1));
    // Before anything is replayed or cut: a journal shorter than what was acknowledged from it (also cut exactly at
    // a record boundary, which no CRC can see) is refused, and an acknowledged tail is never dropped as "torn".
    const mark = await readCommitMark(this.dataDir, this.logger);
    const validBytes = new Map([...contents].map(([gen, c]) => [gen, c.validBytes]));
    checkJournalsAgainstMark(this.dataDir, mark, manifest.generation, validBytes, journalPath);
    // A crash mid-way through an erasure's checkpoint leaves documents at its cut, after the erasure: the old
    // journal's records of that conversation refer to one the documents no longer hold (or hold without the
    // segments those records extend). Whatever precedes its `x` record is erased by it anyway: skipped.
    this.erasedInJournal = new Map();
    for (const journal of contents.values()) {
      for (const record of journal.records) {
        if (isObject(record) && record.t === 'x' && typeof record.id === 'string') {
          this.erasedInJournal.set(record.id, (this.erasedInJournal.get(record.id) ?? 0) + 1);
        }
      }
    }
    for (const [gen, journal] of contents) {
      const path = journalPath(gen);
      for (const [n, record] of journal.records.entries()) await this.replay(record, path, n + 1);
      if (journal.tornBytes > 0) {
        this.logger.warn({ path, bytes: journal.tornBytes }, 'dropping a torn, never acknowledged journal tail');
        await truncateJournal(path, journal.validBytes);
      } else {
        // A batch written but killed before its fdatasync is in the page cache only: make it durable before the
        // commit mark (fsynced below) claims this length, or a later power loss would look like a truncation.
        await syncJournal(path);
      }
    }
    this.erasedInJournal = new Map();
    this.verifySegmentsPresent();
    this.findOrphanSegments();
    const generation = live.at(-1) ?? manifest.generation;
    const size = validBytes.get(generation) ?? 0;
    const previous = validBytes.get(generation - 1) ?? 0;
    if (live.length === 0) {
      await writeFileAtomic(journalPath(generation), '', true);
    }
    this.commitMark = await CommitMarkWriter.open(this.dataDir, { generation, committed: size, previous }, this.logger);
    this.journal = new Journal(this.dataDir, generation, size, this.logger, () => this.afterBatch(), this.commitMark, previous);
    this.journal.observeCommit = this.observeCommit;
  }

  private async removeTempFiles(): Promise<void> {
    for (const dir of ['', ...Object.values(DIRS)]) {
      const path = join(this.dataDir, dir);
      for (const name of await readdir(path)) {
        if (name.includes(TEMP_MARKER)) await unlink(join(path, name));
      }
    }
  }

  private verifySegmentsPresent(): void {
    for (const [id, entry] of this.entries) {
      const count = Math.ceil(entry.record.conversation.lastSeq / this.segmentSize);
      for (let k = 0; k < count; k++) {
        const name = this.segmentFileName(id, k);
        if (!this.existingSegmentFiles.has(name) && !this.segments.has(this.segmentKey(id, k))) {
          throw new CorruptFileError(
            join(this.dataDir, DIRS.segments, name),
            `is missing although conversation ${id} has ${entry.record.conversation.lastSeq} messages`,
          );
        }
      }
    }
  }

  /** Segment files whose conversation no longer exists: what an erasure interrupted after its checkpoint left. */
  private findOrphanSegments(): void {
    const live = new Set<string>();
    for (const id of this.entries.keys()) live.add(fileKey(id));
    for (const name of this.existingSegmentFiles) {
      const key = name.slice(0, name.indexOf('.'));
      if (!live.has(key)) this.erasedSegmentFiles.add(name);
    }
    for (const name of this.erasedSegmentFiles) this.existingSegmentFiles.delete(name);
    if (this.erasedSegmentFiles.size > 0) {
      this.logger.warn({ files: this.erasedSegmentFiles.size }, 'deleting segment files of erased conversations');
    }
  }

  private async replay(raw: unknown, path: string, line: number): Promise<void> {
    const fail = (problem: string): never => {
      throw new CorruptFileError(path, `line ${line} ${problem}`);
    };
    if (!isObject(raw) || typeof raw.t !== 'string') return fail('is not a journal record');
    const record = raw as JournalRecord;
    switch (record.t) {
      case 'c':
        if (validateConversationRecord(record.v) !== undefined) return fail('holds a malformed conversation');
        if (this.erasedLater(record.v.conversation.id)) return;
        this.putConversationRecord(record.v);
        return;
      case 'm':
        await this.replayMessage(record.v, fail);
        return;
      case 'tx':
        if (!Array.isArray(record.m) || (record.q !== undefined && !Array.isArray(record.q))) {
          return fail('holds a malformed change set');
        }
        for (const m of record.m) await this.replayMessage(m, fail);
        if (record.c !== undefined) {
          if (validateConversationRecord(record.c) !== undefined) return fail('holds a malformed conversation');
          if (!this.erasedLater(record.c.conversation.id)) this.putConversationRecord(record.c);
        }
        for (const item of record.q ?? []) this.putQueueItem(item);
        if (record.r !== undefined && !Array.isArray(record.r)) return fail('holds a malformed change set');
        for (const r of record.r ?? []) this.applyTxRecord(r);
        return;
      case 'a':
        this.agents.set(record.v.id, record.v);
        return;
      case 'r':
        this.records.set(recordKey(record.ns, record.k), {
          value: record.v,
          ...(record.x !== undefined ? { expiresAt: record.x } : {}),
        });
        return;
      case 'rd':
        this.records.delete(recordKey(record.ns, record.k));
        return;
      case 'q':
        this.putQueueItem(record.v);
        return;
      case 'x':
        if (typeof record.id !== 'string' || !Array.isArray(record.r) || !Array.isArray(record.qp)) {
          return fail('holds a malformed erasure');
        }
        const pending = this.erasedInJournal.get(record.id) ?? 0;
        if (pending > 1) this.erasedInJournal.set(record.id, pending - 1);
        else this.erasedInJournal.delete(record.id);
        await this.eraseInMemory(record.id, record.r, record.qp);
        this.erasureUnfinished = true;
        return;
      case 'qd':
        if (!Array.isArray(record.ids)) return fail('holds a malformed queue pruning');
        for (const id of record.ids) this.removeQueueItem(id);
        return;
      case 'at':
        if (validateAttachment(record.v) !== undefined) return fail('holds a malformed attachment');
        if (this.erasedLater(record.v.conversationId)) return;
        if (!this.attachments.get(record.v.id)) {
          this.attachments.set(record.v.id, record.v);
          this.indexAttachment(record.v);
        }
        return;
      default:
        return fail(`has unknown record type ${JSON.stringify((record as { t: string }).t)}`);
    }
  }

  /** During replay: an `x` record further on erases this conversation, so its records before it change nothing. */
  private erasedLater(conversationId: string): boolean {
    return this.erasedInJournal.has(conversationId);
  }

  private async replayMessage(m: Message, fail: (problem: string) => never): Promise<void> {
    if (!isObject(m) || typeof m.conversationId !== 'string' || !Number.isInteger(m.seq) || m.seq < 1) {
      return fail('holds a malformed message');
    }
    if (this.erasedLater(m.conversationId)) return;
    const entry = this.entries.get(m.conversationId);
    if (!entry) return fail(`refers to unknown conversation ${m.conversationId}`);
    const seg = await this.segment(m.conversationId, this.segmentOf(m.seq));
    if (m.seq - 1 - seg.data.segment * this.segmentSize > seg.data.messages.length) {
      return fail(`leaves a gap before message seq ${m.seq}`);
    }
    this.applyMessage(entry, seg, m);
  }

  // ------------------------------------------------------------------ documents, checkpoint

  /** Call before mutating a document: marks it dirty, and serialises it first if a running checkpoint still needs its old state. */
  private touch(doc: AnyDoc): void {
    doc.preserveSnapshot();
    if (!doc.dirty) {
      doc.dirty = true;
      this.dirty.add(doc);
    }
  }

  private afterBatch(): void {
    if (!this.journal || this.checkpointRun) return;
    // After a failed checkpoint (disk full), a journal write that works again means space is back: retry soon,
    // so health() recovers with the disk rather than at the next scheduled checkpoint.
    const retryFailed = this.checkpointError !== undefined && Date.now() - this.lastCheckpointAttempt > 1000;
    if (this.journal.size >= this.checkpointBytes || retryFailed) this.checkpointInBackground();
  }

  private checkpointInBackground(): void {
    this.runCheckpoint().catch((err: unknown) => this.logger.error({ err }, 'checkpoint failed; will retry'));
  }

  private runCheckpoint(): Promise<void> {
    if (this.checkpointRun) return this.checkpointRun;
    const run = this.checkpointOnce().finally(() => {
      if (this.checkpointRun === run) this.checkpointRun = undefined;
    });
    this.checkpointRun = run;
    return run;
  }

  private async checkpointOnce(): Promise<void> {
    this.lastCheckpointAttempt = Date.now();
    const journal = this.journal;
    const manifest = this.manifest;
    if (!journal || !manifest) return;
    // Exact messages, logged before anything is touched and after the old journals are gone: the crash harness
    // (LOG_LEVEL=debug) reads them to tell whether a kill landed mid-checkpoint. `generation` is the one it commits.
    const startedAt = performance.now();
    this.logger.debug({ generation: journal.generation + 1, journalBytes: journal.size }, 'checkpoint started');
    await this.sweepExpiredRecords();
    let snapshot: AnyDoc[] = [];
    // The cut is taken at the instant the old journal's last batch is: the snapshot equals exactly what that
    // journal holds, and copy-on-write (touch) keeps it that way while later changes go to the new journal.
    const generation = await journal.rotate(() => {
      snapshot = [...this.dirty];
      this.dirty.clear();
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
        const segmentsDir = join(this.dataDir, DIRS.segments);
        for (const doc of chunk) {
          doc.clearSnapshot();
          if (doc instanceof SegmentDoc && doc.data.messages.length >= this.segmentSize) doc.dropEncoding();
          // An erased conversation's segment may still be written from this snapshot: its file is deleted later.
          if (doc.adapter.path.startsWith(segmentsDir) && !this.erasedSegmentFiles.has(doc.adapter.name)) {
            this.existingSegmentFiles.add(doc.adapter.name);
          }
        }
      }
      for (const name of Object.values(DIRS)) await fsyncDir(join(this.dataDir, name));
      manifest.data = { version: 1, generation, segmentSize: this.segmentSize };
      await writeFileAtomic(join(this.dataDir, MANIFEST), JSON.stringify(manifest.data), true);
      // The mark already names the new generation (the rotation recorded it); make that durable once per checkpoint.
      await this.commitMark?.sync();
      for (const name of await readdir(this.dataDir)) {
        const gen = journalGeneration(name);
        if (gen !== undefined && gen < generation) await unlink(join(this.dataDir, name));
      }
      this.checkpointError = undefined;
      // The checkpoint made its segments clean, so evictable again.
      this.segmentEvictionRetryAt = 0;
      this.logger.debug(
        { generation, documents: snapshot.length, ms: Math.round(performance.now() - startedAt) },
        'checkpoint finished',
      );
      this.evictSegments();
    } catch (error) {
      for (const doc of snapshot) if (doc.inSnapshot) this.abortSnapshot(doc);
      const err = error as NodeJS.ErrnoException;
      this.checkpointError = `checkpoint failed: ${err.code ?? err.message}`;
      throw error;
    }
  }

  private abortSnapshot(doc: AnyDoc): void {
    doc.clearSnapshot();
    if (this.erasedDocs.has(doc)) return;
    if (!doc.dirty) {
      doc.dirty = true;
      this.dirty.add(doc);
    }
  }

  /** Drops expired records, one bucket per event-loop turn (there may be millions of replay ids). */
  private async sweepExpiredRecords(): Promise<void> {
    const now = this.clock().toISOString();
    for (const doc of this.records.docs) {
      const expired: string[] = [];
      for (const key of Object.keys(doc.data.items)) {
        const expiresAt = doc.data.items[key]!.expiresAt;
        if (expiresAt !== undefined && expiresAt <= now) expired.push(key);
      }
      // Not journaled: if the deletion is lost, the record is still expired and still invisible.
      for (const key of expired) this.records.delete(key);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // ------------------------------------------------------------------ segments and indexes

  private segmentOf(seq: number): number {
    return Math.floor((seq - 1) / this.segmentSize);
  }

  private segmentFileName(conversationId: string, k: number): string {
    return `${fileKey(conversationId)}.${k}.json`;
  }

  private segmentKey(conversationId: string, k: number): string {
    return `${conversationId}\u0000${k}`;
  }

  /** The segment if it is in memory (marked most recently used), without a promise: the append fast path. */
  private cachedSegment(conversationId: string, k: number): Doc<SegmentData> | undefined {
    const key = this.segmentKey(conversationId, k);
    const cached = this.segments.get(key);
    if (cached) {
      this.segments.delete(key);
      this.segments.set(key, cached);
    }
    return cached;
  }

  private async segment(conversationId: string, k: number): Promise<Doc<SegmentData>> {
    const cached = this.cachedSegment(conversationId, k);
    if (cached) return cached;
    const key = this.segmentKey(conversationId, k);
    const loading = this.segmentLoads.get(key);
    if (loading) return loading;
    const load = this.loadSegment(conversationId, k).finally(() => this.segmentLoads.delete(key));
    this.segmentLoads.set(key, load);
    return load;
  }

  private async loadSegment(conversationId: string, k: number): Promise<Doc<SegmentData>> {
    const first = k * this.segmentSize + 1;
    const adapter = new AtomicJsonFile<SegmentData>(
      join(this.dataDir, DIRS.segments, this.segmentFileName(conversationId, k)),
      (v) => {
        if (!isObject(v) || !Array.isArray(v.messages) || v.conversationId !== conversationId || v.segment !== k) {
          return `expected segment ${k} of conversation ${conversationId}`;
        }
        for (const [i, m] of v.messages.entries()) {
          if (!isObject(m) || m.seq !== first + i) return `message ${i} is not seq ${first + i}`;
        }
        return undefined;
      },
      false,
    );
    // A segment never checkpointed has no file yet: skip the failing open() on the append path.
    const onDisk = this.existingSegmentFiles.has(adapter.name);
    // A conversation reusing an erased one's id: its own document will replace that file, so it is not deleted.
    if (this.entries.has(conversationId)) this.erasedSegmentFiles.delete(adapter.name);
    const data = onDisk ? await adapter.read() : null;
    if (onDisk && data === null) throw new CorruptFileError(adapter.path, 'disappeared while the store was running');
    const doc = new SegmentDoc(adapter, data ?? { conversationId, segment: k, messages: [] }, freezeSegment);
    const key = this.segmentKey(conversationId, k);
    const raced = this.segments.get(key);
    if (raced) return raced;
    // Evict before inserting: the new document is not dirty yet, and must stay the one copy its caller changes.
    this.evictSegments(1);
    this.segments.set(key, doc);
    return doc;
  }

  /**
   * Drops least recently used clean segments until `room` more fit. Segments of a conversation with a call in
   * progress stay: that call may hold the document and change it, and a second copy loaded later would diverge.
   */
  private evictSegments(room = 0): void {
    const limit = this.maxCachedSegments;
    if (this.segments.size + room <= limit || this.segments.size + room < this.segmentEvictionRetryAt) return;
    // Down to 90 %: one scan serves the next tenth of the cache's loads, instead of a scan per load.
    const target = Math.floor(limit * 0.9);
    for (const [key, doc] of this.segments) {
      if (this.segments.size + room <= target) break;
      if (!doc.dirty && !doc.inSnapshot && !this.locks.has(doc.data.conversationId)) this.segments.delete(key);
    }
    // What is left is dirty since the last checkpoint or in use (during a fast fill: nearly all). Scanning it again
    // on every load cost O(cache) each — 1,000 conversations rolling over to new segments at once blocked the loop
    // for ~180 ms at 1M messages — so retry only after another tenth of growth, or after a checkpoint.
    const size = this.segments.size + room;
    this.segmentEvictionRetryAt = size > limit ? size + Math.ceil(limit / 10) : 0;
  }

  private async messageAt(conversationId: string, seq: number): Promise<Message> {
    const seg = await this.segment(conversationId, this.segmentOf(seq));
    const m = seg.data.messages[seq - 1 - seg.data.segment * this.segmentSize];
    if (!m) throw new CorruptFileError(seg.adapter.path, `lacks message seq ${seq}`);
    return m;
  }

  /** The conversation's index if built (marked most recently used), without a promise: the append fast path. */
  private builtIndex(conversationId: string, entry: ConversationEntry): ConversationIndex | undefined {
    if (!entry.index) return undefined;
    const lastSeqNow = entry.record.conversation.lastSeq;
    this.indexedTotal += lastSeqNow - (this.indexed.get(conversationId) ?? 0);
    this.indexed.delete(conversationId);
    this.indexed.set(conversationId, lastSeqNow);
    return entry.index;
  }

  private async ensureIndex(conversationId: string, entry: ConversationEntry): Promise<ConversationIndex> {
    const built = this.builtIndex(conversationId, entry);
    if (built) return built;
    const index: ConversationIndex = { bySeqClientId: new Map(), byId: new Map(), revBySeq: [0], logRev: [], logSeq: [] };
    const lastSeq = entry.record.conversation.lastSeq;
    for (let k = 0; k * this.segmentSize < lastSeq; k++) {
      const seg = await this.segment(conversationId, k);
      for (const m of seg.data.messages) {
        index.bySeqClientId.set(m.clientId, m.seq);
        index.byId.set(m.id, m.seq);
        index.revBySeq[m.seq] = m.rev;
      }
    }
    rebuildLog(index);
    entry.index = index;
    this.indexed.set(conversationId, lastSeq);
    this.indexedTotal += lastSeq;
    this.evictIndexes(conversationId);
    return index;
  }

  /** Drops the least recently used indexes beyond the budget; they are rebuilt from the segments when needed. */
  private evictIndexes(keep: string): void {
    for (const [id, count] of this.indexed) {
      if (this.indexedTotal <= this.maxIndexedMessages) return;
      if (id === keep || this.locks.has(id)) continue;
      const entry = this.entries.get(id);
      if (entry) entry.index = undefined;
      this.indexed.delete(id);
      this.indexedTotal -= count;
    }
  }

  /** Applies a message's new full state (creation or change); shared by live calls and journal replay. */
  private applyMessage(entry: ConversationEntry, seg: Doc<SegmentData>, m: Message): void {
    const conversation = entry.record.conversation;
    const position = m.seq - 1 - seg.data.segment * this.segmentSize;
    const previous = seg.data.messages[position];
    this.touch(seg as AnyDoc);
    seg.data.messages[position] = m;
    this.touch(this.conversationDocOf(conversation.id));
    if (m.rev > conversation.rev) conversation.rev = m.rev;
    if (m.seq > conversation.lastSeq) {
      this.messageCount += m.seq - conversation.lastSeq;
      conversation.lastSeq = m.seq;
      conversation.lastActivityAt = m.createdAt;
      conversation.lastMessage = { text: m.text, role: m.author.role, createdAt: m.createdAt, seq: m.seq, status: m.status };
      if (m.author.role === 'visitor' && m.seq > conversation.agentReadSeq) conversation.unread++;
    } else if (conversation.lastMessage?.seq === m.seq) {
      conversation.lastMessage.status = m.status;
    }
    if (m.externalId !== undefined && m.externalId !== previous?.externalId) {
      this.externalIds.set(m.externalId, { conversationId: m.conversationId, messageId: m.id });
    }
    const index = entry.index;
    if (index) {
      index.bySeqClientId.set(m.clientId, m.seq);
      index.byId.set(m.id, m.seq);
      if (index.revBySeq[m.seq] !== m.rev) {
        index.revBySeq[m.seq] = m.rev;
        if (index.logRev.length > 0 && m.rev < index.logRev[index.logRev.length - 1]!) {
          rebuildLog(index);
        } else {
          index.logRev.push(m.rev);
          index.logSeq.push(m.seq);
          if (index.logRev.length > 2 * conversation.lastSeq + 64) rebuildLog(index);
        }
      }
    }
  }

  private conversationDocOf(id: string): AnyDoc {
    return this.conversationDocs.docs[fnv1a(id) % this.conversationDocs.buckets]! as AnyDoc;
  }

  private putConversationRecord(record: ConversationRecord): void {
    const id = record.conversation.id;
    const existing = this.entries.get(id);
    if (existing) {
      const old = existing.record.conversation;
      if (old.externalUserId !== undefined) {
        const key = externalUserKey(old.channel, old.externalUserId);
        if (this.byExternalUser.get(key) === id) this.byExternalUser.delete(key);
      }
      this.messageCount -= old.lastSeq;
    }
    this.conversationDocs.set(id, record);
    this.indexConversation(id, record);
  }

  private indexConversation(id: string, record: ConversationRecord): void {
    const existing = this.entries.get(id);
    if (existing) existing.record = record;
    else this.entries.set(id, { record });
    this.messageCount += record.conversation.lastSeq;
    const c = record.conversation;
    if (c.externalUserId !== undefined) this.byExternalUser.set(externalUserKey(c.channel, c.externalUserId), id);
  }

  // ------------------------------------------------------------------ helpers for calls

  private assertOpen(): void {
    if (!this.opened) throw new StoreError('storage_unavailable', `store on ${this.dataDir} is not open`);
  }

  private journalOrThrow(): Journal {
    this.assertOpen();
    return this.journal!;
  }

  /** Waits until the journal accepts writes (it retries a failed batch first); rejects while storage fails. */
  private async writable(): Promise<Journal> {
    const journal = this.journalOrThrow();
    try {
      await journal.ready();
    } catch {
      throw new StoreError('storage_unavailable', journal.lastError ?? 'storage unavailable');
    }
    return journal;
  }

  private async durable(promise: Promise<void>): Promise<void> {
    try {
      await promise;
    } catch {
      throw new StoreError('storage_unavailable', this.journal?.lastError ?? 'storage unavailable');
    }
  }

  /** Runs `fn` alone for one conversation (seq assignment, index building); changes to different ones run concurrently. */
  private async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.locks.set(id, tail);
    if (previous) await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  private entryOrThrow(id: string): ConversationEntry {
    const entry = this.entries.get(id);
    if (!entry) throw new StoreError('not_found', `conversation ${id} not found`);
    return entry;
  }

  private now(): string {
    return this.clock().toISOString();
  }

  /** Journals the whole conversation record (creation, state, read pointers). */
  private changeConversation(entry: ConversationEntry, change: (record: ConversationRecord) => void): Promise<void> {
    this.changeConversationInMemory(entry, change);
    return this.journal!.append({ t: 'c', v: entry.record } satisfies JournalRecord);
  }

  /** The conversation change without its journal line (it goes into a `tx` line with what changed with it). */
  private changeConversationInMemory(entry: ConversationEntry, change: (record: ConversationRecord) => void): void {
    this.touch(this.conversationDocOf(entry.record.conversation.id));
    const before = entry.record.conversation;
    const beforeKey = before.externalUserId !== undefined ? externalUserKey(before.channel, before.externalUserId) : undefined;
    change(entry.record);
    const after = entry.record.conversation;
    if (beforeKey !== undefined && this.byExternalUser.get(beforeKey) === after.id) this.byExternalUser.delete(beforeKey);
    if (after.externalUserId !== undefined) this.byExternalUser.set(externalUserKey(after.channel, after.externalUserId), after.id);
  }

  /** Registers outbound work; asked inside every later append and status change (see `Store.addOutboundWork`). */
  addOutboundWork(work: OutboundWork): () => void {
    return this.outbound.add(work);
  }

  /** New queue items for the ids not queued yet, in memory; the caller journals them with the change. */
  private queueOutbound(items: OutboundItem[], now: string): QueueItem[] {
    const queued: QueueItem[] = [];
    for (const { queue, id, payload } of items) {
      if (this.queues.get(id)) continue;
      const item = newQueueItem(queue, id, copyJson(payload), now);
      this.putQueueItem(item);
      queued.push(item);
    }
    return queued;
  }

  // ------------------------------------------------------------------ conversations

  async createConversation(input: NewConversation): Promise<Conversation> {
    const journal = await this.writable();
    const id = input.id ?? this.randomId();
    let durable: Promise<void> = journal.barrier();
    const conversation = await this.exclusive(id, async () => {
      // Inside the lock: a racing creator's record may be in the batch being written.
      durable = journal.barrier();
      const existing = this.entries.get(id);
      if (existing) return cloneConversation(existing.record.conversation);
      const now = this.now();
      const conversation: Conversation = {
        id,
        channel: input.channel,
        name: input.name,
        ...(input.externalUserId !== undefined ? { externalUserId: input.externalUserId } : {}),
        ...(input.site !== undefined ? { site: input.site } : {}),
        state: 'open',
        createdAt: now,
        lastActivityAt: now,
        lastSeq: 0,
        rev: 0,
        agentReadSeq: 0,
        visitorReadSeq: 0,
        unread: 0,
      };
      const record: ConversationRecord = { conversation, deliveredVisitorSeq: 0, deliveredAgentSeq: 0 };
      this.putConversationRecord(record);
      durable = journal.append({ t: 'c', v: record } satisfies JournalRecord);
      return cloneConversation(conversation);
    });
    await this.durable(durable);
    return conversation;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    this.assertOpen();
    const entry = this.entries.get(id);
    return entry ? cloneConversation(entry.record.conversation) : undefined;
  }

  async findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    this.assertOpen();
    const id = this.byExternalUser.get(externalUserKey(channel, externalUserId));
    return id === undefined ? undefined : this.getConversation(id);
  }

  async setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation> {
    return this.updateConversation(id, (c) => c.externalUserId !== externalUserId, (c) => {
      c.externalUserId = externalUserId;
    });
  }

  async setConversationState(id: string, state: ConversationState): Promise<Conversation> {
    return this.updateConversation(id, (c) => c.state !== state, (c) => {
      c.state = state;
      if (state === 'closed') c.closedAt = this.now();
      else delete c.closedAt;
    });
  }

  async setConversationAssignee(
    id: string,
    assigneeId: string | null,
    options: { onlyIfUnassigned?: boolean } = {},
  ): Promise<Conversation> {
    return this.updateConversation(
      id,
      (c) => (c.assigneeId ?? null) !== assigneeId && !(options.onlyIfUnassigned && c.assigneeId !== undefined),
      (c) => {
        if (assigneeId === null) delete c.assigneeId;
        else c.assigneeId = assigneeId;
      },
    );
  }

  async setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation> {
    const next = email === null ? undefined : page;
    return this.updateConversation(id, (c) => (c.visitorEmail ?? null) !== email || (next !== undefined && c.visitorPage !== next), (c) => {
      setVisitorEmailFields(c, email, next);
    });
  }

  async unassignAgentConversations(agentId: string): Promise<Conversation[]> {
    this.assertOpen();
    const ids = [...this.entries].filter(([, entry]) => entry.record.conversation.assigneeId === agentId).map(([id]) => id);
    const changed: Conversation[] = [];
    for (const id of ids) {
      // Checked again under the conversation's lock: it may have been transferred meanwhile.
      const journal = await this.writable();
      let durable: Promise<void> = journal.barrier();
      const conversation = await this.exclusive(id, async () => {
        durable = journal.barrier();
        const entry = this.entries.get(id);
        if (!entry || entry.record.conversation.assigneeId !== agentId) return undefined;
        durable = this.changeConversation(entry, (r) => {
          delete r.conversation.assigneeId;
        });
        return cloneConversation(entry.record.conversation);
      });
      await this.durable(durable);
      if (conversation) changed.push(conversation);
    }
    return changed;
  }

  private async updateConversation(
    id: string,
    needed: (c: Conversation) => boolean,
    change: (c: Conversation) => void,
  ): Promise<Conversation> {
    const journal = await this.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.exclusive(id, async () => {
      durable = journal.barrier();
      const entry = this.entryOrThrow(id);
      if (needed(entry.record.conversation)) durable = this.changeConversation(entry, (r) => change(r.conversation));
      return cloneConversation(entry.record.conversation);
    });
    await this.durable(durable);
    return result;
  }

  async eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    const journal = await this.writable();
    const records = (related.records ?? []).map(({ namespace, key }): [string, string] => [namespace, key]);
    const prefixes = related.queueItemIdPrefixes ?? [];
    let existed = false;
    let durable: Promise<void> = journal.barrier();
    // Found before the lock, one bucket per event-loop turn: there may be hundreds of thousands of queue items.
    const queueItemIds = await this.queueItemsMatching(prefixes);
    await this.exclusive(id, async () => {
      const entry = this.entries.get(id);
      if (related.ifClosedBefore !== undefined && !(entry && closedBefore(entry.record.conversation, related.ifClosedBefore))) {
        return;
      }
      existed = entry !== undefined;
      const removedSomething = await this.eraseInMemory(id, records, prefixes, queueItemIds);
      if (!existed && !removedSomething) {
        durable = journal.barrier();
        return;
      }
      this.erasureUnfinished = true;
      durable = journal.append({ t: 'x', id, r: records, qp: prefixes } satisfies JournalRecord);
    });
    await this.durable(durable);
    if (this.erasureUnfinished || this.erasedSegmentFiles.size > 0) {
      try {
        await this.finishErasures();
      } catch (error) {
        const err = error as NodeJS.ErrnoException;
        throw new StoreError('storage_unavailable', `erasure not finished on disk: ${err.code ?? err.message}`);
      }
    }
    return existed;
  }

  /**
   * Makes erasures final on disk: a checkpoint cut after their journal records rewrites every document that held
   * their data and deletes every older journal generation; only then are their segment files deleted (before it,
   * replaying an old journal would still need them).
   */
  private async finishErasures(): Promise<void> {
    while (this.checkpointRun) await this.checkpointRun.catch(() => undefined);
    const files = [...this.erasedSegmentFiles];
    this.erasureUnfinished = false;
    try {
      await this.runCheckpoint();
    } catch (error) {
      this.erasureUnfinished = true;
      throw error;
    }
    const dir = join(this.dataDir, DIRS.segments);
    for (const name of files) {
      // The name may have been reused by a new conversation with the same id since: then it holds its data.
      if (this.existingSegmentFiles.has(name)) continue;
      await rm(join(dir, name), { force: true });
      this.erasedSegmentFiles.delete(name);
    }
    await fsyncDir(dir);
    for (const [key, { folder, sha256 }] of [...this.erasedAttachmentFiles]) {
      // A conversation reusing the id may have stored the same content since: then the file is its own.
      if (!this.liveContent(folder, sha256)) await this.attachmentFiles.remove(folder, sha256);
      this.erasedAttachmentFiles.delete(key);
    }
  }

  /**
   * Removes a conversation and what else held its data from memory (live calls and replay); true when anything
   * was removed. Runs under the conversation's lock when live.
   */
  /** Ids of queue items starting with one of `prefixes`, scanned a bucket per event-loop turn. */
  private async queueItemsMatching(prefixes: string[]): Promise<string[]> {
    if (prefixes.length === 0) return [];
    const matches = prefixMatcher(prefixes);
    const ids: string[] = [];
    for (const doc of this.queues.docs) {
      for (const itemId of Object.keys(doc.data.items)) if (matches(itemId)) ids.push(itemId);
      await yieldToLoop();
    }
    return ids;
  }

  private async eraseInMemory(
    id: string,
    records: [string, string][],
    prefixes: string[],
    /** The queue items to remove when already looked up (live calls); replay scans for `prefixes` itself. */
    queueItemIds?: string[],
  ): Promise<boolean> {
    let removed = false;
    const entry = this.entries.get(id);
    if (entry) {
      removed = true;
      const conversation = entry.record.conversation;
      const segmentCount = Math.ceil(conversation.lastSeq / this.segmentSize);
      for (let k = 0; k < segmentCount; k++) {
        const seg = await this.segment(id, k);
        for (const m of seg.data.messages) {
          if (m?.externalId === undefined) continue;
          const target = this.externalIds.get(m.externalId);
          if (target?.conversationId === id) this.externalIds.delete(m.externalId);
        }
      }
      for (let k = 0; k < segmentCount; k++) {
        const key = this.segmentKey(id, k);
        const doc = this.segments.get(key);
        if (doc) {
          // Not written by the next checkpoint; a running one may still write its snapshot, deleted afterwards.
          this.dirty.delete(doc as AnyDoc);
          this.erasedDocs.add(doc as AnyDoc);
          doc.dirty = false;
          this.segments.delete(key);
        }
        const name = this.segmentFileName(id, k);
        if (this.existingSegmentFiles.delete(name) || doc?.inSnapshot) this.erasedSegmentFiles.add(name);
      }
      if (conversation.externalUserId !== undefined) {
        const key = externalUserKey(conversation.channel, conversation.externalUserId);
        if (this.byExternalUser.get(key) === id) this.byExternalUser.delete(key);
      }
      this.messageCount -= conversation.lastSeq;
      this.conversationDocs.delete(id);
      this.entries.delete(id);
      for (const attachmentId of [...(this.attachmentsOf.get(id) ?? [])]) {
        const attachment = this.attachments.get(attachmentId);
        if (!attachment) continue;
        this.attachments.delete(attachmentId);
        this.unindexAttachment(attachment);
        const folder = fileKey(id);
        this.erasedAttachmentFiles.set(`${folder}/${attachment.sha256}`, { folder, sha256: attachment.sha256 });
      }
      const indexedCount = this.indexed.get(id);
      if (indexedCount !== undefined) {
        this.indexed.delete(id);
        this.indexedTotal -= indexedCount;
      }
    }
    for (const [namespace, key] of records) {
      const storeKey = recordKey(namespace, key);
      if (this.records.get(storeKey) === undefined) continue;
      this.records.delete(storeKey);
      removed = true;
    }
    let doomed = queueItemIds;
    if (doomed === undefined && prefixes.length > 0) {
      const matches = prefixMatcher(prefixes);
      doomed = [];
      for (const [itemId] of this.queues.entries()) if (matches(itemId)) doomed.push(itemId);
    }
    for (const itemId of doomed ?? []) {
      if (!this.queues.get(itemId)) continue;
      this.removeQueueItem(itemId);
      removed = true;
    }
    return removed;
  }

  async closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    this.assertOpen();
    const ids: string[] = [];
    let scanned = 0;
    for (const [id, entry] of [...this.entries]) {
      if (ids.length >= limit) break;
      if (closedBefore(entry.record.conversation, before)) ids.push(id);
      // A background caller (retention) over many conversations: let chat traffic in between.
      if (++scanned % SCAN_SLICE === 0) await yieldToLoop();
    }
    return ids;
  }

  async listConversations(query: ConversationQuery): Promise<Conversation[]> {
    this.assertOpen();
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const needle = query.query?.trim().toLowerCase() || undefined;
    const candidates: Conversation[] = [];
    for (const entry of this.entries.values()) {
      const c = entry.record.conversation;
      if (c.lastSeq === 0) continue;
      if (query.filter === 'open' && c.state !== 'open') continue;
      if (query.assigneeId !== undefined && (c.assigneeId ?? null) !== query.assigneeId) continue;
      candidates.push(c);
    }
    candidates.sort((a, b) =>
      a.lastActivityAt === b.lastActivityAt ? (a.id < b.id ? 1 : -1) : a.lastActivityAt < b.lastActivityAt ? 1 : -1,
    );
    const result: Conversation[] = [];
    for (const c of candidates) {
      if (result.length >= limit) break;
      if (needle === undefined || c.name.toLowerCase().includes(needle) || (await this.anyMessageMatches(c, needle))) {
        result.push(cloneConversation(c));
      }
    }
    return result;
  }

  /** Linear scan of a conversation's messages, newest segment first (segments load through the bounded cache). */
  private async anyMessageMatches(c: Conversation, needle: string): Promise<boolean> {
    for (let k = this.segmentOf(c.lastSeq); k >= 0; k--) {
      const seg = await this.segment(c.id, k);
      if (seg.data.messages.some((m) => m.text.toLowerCase().includes(needle))) return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ messages

  async appendMessage(input: NewMessage): Promise<AppendResult> {
    // The chat's hot path: the common cases (healthy journal, index built, segment cached) take no extra promise.
    const journal = this.opened && this.journal && !this.journal.failing ? this.journal : await this.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.exclusive(input.conversationId, async (): Promise<AppendResult> => {
      const entry = this.entryOrThrow(input.conversationId);
      const index = this.builtIndex(input.conversationId, entry) ?? (await this.ensureIndex(input.conversationId, entry));
      const existingSeq = index.bySeqClientId.get(input.clientId);
      if (existingSeq !== undefined) {
        // The original may still be in the batch being written: answer only once it is durable (barrier above).
        durable = journal.barrier();
        const original = await this.messageAt(input.conversationId, existingSeq);
        return { message: cloneMessage(original), created: false, conversation: cloneConversation(entry.record.conversation) };
      }
      const conversation = entry.record.conversation;
      const seq = conversation.lastSeq + 1;
      const k = this.segmentOf(seq);
      const seg = this.cachedSegment(input.conversationId, k) ?? (await this.segment(input.conversationId, k));
      const now = this.now();
      const status: StoredStatus = input.status ?? 'sent';
      const statusAt: Message['statusAt'] = { [status]: now };
      if (status === 'read') statusAt.delivered = now;
      const author: Author = { role: input.author.role };
      if (input.author.agentId !== undefined) author.agentId = input.author.agentId;
      if (input.author.name !== undefined) author.name = input.author.name;
      const message: Message = {
        id: this.randomId(),
        conversationId: input.conversationId,
        seq,
        rev: conversation.rev + 1,
        clientId: input.clientId,
        author,
        text: input.text,
        ...(input.attachments && input.attachments.length > 0
          ? { attachments: input.attachments.map((a) => ({ ...a })) }
          : {}),
        createdAt: now,
        status,
        statusAt,
        ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
      };
      this.applyMessage(entry, seg, message);
      const reopened = input.reopen === true && conversation.state === 'closed';
      const assigned = input.assignIfUnassigned !== undefined && conversation.assigneeId === undefined;
      if (reopened || assigned) {
        this.changeConversationInMemory(entry, (r) => {
          if (reopened) {
            r.conversation.state = 'open';
            delete r.conversation.closedAt;
          }
          if (assigned) r.conversation.assigneeId = input.assignIfUnassigned;
        });
      }
      const result = { message: cloneMessage(message), created: true, conversation: cloneConversation(conversation) };
      const queued = this.queueOutbound(this.outbound.messageCreated(result.message, result.conversation), now);
      // The common case stays one small `m` line; a message with a reopen, an assignment or outbound work is one `tx` line.
      const changed = reopened || assigned;
      durable =
        changed || queued.length > 0
          ? journal.append({ t: 'tx', m: [message], ...(changed ? { c: entry.record } : {}), q: queued } satisfies JournalRecord)
          : journal.append({ t: 'm', v: message } satisfies JournalRecord);
      return result;
    });
    await this.durable(durable);
    return result;
  }

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    this.assertOpen();
    const entry = this.entries.get(conversationId);
    if (!entry) return undefined;
    return this.exclusive(conversationId, async () => {
      const index = await this.ensureIndex(conversationId, entry);
      const seq = index.byId.get(messageId);
      return seq === undefined ? undefined : cloneMessage(await this.messageAt(conversationId, seq));
    });
  }

  async getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    this.assertOpen();
    const entry = this.entries.get(conversationId);
    if (!entry) return [];
    return this.exclusive(conversationId, async () => {
      const lastSeq = entry.record.conversation.lastSeq;
      const end = opts.beforeSeq === undefined ? lastSeq : Math.min(opts.beforeSeq - 1, lastSeq);
      const start = Math.max(1, end - Math.max(0, Math.floor(opts.limit)) + 1);
      const messages: Message[] = [];
      for (let seq = start; seq <= end; seq++) messages.push(cloneMessage(await this.messageAt(conversationId, seq)));
      return messages;
    });
  }

  async getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    this.assertOpen();
    const entry = this.entries.get(conversationId);
    // A client that is up to date (every reconnect after a restart storm) costs no index build.
    if (!entry || afterRev >= entry.record.conversation.rev) return [];
    return this.exclusive(conversationId, async () => {
      const index = await this.ensureIndex(conversationId, entry);
      let lo = 0;
      let hi = index.logRev.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (index.logRev[mid]! > afterRev) hi = mid;
        else lo = mid + 1;
      }
      const messages: Message[] = [];
      for (let i = lo; i < index.logRev.length && messages.length < limit; i++) {
        const seq = index.logSeq[i]!;
        if (index.revBySeq[seq] !== index.logRev[i]) continue;
        messages.push(cloneMessage(await this.messageAt(conversationId, seq)));
      }
      return messages;
    });
  }

  async applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    const journal = await this.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.exclusive(conversationId, async (): Promise<StatusResult> => {
      durable = journal.barrier();
      const entry = this.entryOrThrow(conversationId);
      const index = await this.ensureIndex(conversationId, entry);
      const seq = index.byId.get(messageId);
      if (seq === undefined) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
      const seg = await this.segment(conversationId, this.segmentOf(seq));
      const current = await this.messageAt(conversationId, seq);
      // From here to the journal append nothing awaits: the once-check and the change are one step.
      if (once && this.liveRecord(once.namespace, once.key)) {
        throw new StoreError('conflict', `record ${once.namespace}/${once.key} exists already`);
      }
      const records = once ? [this.txRecord(once.namespace, once.key, once.value, once.expiresAt)] : [];
      const changed: Message[] = [];
      const failedAgain = update.again === true && current.status === 'failed' && update.status === 'failed';
      if (isStatusAdvance(current.status, update.status) || failedAgain) {
        const next = advance(current, update.status, update.at ?? this.now(), entry.record.conversation.rev + 1, update);
        this.applyMessage(entry, seg, next);
        changed.push(cloneMessage(next));
        const queued = this.queueOutbound(this.outbound.statusChanged(changed, cloneConversation(entry.record.conversation)), this.now());
        durable =
          queued.length > 0 || records.length > 0
            ? journal.append({ t: 'tx', m: [next], q: queued, ...(records.length > 0 ? { r: records } : {}) } satisfies JournalRecord)
            : journal.append({ t: 'm', v: next } satisfies JournalRecord);
      } else if (records.length > 0) {
        durable = journal.append({ t: 'tx', m: [], r: records } satisfies JournalRecord);
      }
      return { changed, conversation: cloneConversation(entry.record.conversation) };
    });
    await this.durable(durable);
    return result;
  }

  async applyReceipt(
    conversationId: string,
    authorRole: 'visitor' | 'agent',
    upToSeq: number,
    status: 'delivered' | 'read',
  ): Promise<StatusResult> {
    const journal = await this.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.exclusive(conversationId, async (): Promise<StatusResult> => {
      durable = journal.barrier();
      const entry = this.entryOrThrow(conversationId);
      const record = entry.record;
      const conversation = record.conversation;
      const readMark = authorRole === 'visitor' ? conversation.agentReadSeq : conversation.visitorReadSeq;
      const deliveredMark = authorRole === 'visitor' ? record.deliveredVisitorSeq : record.deliveredAgentSeq;
      // Messages at or below the watermark already have the status: start after it, so a receipt costs only
      // the messages it newly covers, however long the conversation.
      const start = (status === 'read' ? readMark : Math.max(readMark, deliveredMark)) + 1;
      const end = Math.min(Math.floor(upToSeq), conversation.lastSeq);
      const changed: Message[] = [];
      if (end < start) return { changed, conversation: cloneConversation(conversation) };
      const segs = new Map<number, Doc<SegmentData>>();
      for (let k = this.segmentOf(start); k <= this.segmentOf(end); k++) segs.set(k, await this.segment(conversationId, k));
      const at = this.now();
      const nexts: Message[] = [];
      let nowRead = 0;
      for (let seq = start; seq <= end; seq++) {
        const seg = segs.get(this.segmentOf(seq))!;
        const m = seg.data.messages[seq - 1 - seg.data.segment * this.segmentSize]!;
        if (m.author.role !== authorRole) continue;
        if (authorRole === 'visitor' && status === 'read') nowRead++;
        if (!isStatusAdvance(m.status, status)) continue;
        const next = advance(m, status, at, conversation.rev + 1);
        this.applyMessage(entry, seg, next);
        nexts.push(next);
        changed.push(cloneMessage(next));
      }
      const wouldChange =
        end > (authorRole === 'visitor' ? record.deliveredVisitorSeq : record.deliveredAgentSeq) ||
        (status === 'read' && end > readMark) ||
        nowRead > 0;
      if (wouldChange) this.changeConversationInMemory(entry, (r) => {
        const c = r.conversation;
        if (authorRole === 'visitor') {
          r.deliveredVisitorSeq = Math.max(r.deliveredVisitorSeq, end);
          if (status === 'read') {
            c.agentReadSeq = Math.max(c.agentReadSeq, end);
            c.unread = Math.max(0, c.unread - nowRead);
          }
        } else {
          r.deliveredAgentSeq = Math.max(r.deliveredAgentSeq, end);
          if (status === 'read') c.visitorReadSeq = Math.max(c.visitorReadSeq, end);
        }
      });
      const queued = this.queueOutbound(this.outbound.statusChanged(changed, cloneConversation(conversation)), at);
      if (queued.length > 0) {
        durable = journal.append({ t: 'tx', m: nexts, ...(wouldChange ? { c: record } : {}), q: queued } satisfies JournalRecord);
      } else {
        for (const next of nexts) durable = journal.append({ t: 'm', v: next } satisfies JournalRecord);
        if (wouldChange) durable = journal.append({ t: 'c', v: record } satisfies JournalRecord);
      }
      return { changed, conversation: cloneConversation(conversation) };
    });
    await this.durable(durable);
    return result;
  }

  async setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    const journal = await this.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.exclusive(conversationId, async () => {
      durable = journal.barrier();
      const entry = this.entryOrThrow(conversationId);
      const index = await this.ensureIndex(conversationId, entry);
      const seq = index.byId.get(messageId);
      if (seq === undefined) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
      const seg = await this.segment(conversationId, this.segmentOf(seq));
      const current = await this.messageAt(conversationId, seq);
      if (current.externalId === externalId) return cloneMessage(current);
      // From here to the journal append nothing awaits: a status kept for this id is either seen here or finds the
      // id linked (applyStatusByExternalId checks and keeps in one synchronous step too).
      // The channel accepted it: agents see the reply become `sent` (sync resends it), also after a failed attempt.
      const next: Message = { ...cloneMessage(current), externalId, rev: entry.record.conversation.rev + 1 };
      if (next.status === 'failed') {
        next.status = 'sent';
        delete next.failure;
      }
      this.applyMessage(entry, seg, next);
      // The acceptance is a status change for receivers too (`sent` with the channel's id): queued in this step.
      const queued = this.queueOutbound(this.outbound.statusChanged([cloneMessage(next)], cloneConversation(entry.record.conversation)), this.now());
      const messages = [next];
      const records: TxRecord[] = [];
      const kept = this.liveRecord(PENDING_STATUS_NAMESPACE, externalId)?.value as StatusUpdate | undefined;
      if (this.records.get(recordKey(PENDING_STATUS_NAMESPACE, externalId)) !== undefined) {
        records.push(this.txRecordRemoved(PENDING_STATUS_NAMESPACE, externalId));
      }
      if (kept && isStatusAdvance(next.status, kept.status)) {
        const after = advance(next, kept.status, kept.at ?? this.now(), entry.record.conversation.rev + 1, kept);
        this.applyMessage(entry, seg, after);
        messages.push(after);
        queued.push(...this.queueOutbound(this.outbound.statusChanged([cloneMessage(after)], cloneConversation(entry.record.conversation)), this.now()));
      }
      durable =
        queued.length > 0 || messages.length > 1 || records.length > 0
          ? journal.append({ t: 'tx', m: messages, q: queued, ...(records.length > 0 ? { r: records } : {}) } satisfies JournalRecord)
          : journal.append({ t: 'm', v: next } satisfies JournalRecord);
      return cloneMessage(messages[messages.length - 1]!);
    });
    await this.durable(durable);
    return result;
  }

  async applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    const journal = await this.writable();
    const target = this.externalIds.get(externalId);
    if (target) {
      try {
        return await this.applyStatus(target.conversationId, target.messageId, update, options.once);
      } catch (error) {
        // The id named a message that is gone (never in a consistent store): the same answer as an unknown id.
        if (!(error instanceof StoreError && error.code === 'not_found')) throw error;
      }
    }
    // No await from the lookup above to the append: setExternalId, which takes what is kept here, runs in between
    // or after as a whole.
    const { once, keepUntil } = options;
    if (once && this.liveRecord(once.namespace, once.key)) {
      throw new StoreError('conflict', `record ${once.namespace}/${once.key} exists already`);
    }
    const records: TxRecord[] = [];
    const kept = this.liveRecord(PENDING_STATUS_NAMESPACE, externalId)?.value as StatusUpdate | undefined;
    if (keepUntil !== undefined && (!kept || STATUS_RANK[update.status] > STATUS_RANK[kept.status])) {
      records.push(this.txRecord(PENDING_STATUS_NAMESPACE, externalId, update, keepUntil));
    }
    if (once) records.push(this.txRecord(once.namespace, once.key, once.value, once.expiresAt));
    await this.durable(records.length > 0 ? journal.append({ t: 'tx', m: [], r: records } satisfies JournalRecord) : journal.barrier());
    return undefined;
  }

  async findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    this.assertOpen();
    const target = this.externalIds.get(externalId);
    return target ? this.getMessage(target.conversationId, target.messageId) : undefined;
  }

  // ------------------------------------------------------------------ agents

  async createAgent(agent: AgentRecord): Promise<void> {
    const journal = await this.writable();
    for (const [, existing] of this.agents.entries()) {
      if (existing.id === agent.id || existing.name === agent.name) {
        throw new StoreError('conflict', `agent ${agent.name} already exists`);
      }
    }
    const record = agentRecord(agent);
    this.agents.set(record.id, record);
    await this.durable(journal.append({ t: 'a', v: record } satisfies JournalRecord));
  }

  async getAgentByName(name: string): Promise<AgentRecord | undefined> {
    this.assertOpen();
    for (const [, agent] of this.agents.entries()) if (agent.name === name) return agentRecord(agent);
    return undefined;
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    this.assertOpen();
    const agent = this.agents.get(id);
    return agent ? agentRecord(agent) : undefined;
  }

  async countAgents(): Promise<number> {
    this.assertOpen();
    return this.agents.size;
  }

  async listAgents(): Promise<AgentRecord[]> {
    this.assertOpen();
    return [...this.agents.entries()].map(([, agent]) => agentRecord(agent)).sort(byCreation);
  }

  async updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    const journal = await this.writable();
    // From here to the journal append nothing awaits: the last-admin check and the change are one step.
    const current = this.agents.get(id);
    if (!current) throw new StoreError('not_found', `no agent ${id}`);
    const before = agentRecord(current);
    const next: AgentRecord = {
      ...before,
      ...(change.displayName !== undefined ? { displayName: change.displayName } : {}),
      ...(change.role !== undefined ? { role: change.role } : {}),
      ...(change.active !== undefined ? { active: change.active } : {}),
      ...(change.passwordHash !== undefined ? { passwordHash: change.passwordHash } : {}),
      ...(change.availability !== undefined ? { availability: change.availability } : {}),
      ...(change.email ? { email: change.email } : {}),
      sessionEpoch: before.sessionEpoch + (change.revokeSessions ? 1 : 0),
    };
    if (change.email === null) delete next.email;
    if (isActiveAdmin(before) && !isActiveAdmin(next)) {
      let others = 0;
      for (const [otherId, other] of this.agents.entries()) if (otherId !== id && isActiveAdmin(agentRecord(other))) others++;
      if (others === 0) throw new StoreError('last_admin', 'the last active admin must stay an active admin');
    }
    this.agents.set(id, next);
    await this.durable(journal.append({ t: 'a', v: next } satisfies JournalRecord));
    return { ...next };
  }

  // ------------------------------------------------------------------ attachments

  private indexAttachment(attachment: StoredAttachment): void {
    let ids = this.attachmentsOf.get(attachment.conversationId);
    if (!ids) this.attachmentsOf.set(attachment.conversationId, (ids = new Set()));
    ids.add(attachment.id);
    this.attachmentsByUpload.set(uploadKeyOf(attachment.conversationId, attachment.uploader, attachment.uploadKey), attachment.id);
    this.attachmentBytes += attachment.size + (attachment.thumbnailSize ?? 0);
  }

  private unindexAttachment(attachment: StoredAttachment): void {
    const ids = this.attachmentsOf.get(attachment.conversationId);
    ids?.delete(attachment.id);
    if (ids?.size === 0) this.attachmentsOf.delete(attachment.conversationId);
    this.attachmentsByUpload.delete(uploadKeyOf(attachment.conversationId, attachment.uploader, attachment.uploadKey));
    this.attachmentBytes -= attachment.size + (attachment.thumbnailSize ?? 0);
  }

  /** True when a stored attachment of the conversation whose file folder is `folder` has this content. */
  private liveContent(folder: string, sha256: string): boolean {
    for (const [conversationId, ids] of this.attachmentsOf) {
      if (fileKey(conversationId) !== folder) continue;
      for (const id of ids) if (this.attachments.get(id)?.sha256 === sha256) return true;
    }
    return false;
  }

  async putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    const journal = await this.writable();
    const dedupeKey = uploadKeyOf(input.conversationId, input.uploader, input.uploadKey);
    const known = (): StoredAttachment | undefined => {
      const id = this.attachmentsByUpload.get(dedupeKey);
      return id === undefined ? undefined : this.attachments.get(id);
    };
    const earlier = known();
    if (earlier) {
      // It may still be in the batch being written: answer only once it is durable.
      await this.durable(journal.barrier());
      return { attachment: { ...earlier }, created: false };
    }
    this.entryOrThrow(input.conversationId);
    const sha256 = createHash('sha256').update(input.content).digest('hex');
    const folder = fileKey(input.conversationId);
    // Outside the conversation's lock (a large file must not hold up its messages); the same content written
    // twice is the same file, so a racing upload is harmless.
    try {
      await this.attachmentFiles.write(folder, sha256, input.content, input.thumbnail);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      throw new StoreError('storage_unavailable', `attachment file not written: ${err.code ?? err.message}`);
    }
    let durable: Promise<void> = journal.barrier();
    let result: { attachment: StoredAttachment; created: boolean };
    try {
      result = await this.exclusive(input.conversationId, async () => {
        this.entryOrThrow(input.conversationId);
        const raced = known();
        if (raced) {
          durable = journal.barrier();
          return { attachment: { ...raced }, created: false };
        }
        const attachment: StoredAttachment = {
          id: this.randomId(),
          conversationId: input.conversationId,
          uploader: input.uploader,
          uploadKey: input.uploadKey,
          name: input.name,
          type: input.type,
          size: input.content.byteLength,
          sha256,
          ...(input.thumbnail ? { thumbnailSize: input.thumbnail.byteLength } : {}),
          createdAt: this.now(),
        };
        this.attachments.set(attachment.id, attachment);
        this.indexAttachment(attachment);
        durable = journal.append({ t: 'at', v: attachment } satisfies JournalRecord);
        return { attachment: { ...attachment }, created: true };
      });
    } catch (error) {
      // The conversation was erased meanwhile: the file just written belongs to nothing.
      if (!this.liveContent(folder, sha256)) await this.attachmentFiles.remove(folder, sha256).catch(() => undefined);
      throw error;
    }
    await this.durable(durable);
    return result;
  }

  async getAttachment(id: string): Promise<StoredAttachment | undefined> {
    this.assertOpen();
    const attachment = this.attachments.get(id);
    return attachment ? { ...attachment } : undefined;
  }

  async findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    this.assertOpen();
    const id = this.attachmentsByUpload.get(uploadKeyOf(conversationId, uploader, uploadKey));
    const attachment = id === undefined ? undefined : this.attachments.get(id);
    return attachment ? { ...attachment } : undefined;
  }

  async readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    this.assertOpen();
    const attachment = this.attachments.get(id);
    if (!attachment || (variant === 'thumbnail' && attachment.thumbnailSize === undefined)) return undefined;
    try {
      return await this.attachmentFiles.read(fileKey(attachment.conversationId), attachment.sha256, variant);
    } catch (error) {
      // Erased while it was being read: as if it never existed.
      if (!this.attachments.get(id)) return undefined;
      const err = error as NodeJS.ErrnoException;
      throw new StoreError('storage_unavailable', `attachment file ${attachment.sha256} unreadable: ${err.code ?? err.message}`);
    }
  }

  // ------------------------------------------------------------------ records

  private liveRecord(namespace: string, key: string): StoredRecord | undefined {
    const record = this.records.get(recordKey(namespace, key));
    if (!record) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= this.now()) return undefined;
    return record;
  }

  async putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    const journal = await this.writable();
    await this.durable(this.writeRecord(journal, namespace, key, value, expiresAt));
  }

  /** Sets a record in memory and returns its line for a `tx` record. */
  private txRecord(namespace: string, key: string, value: unknown, expiresAt?: string): TxRecord {
    const line: TxRecord = { ns: namespace, k: key, v: copyJson(value) };
    if (expiresAt !== undefined) line.x = expiresAt;
    this.applyTxRecord(line);
    return line;
  }

  /** Removes a record in memory and returns its line for a `tx` record. */
  private txRecordRemoved(namespace: string, key: string): TxRecord {
    const line: TxRecord = { ns: namespace, k: key, d: true };
    this.applyTxRecord(line);
    return line;
  }

  private applyTxRecord(line: TxRecord): void {
    if (line.d) this.records.delete(recordKey(line.ns, line.k));
    else this.records.set(recordKey(line.ns, line.k), { value: line.v, ...(line.x !== undefined ? { expiresAt: line.x } : {}) });
  }

  private writeRecord(journal: Journal, namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    const line: JournalRecord = { t: 'r', ns: namespace, k: key, v: copyJson(value) };
    if (expiresAt !== undefined) line.x = expiresAt;
    this.records.set(recordKey(namespace, key), { value: line.v, ...(expiresAt !== undefined ? { expiresAt } : {}) });
    return journal.append(line);
  }

  async getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    this.assertOpen();
    return copyJson(this.liveRecord(namespace, key)?.value) as T | undefined;
  }

  async deleteRecord(namespace: string, key: string): Promise<void> {
    const journal = await this.writable();
    const storeKey = recordKey(namespace, key);
    if (this.records.get(storeKey) === undefined) return;
    this.records.delete(storeKey);
    await this.durable(journal.append({ t: 'rd', ns: namespace, k: key } satisfies JournalRecord));
  }

  async addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    const journal = await this.writable();
    if (this.liveRecord(namespace, key)) {
      await this.durable(journal.barrier());
      return false;
    }
    await this.durable(this.writeRecord(journal, namespace, key, value, expiresAt));
    return true;
  }

  /** A scan of every record: namespaces listed this way (saved replies, settings) are few and small. */
  async listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    this.assertOpen();
    const now = this.now();
    const prefix = recordKey(namespace, '');
    const records: RecordDump[] = [];
    for (const [storeKey, record] of this.records.entries()) {
      if (!storeKey.startsWith(prefix)) continue;
      if (record.expiresAt !== undefined && record.expiresAt <= now) continue;
      records.push({
        namespace,
        key: storeKey.slice(prefix.length),
        value: copyJson(record.value),
        ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
      });
    }
    records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return records.slice(0, Math.max(0, limit));
  }

  // ------------------------------------------------------------------ queues

  async enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    const journal = await this.writable();
    const itemId = id ?? this.randomId();
    const existing = this.queues.get(itemId);
    if (existing) {
      await this.durable(journal.barrier());
      return copyJson(existing) as QueueItem<T>;
    }
    const now = this.now();
    const item: QueueItem = newQueueItem(queue, itemId, copyJson(payload), now);
    this.putQueueItem(item);
    await this.durable(journal.append({ t: 'q', v: item } satisfies JournalRecord));
    return copyJson(item) as QueueItem<T>;
  }

  async dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    this.assertOpen();
    return this.dueNow(queue, now, limit).map((item) => copyJson(item) as QueueItem<T>);
  }

  /** One process per data directory: a lease only has to hold against this process's other workers, so it lives in memory. */
  async claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]> {
    this.assertOpen();
    const items = this.dueNow(queue, now, limit);
    for (const item of items) this.leases.set(item.id, { ...lease });
    return items.map((item) => copyJson(item) as QueueItem<T>);
  }

  private dueNow(queue: string, now: string, limit: number): QueueItem[] {
    const due: QueueItem[] = [];
    for (const item of this.pendingItems.get(queue)?.values() ?? []) {
      if (item.dueAt > now) continue;
      const leased = this.leases.get(item.id);
      if (leased !== undefined && leased.until > now) continue;
      due.push(item);
    }
    due.sort((a, b) => (a.dueAt === b.dueAt ? compare(a.createdAt, b.createdAt) : compare(a.dueAt, b.dueAt)));
    return due.slice(0, Math.max(0, limit));
  }

  async updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean> {
    const journal = await this.writable();
    if (owner !== undefined && this.leases.get(item.id)?.owner !== owner) return false;
    this.leases.delete(item.id);
    const stored = copyJson(item) as QueueItem;
    stored.log = stored.log.slice(-QUEUE_LOG_LIMIT);
    this.putQueueItem(stored);
    await this.durable(journal.append({ t: 'q', v: stored } satisfies JournalRecord));
    return true;
  }

  async pruneQueueItems(before: string, limit: number): Promise<number> {
    this.assertOpen();
    const prunable = (item: QueueItem | undefined): boolean => item !== undefined && item.state !== 'pending' && item.updatedAt < before;
    const candidates: string[] = [];
    // QUEUE_SCAN_SLICE items per event-loop turn: a sweep over hundreds of thousands of items never holds the loop
    // long, however full one bucket is.
    for (const doc of this.queues.docs) {
      const ids = Object.keys(doc.data.items);
      for (let i = 0; i < ids.length && candidates.length < limit; i++) {
        if (prunable(doc.data.items[ids[i]!])) candidates.push(ids[i]!);
        if ((i + 1) % QUEUE_SCAN_SLICE === 0) await yieldToLoop();
      }
      if (candidates.length >= limit) break;
      await yieldToLoop();
    }
    const journal = await this.writable();
    // Checked again: an item may have been retried (pending again) while the scan yielded.
    const ids = candidates.filter((id) => prunable(this.queues.get(id)));
    if (ids.length === 0) return 0;
    for (const id of ids) this.removeQueueItem(id);
    await this.durable(journal.append({ t: 'qd', ids } satisfies JournalRecord));
    return ids.length;
  }

  private removeQueueItem(id: string): void {
    const item = this.queues.get(id);
    if (!item) return;
    this.pendingItems.get(item.queue)?.delete(id);
    this.leases.delete(id);
    this.queues.delete(id);
  }

  private putQueueItem(item: QueueItem): void {
    const previous = this.queues.get(item.id);
    if (previous && previous.queue !== item.queue) this.pendingItems.get(previous.queue)?.delete(item.id);
    this.queues.set(item.id, item);
    this.indexQueueItem(item);
  }

  private indexQueueItem(item: QueueItem): void {
    let pending = this.pendingItems.get(item.queue);
    if (item.state === 'pending') {
      if (!pending) this.pendingItems.set(item.queue, (pending = new Map()));
      pending.set(item.id, item);
    } else {
      pending?.delete(item.id);
    }
  }

  async listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    this.assertOpen();
    const items: QueueItem[] = [];
    for (const [, item] of this.queues.entries()) if (item.queue === queue) items.push(item);
    items.sort((a, b) => compare(b.createdAt, a.createdAt));
    return items.slice(0, limit).map((item) => copyJson(item) as QueueItem<T>);
  }

  async countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    this.assertOpen();
    const counts = { pending: 0, delivered: 0, dead: 0 };
    for (const [, item] of this.queues.entries()) if (item.queue === queue) counts[item.state] += 1;
    return counts;
  }

  async takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    this.assertOpen();
    return this.rateBuckets.take(key, perMinute, this.clock().getTime());
  }

  async claimLoginAttempt(account: string): Promise<RateDecision> {
    this.assertOpen();
    const now = this.clock().getTime();
    const { attempts, decision } = claimLoginAttempt(this.loginAttempts.get(account), now);
    this.loginAttempts.set(account, attempts);
    // Accounts nobody tried for a while start from zero anyway: drop them (once a minute) so the map stays small.
    if (now - this.loginSweepAt >= 60_000) {
      this.loginSweepAt = now;
      for (const [key, value] of this.loginAttempts) {
        if (now - value.lastAttemptAt >= LOGIN_THROTTLE.forgetAfterMs) this.loginAttempts.delete(key);
      }
    }
    return decision;
  }

  async clearLoginAttempts(account: string): Promise<void> {
    this.assertOpen();
    this.loginAttempts.delete(account);
  }

  // ------------------------------------------------------------------ export (moving to another engine)

  /**
   * Every conversation with its watermarks and messages, one at a time (so the store never sits in memory whole),
   * for `npm run import-lowdb`. Conversations erased meanwhile are skipped.
   */
  async *exportConversations(): AsyncGenerator<ConversationDump> {
    this.assertOpen();
    for (const id of [...this.entries.keys()]) {
      const dump = await this.exclusive(id, async (): Promise<ConversationDump | undefined> => {
        const entry = this.entries.get(id);
        if (!entry) return undefined;
        const { conversation, deliveredVisitorSeq, deliveredAgentSeq } = entry.record;
        const messages: Message[] = [];
        for (let seq = 1; seq <= conversation.lastSeq; seq++) messages.push(cloneMessage(await this.messageAt(id, seq)));
        const linked =
          conversation.externalUserId !== undefined &&
          this.byExternalUser.get(externalUserKey(conversation.channel, conversation.externalUserId)) === id;
        return {
          conversation: cloneConversation(conversation),
          deliveredVisitorSeq,
          deliveredAgentSeq,
          currentExternalUserLink: linked,
          messages,
        };
      });
      if (dump) yield dump;
    }
  }

  /** Every agent account (for `npm run import-lowdb`). */
  exportAgents(): AgentRecord[] {
    this.assertOpen();
    return [...this.agents.entries()].map(([, agent]) => agentRecord(agent));
  }

  /** Every record that has not expired (for `npm run import-lowdb`). */
  exportRecords(): RecordDump[] {
    this.assertOpen();
    const now = this.now();
    const records: RecordDump[] = [];
    for (const [storeKey, record] of this.records.entries()) {
      if (record.expiresAt !== undefined && record.expiresAt <= now) continue;
      const split = storeKey.indexOf('\u0000');
      records.push({
        namespace: storeKey.slice(0, split),
        key: storeKey.slice(split + 1),
        value: copyJson(record.value),
        ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
      });
    }
    return records;
  }

  /** Every queue item of every queue, in any state, without leases (they end with the process); for `npm run import-lowdb`. */
  exportQueueItems(): QueueItem[] {
    this.assertOpen();
    return [...this.queues.entries()].map(([, item]) => copyJson(item));
  }

  /** Every attachment's description (bytes through `readAttachment`), for `npm run import-lowdb`. */
  exportAttachments(): StoredAttachment[] {
    this.assertOpen();
    return [...this.attachments.entries()].map(([, attachment]) => ({ ...attachment }));
  }
}

/** Closed, and both its closing and its last activity are before `before` (ISO): what retention may erase. */
function closedBefore(c: Conversation, before: string): boolean {
  return c.state === 'closed' && (c.closedAt ?? c.lastActivityAt) < before && c.lastActivityAt < before;
}

/** Conversations looked at per event-loop turn by background scans. */
const SCAN_SLICE = 2000;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A test for "starts with one of `prefixes`" in O(log n) per id: sorted, without prefixes that extend a shorter
 * one, the only candidate for an id is the greatest prefix not above it (any string between a prefix p and an id
 * starting with p starts with p too).
 */
function prefixMatcher(prefixes: string[]): (id: string) => boolean {
  const sorted = [...new Set(prefixes)].filter((p) => p.length > 0).sort(compare);
  const kept: string[] = [];
  for (const p of sorted) if (kept.length === 0 || !p.startsWith(kept[kept.length - 1]!)) kept.push(p);
  return (id) => {
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (kept[mid]! <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && id.startsWith(kept[lo - 1]!);
  };
}


function rebuildLog(index: ConversationIndex): void {
  const seqs: number[] = [];
  for (let seq = 1; seq < index.revBySeq.length; seq++) if (index.revBySeq[seq] !== undefined) seqs.push(seq);
  seqs.sort((a, b) => index.revBySeq[a]! - index.revBySeq[b]!);
  index.logSeq = seqs;
  index.logRev = seqs.map((seq) => index.revBySeq[seq]!);
}

/** The message moved up to `status` at `at`: `read` implies `delivered`; `failed` carries its failure. */
function advance(m: Message, status: StoredStatus, at: string, rev: number, update?: StatusUpdate): Message {
  const next = cloneMessage(m);
  next.status = status;
  next.rev = rev;
  next.statusAt[status] ??= at;
  if (status === 'read') next.statusAt.delivered ??= at;
  if (status === 'failed') next.failure = update?.failure ?? { code: 'unknown', reason: 'delivery failed' };
  else delete next.failure;
  return next;
}
