/**
 * `LowdbStore`: the embedded, durable, flat-cost implementation of `Store`, on lowdb JSON files.
 *
 * Every change is applied in memory and appended to a journal (one CRC-checked JSON line per record); concurrent
 * changes share one write + fdatasync (group commit), and callers resolve only after it. A checkpoint later writes
 * the changed lowdb documents (per-conversation message segments, bucketed indexes) atomically and starts a new
 * journal, so no write ever re-serialises the whole database. This class only composes the parts of the engine, one
 * file each in this folder; README.md here describes the file layout, the crash argument and the limits.
 */
import { mkdir } from 'node:fs/promises';
import type { Message } from '../../../protocol/message.ts';
import type { Channel, Conversation, ConversationState } from '../../../protocol/conversation.ts';
import type {
  AgentChange,
  AgentRecord,
  AppendResult,
  ConversationDump,
  ConversationErasure,
  ConversationQuery,
  ExternalStatusOptions,
  NewAttachment,
  NewConversation,
  NewMessage,
  OnceRecord,
  OutboundWork,
  QueueItem,
  QueueLease,
  RateDecision,
  RecordDump,
  StatusResult,
  StatusUpdate,
  Store,
  StoreHealth,
  StoredAttachment,
} from '../store.ts';
import { LowdbAgents } from './agents.ts';
import { LowdbAttachments } from './attachments.ts';
import { Checkpoints } from './checkpoints.ts';
import { ConversationIndexes } from './conversation-indexes.ts';
import { LowdbConversations } from './conversations.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { Erasure } from './erasure.ts';
import { JournalReplay } from './journal-replay.ts';
import { LowdbState, type LowdbStoreOptions } from './lowdb-state.ts';
import { LowdbMessages } from './messages.ts';
import { LowdbQueues } from './queues.ts';
import { LowdbRateLimits } from './rate-limits.ts';
import { LowdbRecords } from './records.ts';
import { SegmentCache } from './segment-cache.ts';

export type { LowdbStoreOptions } from './lowdb-state.ts';

/** The lowdb-backed Store: durable (journal + fsync), group-committed, with write cost independent of data size. */
export class LowdbStore implements Store {
  private readonly s: LowdbState;
  private readonly segments: SegmentCache;
  private readonly indexes: ConversationIndexes;
  private readonly records: LowdbRecords;
  private readonly queues: LowdbQueues;
  private readonly agents: LowdbAgents;
  private readonly attachments: LowdbAttachments;
  private readonly rateLimits: LowdbRateLimits;
  private readonly conversations: LowdbConversations;
  private readonly messages: LowdbMessages;
  private readonly checkpoints: Checkpoints;
  private readonly erasure: Erasure;
  private readonly replay: JournalReplay;
  private releaseLock: (() => Promise<void>) | undefined;

  constructor(options: LowdbStoreOptions) {
    const s = new LowdbState(options);
    this.s = s;
    this.segments = new SegmentCache(s);
    this.indexes = new ConversationIndexes(s, this.segments);
    this.records = new LowdbRecords(s);
    this.queues = new LowdbQueues(s);
    this.agents = new LowdbAgents(s);
    this.attachments = new LowdbAttachments(s);
    this.rateLimits = new LowdbRateLimits(s);
    this.conversations = new LowdbConversations(s, this.segments);
    this.messages = new LowdbMessages(s, this.segments, this.indexes, this.conversations, this.queues, this.records);
    this.checkpoints = new Checkpoints(s, this.segments, this.records);
    this.erasure = new Erasure(s, this.segments, this.indexes, this.queues, this.attachments, this.checkpoints, this.records);
    this.replay = new JournalReplay(
      s,
      this.segments,
      this.checkpoints,
      this.conversations,
      this.messages,
      this.queues,
      this.records,
      this.attachments,
      this.erasure,
    );
  }

  // lifecycle

