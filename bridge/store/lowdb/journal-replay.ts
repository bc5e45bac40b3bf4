/**
 * Opening a data directory: the manifest, the bucket documents and their in-memory indexes, then every live journal
 * generation replayed onto them (checked against the commit mark first; a torn, never acknowledged tail dropped).
 */
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { Message } from '../../../protocol/message.ts';
import { AtomicJsonFile, CorruptFileError, TEMP_MARKER, writeFileAtomic } from './atomic-json-file.ts';
import type { LowdbAttachments } from './attachments.ts';
import type { Checkpoints } from './checkpoints.ts';
import { CommitMarkWriter, checkJournalsAgainstMark, readCommitMark } from './commit-mark.ts';
import type { LowdbConversations } from './conversations.ts';
import { DIRS, MANIFEST, type ManifestData } from './documents.ts';
import type { Erasure } from './erasure.ts';
import type { JournalRecord } from './journal-records.ts';
import { Journal, journalGeneration, journalName, readJournal, syncJournal, truncateJournal, type JournalContents } from './journal.ts';
import type { LowdbState } from './lowdb-state.ts';
import type { LowdbMessages } from './messages.ts';
import type { LowdbQueues } from './queues.ts';
import type { LowdbRecords } from './records.ts';
import type { SegmentCache } from './segment-cache.ts';
import { isObject, recordKey, validateAttachment, validateConversationRecord } from './stored-shapes.ts';

