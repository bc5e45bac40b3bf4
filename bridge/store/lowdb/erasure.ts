/**
 * Erasure of a conversation and what else held its data: removed from memory and journaled as one `x` line (with the
 * record the erasure writes, if any), then made final on disk by a checkpoint that rewrites every document holding it,
 * after which its segment and attachment files are deleted.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError, type ConversationErasure, type Store } from '../store.ts';
import { fsyncDir } from './atomic-json-file.ts';
import type { Checkpoints } from './checkpoints.ts';
import type { ConversationIndexes } from './conversation-indexes.ts';
import { closedBefore } from './conversations.ts';
import { DIRS, type AnyDoc } from './documents.ts';
import type { JournalRecord } from './journal-records.ts';
import type { LowdbAttachments } from './attachments.ts';
import type { LowdbState } from './lowdb-state.ts';
import { prefixMatcher, type LowdbQueues } from './queues.ts';
import type { LowdbRecords } from './records.ts';
import type { SegmentCache } from './segment-cache.ts';
import { externalUserKey, fileKey, recordKey } from './stored-shapes.ts';

/** The erasure call of the Store, and the erasure steps journal replay repeats. */
export class Erasure implements Pick<Store, 'eraseConversation'> {
  /** Content addresses (file folder, sha256) of erased attachments, deleted once their erasure is final. */
  erasedAttachmentFiles = new Map<string, { folder: string; sha256: string }>();

  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
    private readonly indexes: ConversationIndexes,
    private readonly queues: LowdbQueues,
    private readonly attachments: LowdbAttachments,
    private readonly checkpoints: Checkpoints,
    private readonly records: LowdbRecords,
  ) {}

  /** Forgets pending file deletions (before an open loads the data directory). */
  reset(): void {
    this.erasedAttachmentFiles = new Map();
  }

  /** True while an erasure is not final on disk yet (journal or files still hold its data). */
  unfinished(): boolean {
    return this.s.erasureUnfinished || this.segments.erasedFiles.size > 0;
  }

  async eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    const journal = await this.s.writable();
    const records = (related.records ?? []).map(({ namespace, key }): [string, string] => [namespace, key]);
    const prefixes = related.queueItemIdPrefixes ?? [];
    let existed = false;
    let durable: Promise<void> = journal.barrier();
    // Found before the lock, one bucket per event-loop turn: there may be hundreds of thousands of queue items.
    const queueItemIds = await this.queues.queueItemsMatching(prefixes);
    await this.s.exclusive(id, async () => {
      const entry = this.s.entries.get(id);
      if (related.ifClosedBefore !== undefined && !(entry && closedBefore(entry.record.conversation, related.ifClosedBefore))) {
        return;
      }
      existed = entry !== undefined;
      const removedSomething = await this.eraseInMemory(id, records, prefixes, queueItemIds);
      if (!existed && !removedSomething) {
        durable = journal.barrier();
        return;
      }
      this.s.erasureUnfinished = true;
      const line: Extract<JournalRecord, { t: 'x' }> = { t: 'x', id, r: records, qp: prefixes };
      // On the erasure's own line: replay finds both or neither.
      const { remember } = related;
      if (existed && remember) line.w = this.records.txRecord(remember.namespace, remember.key, remember.value, remember.expiresAt);
      durable = journal.append(line);
    });
    await this.s.durable(durable);
    if (this.s.erasureUnfinished || this.segments.erasedFiles.size > 0) {
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
  async finishErasures(): Promise<void> {
    while (this.checkpoints.running) await this.checkpoints.running.catch(() => undefined);
    const files = [...this.segments.erasedFiles];
    this.s.erasureUnfinished = false;
    try {
      await this.checkpoints.run();
    } catch (error) {
      this.s.erasureUnfinished = true;
      throw error;
    }
    const dir = join(this.s.dataDir, DIRS.segments);
    for (const name of files) {
      // The name may have been reused by a new conversation with the same id since: then it holds its data.
      if (this.segments.existingFiles.has(name)) continue;
      await rm(join(dir, name), { force: true });
      this.segments.erasedFiles.delete(name);
    }
    await fsyncDir(dir);
    for (const [key, { folder, sha256 }] of [...this.erasedAttachmentFiles]) {
      // A conversation reusing the id may have stored the same content since: then the file is its own.
      if (!this.attachments.liveContent(folder, sha256)) await this.attachments.files.remove(folder, sha256);
      this.erasedAttachmentFiles.delete(key);
    }
  }

  /**
   * Removes a conversation and what else held its data from memory (live calls and replay); true when anything
   * was removed. Runs under the conversation's lock when live.
   */
  async eraseInMemory(
    id: string,
    records: [string, string][],
    prefixes: string[],
    /** The queue items to remove when already looked up (live calls); replay scans for `prefixes` itself. */
    queueItemIds?: string[],
  ): Promise<boolean> {
    let removed = false;
    const entry = this.s.entries.get(id);
    if (entry) {
      removed = true;
      const conversation = entry.record.conversation;
      const segmentCount = Math.ceil(conversation.lastSeq / this.s.segmentSize);
      for (let k = 0; k < segmentCount; k++) {
        const seg = await this.segments.get(id, k);
        for (const m of seg.data.messages) {
          if (m?.externalId === undefined) continue;
          const target = this.s.externalIdBuckets.get(m.externalId);
          if (target?.conversationId === id) this.s.externalIdBuckets.delete(m.externalId);
        }
      }
      for (let k = 0; k < segmentCount; k++) {
        const key = this.segments.key(id, k);
        const doc = this.segments.docs.get(key);
        if (doc) {
          // Not written by the next checkpoint; a running one may still write its snapshot, deleted afterwards.
          this.s.dirty.delete(doc as AnyDoc);
          this.checkpoints.erasedDocs.add(doc as AnyDoc);
          doc.dirty = false;
          this.segments.docs.delete(key);
        }
        const name = this.segments.fileName(id, k);
        if (this.segments.existingFiles.delete(name) || doc?.inSnapshot) this.segments.erasedFiles.add(name);
      }
      if (conversation.externalUserId !== undefined) {
        const key = externalUserKey(conversation.channel, conversation.externalUserId);
        if (this.s.byExternalUser.get(key) === id) this.s.byExternalUser.delete(key);
      }
      this.s.messageCount -= conversation.lastSeq;
      this.s.conversationBuckets.delete(id);
      this.s.entries.delete(id);
      for (const attachmentId of [...(this.attachments.byConversation.get(id) ?? [])]) {
        const attachment = this.s.attachmentBuckets.get(attachmentId);
        if (!attachment) continue;
        this.s.attachmentBuckets.delete(attachmentId);
        this.attachments.unindex(attachment);
        const folder = fileKey(id);
        this.erasedAttachmentFiles.set(`${folder}/${attachment.sha256}`, { folder, sha256: attachment.sha256 });
      }
      this.indexes.forget(id);
    }
    for (const [namespace, key] of records) {
      const storeKey = recordKey(namespace, key);
      if (this.s.recordBuckets.get(storeKey) === undefined) continue;
      this.s.recordBuckets.delete(storeKey);
      removed = true;
    }
    let doomed = queueItemIds;
    if (doomed === undefined && prefixes.length > 0) {
      const matches = prefixMatcher(prefixes);
      doomed = [];
      for (const [itemId] of this.s.queueBuckets.entries()) if (matches(itemId)) doomed.push(itemId);
    }
    for (const itemId of doomed ?? []) {
      if (!this.s.queueBuckets.get(itemId)) continue;
      this.queues.removeQueueItem(itemId);
      removed = true;
    }
    return removed;
  }
}