  async open(): Promise<void> {
    if (this.s.opened) throw new Error(`store on ${this.s.dataDir} is already open`);
    await mkdir(this.s.dataDir, { recursive: true });
    const release = await acquireDataDirLock(this.s.dataDir, this.s.logger);
    try {
      await this.load();
    } catch (error) {
      await this.s.journal?.close().catch(() => undefined);
      this.s.journal = undefined;
      await this.s.commitMark?.close();
      this.s.commitMark = undefined;
      await release();
      throw error;
    }
    this.releaseLock = release;
    this.s.opened = true;
    // An erasure replayed from the journal (a crash before it was answered) or segment files left without a
    // conversation (a crash before they were deleted): finish it before serving, so no file keeps the text.
    if (this.erasure.unfinished()) {
      try {
        await this.erasure.finishErasures();
      } catch (error) {
        await this.close().catch(() => undefined);
        throw error;
      }
    }
    try {
      const removed = await this.attachments.files.sweep((folder, sha256) => this.attachments.liveContent(folder, sha256));
      if (removed > 0) this.s.logger.warn({ files: removed }, 'removed attachment files no stored attachment refers to');
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
    this.checkpoints.start();
  }

  async close(): Promise<void> {
    if (!this.s.opened) return;
    this.s.opened = false;
    this.checkpoints.stop();
    try {
      await this.checkpoints.running?.catch(() => undefined);
      if (this.s.journal && !this.s.journal.failing) {
        await this.checkpoints.run().catch((err: unknown) => {
          this.s.logger.error({ err }, 'final checkpoint failed; the journal still holds every change');
        });
      }
      await this.s.journal?.close();
      await this.s.commitMark?.close();
    } finally {
      this.s.journal = undefined;
      this.s.commitMark = undefined;
      await this.releaseLock?.();
      this.releaseLock = undefined;
    }
  }

  health(): StoreHealth {
    const lastError = this.s.journal?.lastError ?? this.checkpoints.error;
    return {
      ok: this.s.opened && lastError === undefined,
      engine: 'lowdb',
      dataDir: this.s.dataDir,
      conversations: this.s.entries.size,
      messages: this.s.messageCount,
      attachments: this.s.attachmentBuckets.size,
      attachmentBytes: this.attachments.bytes,
      ...(lastError !== undefined ? { lastError } : {}),
    };
  }

  /** Writes every changed document and starts a new journal (runs by itself; exposed for shutdown, tools and tests). */
  async checkpoint(): Promise<void> {
    this.s.assertOpen();
    while (this.checkpoints.running) await this.checkpoints.running.catch(() => undefined);
    await this.checkpoints.run();
  }

  private async load(): Promise<void> {
    this.s.reset();
    this.segments.reset();
    this.indexes.reset();
    this.queues.reset();
    this.attachments.reset();
    this.erasure.reset();
    this.checkpoints.reset();
    await this.replay.load();
  }

  /** Registers outbound work; asked inside every later append and status change (see `Store.addOutboundWork`). */
  addOutboundWork(work: OutboundWork): () => void {
    return this.s.outbound.add(work);
  }

  // conversations (conversations.ts)
  createConversation(input: NewConversation): Promise<Conversation> {
    return this.conversations.createConversation(input);
  }

  getConversation(id: string): Promise<Conversation | undefined> {
    return this.conversations.getConversation(id);
  }

  findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    return this.conversations.findConversationByExternalUser(channel, externalUserId);
  }

  setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation> {
    return this.conversations.setConversationExternalUser(id, externalUserId);
  }

  setConversationState(id: string, state: ConversationState): Promise<Conversation> {
    return this.conversations.setConversationState(id, state);
  }

  setConversationAssignee(
    id: string,
    assigneeId: string | null,
    options: { onlyIfUnassigned?: boolean } = {},
  ): Promise<Conversation> {
    return this.conversations.setConversationAssignee(id, assigneeId, options);
  }

  setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation> {
    return this.conversations.setConversationVisitorEmail(id, email, page);
  }

  unassignAgentConversations(agentId: string): Promise<Conversation[]> {
    return this.conversations.unassignAgentConversations(agentId);
  }

  closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    return this.conversations.closedConversationsBefore(before, limit);
  }

  listConversations(query: ConversationQuery): Promise<Conversation[]> {
    return this.conversations.listConversations(query);
  }

  // erasure (erasure.ts)
  eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    return this.erasure.eraseConversation(id, related);
  }

  // messages (messages.ts)
  appendMessage(input: NewMessage): Promise<AppendResult> {
    return this.messages.appendMessage(input);
  }

  getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    return this.messages.getMessage(conversationId, messageId);
  }

  getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    return this.messages.getMessages(conversationId, opts);
  }

  getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    return this.messages.getChangesSince(conversationId, afterRev, limit);
  }

  applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    return this.messages.applyStatus(conversationId, messageId, update, once);
  }

  applyReceipt(
    conversationId: string,
    authorRole: 'visitor' | 'agent',
    upToSeq: number,
    status: 'delivered' | 'read',
  ): Promise<StatusResult> {
    return this.messages.applyReceipt(conversationId, authorRole, upToSeq, status);
  }

  setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    return this.messages.setExternalId(conversationId, messageId, externalId);
  }

  applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    return this.messages.applyStatusByExternalId(externalId, update, options);
  }

  findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    return this.messages.findMessageByExternalId(externalId);
  }

  // agents (agents.ts)
  createAgent(agent: AgentRecord): Promise<void> {
    return this.agents.createAgent(agent);
  }

  getAgentByName(name: string): Promise<AgentRecord | undefined> {
    return this.agents.getAgentByName(name);
  }

  getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.agents.getAgent(id);
  }

  countAgents(): Promise<number> {
    return this.agents.countAgents();
  }

  listAgents(): Promise<AgentRecord[]> {
    return this.agents.listAgents();
  }

  updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    return this.agents.updateAgent(id, change);
  }

  // attachments (attachments.ts)
  putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    return this.attachments.putAttachment(input);
  }

  getAttachment(id: string): Promise<StoredAttachment | undefined> {
    return this.attachments.getAttachment(id);
  }

  findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    return this.attachments.findAttachmentByUploadKey(conversationId, uploader, uploadKey);
  }

  readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    return this.attachments.readAttachment(id, variant);
  }

  // records (records.ts)
  putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    return this.records.putRecord(namespace, key, value, expiresAt);
  }

  getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    return this.records.getRecord<T>(namespace, key);
  }

  deleteRecord(namespace: string, key: string): Promise<void> {
    return this.records.deleteRecord(namespace, key);
  }

  addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    return this.records.addRecordOnce(namespace, key, value, expiresAt);
  }

  listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    return this.records.listRecords(namespace, limit);
  }

  // queues (queues.ts)
  enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    return this.queues.enqueue<T>(queue, payload, id);
  }

  dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    return this.queues.dueItems<T>(queue, now, limit);
  }

  claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]> {
    return this.queues.claimDueItems<T>(queue, now, limit, lease);
  }

  updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean> {
    return this.queues.updateQueueItem<T>(item, owner);
  }

  replaceQueueItem<T>(expected: QueueItem<T>, item: QueueItem<T>): Promise<boolean> {
    return this.queues.replaceQueueItem<T>(expected, item);
  }

  pruneQueueItems(before: string, limit: number): Promise<number> {
    return this.queues.pruneQueueItems(before, limit);
  }

  listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    return this.queues.listQueueItems<T>(queue, limit);
  }

  getQueueItem<T>(queue: string, id: string): Promise<QueueItem<T> | undefined> {
    return this.queues.getQueueItem<T>(queue, id);
  }

  countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    return this.queues.countQueueItems(queue);
  }

  // rate limits (rate-limits.ts)
  takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    return this.rateLimits.takeRateToken(key, perMinute);
  }

  claimLoginAttempt(account: string): Promise<RateDecision> {
    return this.rateLimits.claimLoginAttempt(account);
  }

  clearLoginAttempts(account: string): Promise<void> {
    return this.rateLimits.clearLoginAttempts(account);
  }

  // export (moving to another engine)

  /**
   * Every conversation with its watermarks and messages, one at a time (so the store never sits in memory whole),
   * for `npm run import-lowdb`. Conversations erased meanwhile are skipped.
   */
  exportConversations(): AsyncGenerator<ConversationDump> {
    return this.conversations.exportConversations();
  }

  /** Every agent account (for `npm run import-lowdb`). */
  exportAgents(): AgentRecord[] {
    return this.agents.exportAgents();
  }

  /** Every record that has not expired (for `npm run import-lowdb`). */
  exportRecords(): RecordDump[] {
    return this.records.exportRecords();
  }

  /** Every queue item of every queue, in any state, without leases (they end with the process); for `npm run import-lowdb`. */
  exportQueueItems(): QueueItem[] {
    return this.queues.exportQueueItems();
  }

  /** Every attachment's description (bytes through `readAttachment`), for `npm run import-lowdb`. */
  exportAttachments(): StoredAttachment[] {
    return this.attachments.exportAttachments();
  }
}
