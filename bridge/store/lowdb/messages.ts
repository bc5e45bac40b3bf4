/**
 * Messages: stored in their conversation's segments, found through the conversation index, every change journaled as
 * the message's full new state (with the conversation change, queue items and records it causes, in one line).
 */
import type { Message } from '../../../protocol/message.ts';
import { STATUS_RANK, isStatusAdvance } from '../../../protocol/status.ts';
import { lastMessageOf } from '../../../protocol/conversation.ts';
import {
  PENDING_STATUS_NAMESPACE,
  StoreError,
  advance,
  newMessage,
  type AppendResult,
  type ExternalStatusOptions,
  type NewMessage,
  type OnceRecord,
  type StatusResult,
  type StatusUpdate,
  type Store,
} from '../store.ts';
import { indexMessage, type ConversationIndexes } from './conversation-indexes.ts';
import type { LowdbConversations } from './conversations.ts';
import type { AnyDoc, Doc, SegmentData } from './documents.ts';
import type { JournalRecord, TxRecord } from './journal-records.ts';
import type { LowdbState } from './lowdb-state.ts';
import type { LowdbQueues } from './queues.ts';
import type { LowdbRecords } from './records.ts';
import type { SegmentCache } from './segment-cache.ts';
import { cloneConversation, cloneMessage, recordKey, type ConversationEntry } from './stored-shapes.ts';

type MessageCalls =
  | 'appendMessage'
  | 'getMessage'
  | 'getMessages'
  | 'getChangesSince'
  | 'applyStatus'
  | 'applyReceipt'
  | 'setExternalId'
  | 'applyStatusByExternalId'
  | 'findMessageByExternalId';