/** Loads the data directory into the engine's state at open. */
export class JournalReplay {
  /** Conversations an `x` record still ahead in the journals being replayed erases, with how many (only during open). */
  private erasedInJournal = new Map<string, number>();

  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
    private readonly checkpoints: Checkpoints,
    private readonly conversations: LowdbConversations,
    private readonly messages: LowdbMessages,
    private readonly queues: LowdbQueues,
    private readonly records: LowdbRecords,
    private readonly attachments: LowdbAttachments,
    private readonly erasure: Erasure,
  ) {}

  /** Loads the documents, replays the live journals onto them and opens the journal for writing. */
  async load(): Promise<void> {
    for (const name of Object.values(DIRS)) await mkdir(join(this.s.dataDir, name), { recursive: true });
    await this.removeTempFiles();

    const rootNames = await readdir(this.s.dataDir);
    const journals = rootNames
      .map((name) => journalGeneration(name))
      .filter((gen): gen is number => gen !== undefined)
      .sort((a, b) => a - b);

    const manifestAdapter = new AtomicJsonFile<ManifestData>(join(this.s.dataDir, MANIFEST), (v) =>
      isObject(v) && v.version === 1 && Number.isInteger(v.generation) && Number.isInteger(v.segmentSize)
        ? undefined
        : 'expected {"version":1,"generation":n,"segmentSize":n}',
    );
    const manifestData = await manifestAdapter.read();
    let manifest: ManifestData;
    if (manifestData === null) {
      const hasData =
        journals.length > 0 || (await readdir(join(this.s.dataDir, DIRS.conversations))).some((n) => n.endsWith('.json'));
      if (hasData) {
        throw new CorruptFileError(join(this.s.dataDir, MANIFEST), 'is missing although the directory holds data');
      }
      manifest = { version: 1, generation: 1, segmentSize: this.s.segmentSize };
      await writeFileAtomic(manifestAdapter.path, JSON.stringify(manifest), true);
    } else {
      manifest = manifestData;
    }
    this.checkpoints.manifest = new Low(manifestAdapter, manifest);
    this.s.segmentSize = manifest.segmentSize;

    await this.s.conversationBuckets.load();
    await this.s.agentBuckets.load();
    await this.s.recordBuckets.load();
    await this.s.queueBuckets.load();
    await this.s.externalIdBuckets.load();
    await this.s.attachmentBuckets.load();
    for (const [, attachment] of this.s.attachmentBuckets.entries()) this.attachments.index(attachment);
    for (const [, item] of this.s.queueBuckets.entries()) this.queues.indexQueueItem(item);
    for (const [id, record] of this.s.conversationBuckets.entries()) this.conversations.indexConversation(id, record);
    for (const name of await readdir(join(this.s.dataDir, DIRS.segments))) this.segments.existingFiles.add(name);

    // Journals older than the manifest's generation were folded into the documents by a finished checkpoint.
    for (const gen of journals.filter((g) => g < manifest.generation)) {
      await unlink(join(this.s.dataDir, journalName(gen)));
    }
    const live = journals.filter((g) => g >= manifest.generation);
    const journalPath = (gen: number): string => join(this.s.dataDir, journalName(gen));
    const contents = new Map<number, JournalContents>();
    for (const [i, gen] of live.entries()) contents.set(gen, await readJournal(journalPath(gen), i === live.length - 1));
    // Before anything is replayed or cut: a journal shorter than what was acknowledged from it (also cut exactly at
    // a record boundary, which no CRC can see) is refused, and an acknowledged tail is never dropped as "torn".
    const mark = await readCommitMark(this.s.dataDir, this.s.logger);
    const validBytes = new Map([...contents].map(([gen, c]) => [gen, c.validBytes]));
    checkJournalsAgainstMark(this.s.dataDir, mark, manifest.generation, validBytes, journalPath);
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
        this.s.logger.warn({ path, bytes: journal.tornBytes }, 'dropping a torn, never acknowledged journal tail');
        await truncateJournal(path, journal.validBytes);
      } else {
        // A batch written but killed before its fdatasync is in the page cache only: make it durable before the
        // commit mark (fsynced below) claims this length, or a later power loss would look like a truncation.
        await syncJournal(path);
      }
    }
    this.erasedInJournal = new Map();
    this.segments.verifyPresent();
    this.segments.findOrphans();
    const generation = live.at(-1) ?? manifest.generation;
    const size = validBytes.get(generation) ?? 0;
    const previous = validBytes.get(generation - 1) ?? 0;
    if (live.length === 0) {
      await writeFileAtomic(journalPath(generation), '', true);
    }
    this.s.commitMark = await CommitMarkWriter.open(this.s.dataDir, { generation, committed: size, previous }, this.s.logger);
    this.s.journal = new Journal(this.s.dataDir, generation, size, this.s.logger, () => this.checkpoints.afterBatch(), this.s.commitMark, previous);
    this.s.journal.observeCommit = this.s.observeCommit;
  }

  private async removeTempFiles(): Promise<void> {
    for (const dir of ['', ...Object.values(DIRS)]) {
      const path = join(this.s.dataDir, dir);
      for (const name of await readdir(path)) {
        if (name.includes(TEMP_MARKER)) await unlink(join(path, name));
      }
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
        this.conversations.putConversationRecord(record.v);
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
          if (!this.erasedLater(record.c.conversation.id)) this.conversations.putConversationRecord(record.c);
        }
        for (const item of record.q ?? []) this.queues.putQueueItem(item);
        if (record.r !== undefined && !Array.isArray(record.r)) return fail('holds a malformed change set');
        for (const r of record.r ?? []) this.records.applyTxRecord(r);
        return;
      case 'a':
        this.s.agentBuckets.set(record.v.id, record.v);
        return;
      case 'r':
        this.s.recordBuckets.set(recordKey(record.ns, record.k), {
          value: record.v,
          ...(record.x !== undefined ? { expiresAt: record.x } : {}),
        });
        return;
      case 'rd':
        this.s.recordBuckets.delete(recordKey(record.ns, record.k));
        return;
      case 'q':
        this.queues.putQueueItem(record.v);
        return;
      case 'x': {
        if (typeof record.id !== 'string' || !Array.isArray(record.r) || !Array.isArray(record.qp)) {
          return fail('holds a malformed erasure');
        }
        const pending = this.erasedInJournal.get(record.id) ?? 0;
        if (pending > 1) this.erasedInJournal.set(record.id, pending - 1);
        else this.erasedInJournal.delete(record.id);
        if (record.w !== undefined && !(isObject(record.w) && typeof record.w.ns === 'string' && typeof record.w.k === 'string')) {
          return fail('holds a malformed erasure');
        }
        await this.erasure.eraseInMemory(record.id, record.r, record.qp);
        if (record.w !== undefined) this.records.applyTxRecord(record.w);
        this.s.erasureUnfinished = true;
        return;
      }
      case 'qd':
        if (!Array.isArray(record.ids)) return fail('holds a malformed queue pruning');
        for (const id of record.ids) this.queues.removeQueueItem(id);
        return;
      case 'at':
        if (validateAttachment(record.v) !== undefined) return fail('holds a malformed attachment');
        if (this.erasedLater(record.v.conversationId)) return;
        if (!this.s.attachmentBuckets.get(record.v.id)) {
          this.s.attachmentBuckets.set(record.v.id, record.v);
          this.attachments.index(record.v);
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
    const entry = this.s.entries.get(m.conversationId);
    if (!entry) return fail(`refers to unknown conversation ${m.conversationId}`);
    const seg = await this.segments.get(m.conversationId, this.segments.segmentOf(m.seq));
    if (m.seq - 1 - seg.data.segment * this.s.segmentSize > seg.data.messages.length) {
      return fail(`leaves a gap before message seq ${m.seq}`);
    }
    this.messages.applyMessage(entry, seg, m);
  }
}