/** The message calls of the Store, and the one step that applies a message's new state (live and at replay). */
export class LowdbMessages implements Pick<Store, MessageCalls> {
  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
    private readonly indexes: ConversationIndexes,
    private readonly conversations: LowdbConversations,
    private readonly queues: LowdbQueues,
    private readonly records: LowdbRecords,
  ) {}

  /** Applies a message's new full state (creation or change); shared by live calls and journal replay. */
  applyMessage(entry: ConversationEntry, seg: Doc<SegmentData>, m: Message): void {
    const conversation = entry.record.conversation;
    const position = m.seq - 1 - seg.data.segment * this.s.segmentSize;
    const previous = seg.data.messages[position];
    this.s.touch(seg as AnyDoc);
    seg.data.messages[position] = m;
    this.s.touch(this.conversations.conversationDocOf(conversation.id));
    if (m.rev > conversation.rev) conversation.rev = m.rev;
    if (m.seq > conversation.lastSeq) {
      this.s.messageCount += m.seq - conversation.lastSeq;
      conversation.lastSeq = m.seq;
      conversation.lastActivityAt = m.createdAt;
      conversation.lastMessage = lastMessageOf(m);
      if (m.author.role === 'visitor' && m.seq > conversation.agentReadSeq) conversation.unread++;
    } else if (conversation.lastMessage?.seq === m.seq) {
      conversation.lastMessage.status = m.status;
    }
    if (m.externalId !== undefined && m.externalId !== previous?.externalId) {
      this.s.externalIdBuckets.set(m.externalId, { conversationId: m.conversationId, messageId: m.id });
    }
    if (entry.index) indexMessage(entry.index, m, conversation.lastSeq);
  }

  async appendMessage(input: NewMessage): Promise<AppendResult> {
    // The chat's hot path: the common cases (healthy journal, index built, segment cached) take no extra promise.
    const journal = this.s.opened && this.s.journal && !this.s.journal.failing ? this.s.journal : await this.s.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.s.exclusive(input.conversationId, async (): Promise<AppendResult> => {
      const entry = this.s.entryForWrite(input.conversationId, input.forQueueItem);
      const index = this.indexes.built(input.conversationId, entry) ?? (await this.indexes.ensure(input.conversationId, entry));
      const existingSeq = index.bySeqClientId.get(input.clientId);
      if (existingSeq !== undefined) {
        // The original may still be in the batch being written: answer only once it is durable (barrier above).
        durable = journal.barrier();
        const original = await this.segments.messageAt(input.conversationId, existingSeq);
        return { message: cloneMessage(original), created: false, conversation: cloneConversation(entry.record.conversation) };
      }
      const conversation = entry.record.conversation;
      const seq = conversation.lastSeq + 1;
      const k = this.segments.segmentOf(seq);
      const seg = this.segments.cached(input.conversationId, k) ?? (await this.segments.get(input.conversationId, k));
      const now = this.s.now();
      const message = newMessage(input, { id: this.s.randomId(), seq, rev: conversation.rev + 1 }, now);
      this.applyMessage(entry, seg, message);
      const reopened = input.reopen === true && conversation.state === 'closed';
      const assigned = input.assignIfUnassigned !== undefined && conversation.assigneeId === undefined;
      if (reopened || assigned) {
        this.conversations.changeConversationInMemory(entry, (r) => {
          if (reopened) {
            r.conversation.state = 'open';
            delete r.conversation.closedAt;
          }
          if (assigned) r.conversation.assigneeId = input.assignIfUnassigned;
        });
      }
      const result = { message: cloneMessage(message), created: true, conversation: cloneConversation(conversation) };
      const queued = this.queues.queueOutbound(this.s.outbound.messageCreated(result.message, result.conversation), now);
      // The common case stays one small `m` line; a message with a reopen, an assignment or outbound work is one `tx` line.
      const changed = reopened || assigned;
      durable =
        changed || queued.length > 0
          ? journal.append({ t: 'tx', m: [message], ...(changed ? { c: entry.record } : {}), q: queued } satisfies JournalRecord)
          : journal.append({ t: 'm', v: message } satisfies JournalRecord);
      return result;
    });
    await this.s.durable(durable);
    return result;
  }

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    this.s.assertOpen();
    const entry = this.s.entries.get(conversationId);
    if (!entry) return undefined;
    return this.s.exclusive(conversationId, async () => {
      const index = await this.indexes.ensure(conversationId, entry);
      const seq = index.byId.get(messageId);
      return seq === undefined ? undefined : cloneMessage(await this.segments.messageAt(conversationId, seq));
    });
  }

  async getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    this.s.assertOpen();
    const entry = this.s.entries.get(conversationId);
    if (!entry) return [];
    return this.s.exclusive(conversationId, async () => {
      const lastSeq = entry.record.conversation.lastSeq;
      const end = opts.beforeSeq === undefined ? lastSeq : Math.min(opts.beforeSeq - 1, lastSeq);
      const start = Math.max(1, end - Math.max(0, Math.floor(opts.limit)) + 1);
      const messages: Message[] = [];
      for (let seq = start; seq <= end; seq++) messages.push(cloneMessage(await this.segments.messageAt(conversationId, seq)));
      return messages;
    });
  }

  async getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    this.s.assertOpen();
    const entry = this.s.entries.get(conversationId);
    // A client that is up to date (every reconnect after a restart storm) costs no index build.
    if (!entry || afterRev >= entry.record.conversation.rev) return [];
    return this.s.exclusive(conversationId, async () => {
      const index = await this.indexes.ensure(conversationId, entry);
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
        messages.push(cloneMessage(await this.segments.messageAt(conversationId, seq)));
      }
      return messages;
    });
  }

  /**
   * Message `messageId` of a conversation with its segment and the conversation's entry, for a change to it; called
   * under the conversation's lock (the change that follows must not await before its journal append).
   */
  private async locate(conversationId: string, messageId: string): Promise<{ entry: ConversationEntry; seg: Doc<SegmentData>; current: Message }> {
    const entry = this.s.entryOrThrow(conversationId);
    const index = await this.indexes.ensure(conversationId, entry);
    const seq = index.byId.get(messageId);
    if (seq === undefined) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
    const seg = await this.segments.get(conversationId, this.segments.segmentOf(seq));
    return { entry, seg, current: await this.segments.messageAt(conversationId, seq) };
  }

  async applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    const journal = await this.s.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.s.exclusive(conversationId, async (): Promise<StatusResult> => {
      durable = journal.barrier();
      const { entry, seg, current } = await this.locate(conversationId, messageId);
      // From here to the journal append nothing awaits: the once-check and the change are one step.
      if (once && this.records.liveRecord(once.namespace, once.key)) {
        throw new StoreError('conflict', `record ${once.namespace}/${once.key} exists already`);
      }
      const records = once ? [this.records.txRecord(once.namespace, once.key, once.value, once.expiresAt)] : [];
      const changed: Message[] = [];
      const failedAgain = update.again === true && current.status === 'failed' && update.status === 'failed';
      if (isStatusAdvance(current.status, update.status) || failedAgain) {
        const next = advance(current, update.status, update.at ?? this.s.now(), entry.record.conversation.rev + 1, update);
        this.applyMessage(entry, seg, next);
        changed.push(cloneMessage(next));
        const queued = this.queues.queueOutbound(this.s.outbound.statusChanged(changed, cloneConversation(entry.record.conversation)), this.s.now());
        durable =
          queued.length > 0 || records.length > 0
            ? journal.append({ t: 'tx', m: [next], q: queued, ...(records.length > 0 ? { r: records } : {}) } satisfies JournalRecord)
            : journal.append({ t: 'm', v: next } satisfies JournalRecord);
      } else if (records.length > 0) {
        durable = journal.append({ t: 'tx', m: [], r: records } satisfies JournalRecord);
      }
      return { changed, conversation: cloneConversation(entry.record.conversation) };
    });
    await this.s.durable(durable);
    return result;
  }

  async applyReceipt(
    conversationId: string,
    authorRole: 'visitor' | 'agent',
    upToSeq: number,
    status: 'delivered' | 'read',
  ): Promise<StatusResult> {
    const journal = await this.s.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.s.exclusive(conversationId, async (): Promise<StatusResult> => {
      durable = journal.barrier();
      const entry = this.s.entryOrThrow(conversationId);
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
      for (let k = this.segments.segmentOf(start); k <= this.segments.segmentOf(end); k++) segs.set(k, await this.segments.get(conversationId, k));
      const at = this.s.now();
      const nexts: Message[] = [];
      let nowRead = 0;
      for (let seq = start; seq <= end; seq++) {
        const seg = segs.get(this.segments.segmentOf(seq))!;
        const m = seg.data.messages[seq - 1 - seg.data.segment * this.s.segmentSize]!;
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
      if (wouldChange) this.conversations.changeConversationInMemory(entry, (r) => {
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
      const queued = this.queues.queueOutbound(this.s.outbound.statusChanged(changed, cloneConversation(conversation)), at);
      if (queued.length > 0) {
        durable = journal.append({ t: 'tx', m: nexts, ...(wouldChange ? { c: record } : {}), q: queued } satisfies JournalRecord);
      } else {
        for (const next of nexts) durable = journal.append({ t: 'm', v: next } satisfies JournalRecord);
        if (wouldChange) durable = journal.append({ t: 'c', v: record } satisfies JournalRecord);
      }
      return { changed, conversation: cloneConversation(conversation) };
    });
    await this.s.durable(durable);
    return result;
  }

  async setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    const journal = await this.s.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.s.exclusive(conversationId, async () => {
      durable = journal.barrier();
      const { entry, seg, current } = await this.locate(conversationId, messageId);
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
      const queued = this.queues.queueOutbound(this.s.outbound.statusChanged([cloneMessage(next)], cloneConversation(entry.record.conversation)), this.s.now());
      const messages = [next];
      const records: TxRecord[] = [];
      const kept = this.records.liveRecord(PENDING_STATUS_NAMESPACE, externalId)?.value as StatusUpdate | undefined;
      if (this.s.recordBuckets.get(recordKey(PENDING_STATUS_NAMESPACE, externalId)) !== undefined) {
        records.push(this.records.txRecordRemoved(PENDING_STATUS_NAMESPACE, externalId));
      }
      if (kept && isStatusAdvance(next.status, kept.status)) {
        const after = advance(next, kept.status, kept.at ?? this.s.now(), entry.record.conversation.rev + 1, kept);
        this.applyMessage(entry, seg, after);
        messages.push(after);
        queued.push(...this.queues.queueOutbound(this.s.outbound.statusChanged([cloneMessage(after)], cloneConversation(entry.record.conversation)), this.s.now()));
      }
      durable =
        queued.length > 0 || messages.length > 1 || records.length > 0
          ? journal.append({ t: 'tx', m: messages, q: queued, ...(records.length > 0 ? { r: records } : {}) } satisfies JournalRecord)
          : journal.append({ t: 'm', v: next } satisfies JournalRecord);
      return cloneMessage(messages[messages.length - 1]!);
    });
    await this.s.durable(durable);
    return result;
  }

  async applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    const journal = await this.s.writable();
    const target = this.s.externalIdBuckets.get(externalId);
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
    if (once && this.records.liveRecord(once.namespace, once.key)) {
      throw new StoreError('conflict', `record ${once.namespace}/${once.key} exists already`);
    }
    const records: TxRecord[] = [];
    const kept = this.records.liveRecord(PENDING_STATUS_NAMESPACE, externalId)?.value as StatusUpdate | undefined;
    if (keepUntil !== undefined && (!kept || STATUS_RANK[update.status] > STATUS_RANK[kept.status])) {
      records.push(this.records.txRecord(PENDING_STATUS_NAMESPACE, externalId, update, keepUntil));
    }
    if (once) records.push(this.records.txRecord(once.namespace, once.key, once.value, once.expiresAt));
    await this.s.durable(records.length > 0 ? journal.append({ t: 'tx', m: [], r: records } satisfies JournalRecord) : journal.barrier());
    return undefined;
  }

  async findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    this.s.assertOpen();
    const target = this.s.externalIdBuckets.get(externalId);
    return target ? this.getMessage(target.conversationId, target.messageId) : undefined;
  }
}

