/**
 * Conversations: their records (conversation, delivered watermarks) bucketed by id and all in memory, the index by
 * external user, every change journaled as the whole record; and the export of a conversation with its messages.
 */
import type { Message } from '../../../protocol/message.ts';
import type { Channel, Conversation, ConversationState } from '../../../protocol/conversation.ts';
import { newConversation, setVisitorEmailFields, type ConversationDump, type ConversationQuery, type NewConversation, type Store } from '../store.ts';
import type { AnyDoc } from './documents.ts';
import type { JournalRecord } from './journal-records.ts';
import { yieldToLoop, type LowdbState } from './lowdb-state.ts';
import type { SegmentCache } from './segment-cache.ts';
import { cloneConversation, cloneMessage, externalUserKey, fnv1a, type ConversationEntry, type ConversationRecord } from './stored-shapes.ts';

/** Conversations looked at per event-loop turn by background scans. */
const SCAN_SLICE = 2000;

type ConversationCalls =
  | 'createConversation'
  | 'getConversation'
  | 'findConversationByExternalUser'
  | 'setConversationExternalUser'
  | 'setConversationState'
  | 'setConversationAssignee'
  | 'setConversationVisitorEmail'
  | 'unassignAgentConversations'
  | 'closedConversationsBefore'
  | 'listConversations';

/** The conversation calls of the Store, and the conversation changes messages make with them. */
export class LowdbConversations implements Pick<Store, ConversationCalls> {
  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
  ) {}

  async createConversation(input: NewConversation): Promise<Conversation> {
    const journal = await this.s.writable();
    const id = input.id ?? this.s.randomId();
    let durable: Promise<void> = journal.barrier();
    const conversation = await this.s.exclusive(id, async () => {
      // Inside the lock: a racing creator's record may be in the batch being written.
      durable = journal.barrier();
      const existing = this.s.entries.get(id);
      if (existing) return cloneConversation(existing.record.conversation);
      const conversation = newConversation(id, input, this.s.now());
      const record: ConversationRecord = { conversation, deliveredVisitorSeq: 0, deliveredAgentSeq: 0 };
      this.putConversationRecord(record);
      durable = journal.append({ t: 'c', v: record } satisfies JournalRecord);
      return cloneConversation(conversation);
    });
    await this.s.durable(durable);
    return conversation;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    this.s.assertOpen();
    const entry = this.s.entries.get(id);
    return entry ? cloneConversation(entry.record.conversation) : undefined;
  }

  async findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    this.s.assertOpen();
    const id = this.s.byExternalUser.get(externalUserKey(channel, externalUserId));
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
      if (state === 'closed') c.closedAt = this.s.now();
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
    this.s.assertOpen();
    const ids = [...this.s.entries].filter(([, entry]) => entry.record.conversation.assigneeId === agentId).map(([id]) => id);
    const changed: Conversation[] = [];
    for (const id of ids) {
      // Checked again under the conversation's lock: it may have been transferred meanwhile.
      const journal = await this.s.writable();
      let durable: Promise<void> = journal.barrier();
      const conversation = await this.s.exclusive(id, async () => {
        durable = journal.barrier();
        const entry = this.s.entries.get(id);
        if (!entry || entry.record.conversation.assigneeId !== agentId) return undefined;
        durable = this.changeConversation(entry, (r) => {
          delete r.conversation.assigneeId;
        });
        return cloneConversation(entry.record.conversation);
      });
      await this.s.durable(durable);
      if (conversation) changed.push(conversation);
    }
    return changed;
  }

  private async updateConversation(
    id: string,
    needed: (c: Conversation) => boolean,
    change: (c: Conversation) => void,
  ): Promise<Conversation> {
    const journal = await this.s.writable();
    let durable: Promise<void> = journal.barrier();
    const result = await this.s.exclusive(id, async () => {
      durable = journal.barrier();
      const entry = this.s.entryOrThrow(id);
      if (needed(entry.record.conversation)) durable = this.changeConversation(entry, (r) => change(r.conversation));
      return cloneConversation(entry.record.conversation);
    });
    await this.s.durable(durable);
    return result;
  }

  async closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    this.s.assertOpen();
    const ids: string[] = [];
    let scanned = 0;
    for (const [id, entry] of [...this.s.entries]) {
      if (ids.length >= limit) break;
      if (closedBefore(entry.record.conversation, before)) ids.push(id);
      // A background caller (retention) over many conversations: let chat traffic in between.
      if (++scanned % SCAN_SLICE === 0) await yieldToLoop();
    }
    return ids;
  }

  async listConversations(query: ConversationQuery): Promise<Conversation[]> {
    this.s.assertOpen();
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const needle = query.query?.trim().toLowerCase() || undefined;
    const candidates: Conversation[] = [];
    for (const entry of this.s.entries.values()) {
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
    for (let k = this.segments.segmentOf(c.lastSeq); k >= 0; k--) {
      const seg = await this.segments.get(c.id, k);
      if (seg.data.messages.some((m) => m.text.toLowerCase().includes(needle))) return true;
    }
    return false;
  }

  conversationDocOf(id: string): AnyDoc {
    return this.s.conversationBuckets.docs[fnv1a(id) % this.s.conversationBuckets.buckets]! as AnyDoc;
  }

  putConversationRecord(record: ConversationRecord): void {
    const id = record.conversation.id;
    const existing = this.s.entries.get(id);
    if (existing) {
      const old = existing.record.conversation;
      if (old.externalUserId !== undefined) {
        const key = externalUserKey(old.channel, old.externalUserId);
        if (this.s.byExternalUser.get(key) === id) this.s.byExternalUser.delete(key);
      }
      this.s.messageCount -= old.lastSeq;
    }
    this.s.conversationBuckets.set(id, record);
    this.indexConversation(id, record);
  }

  indexConversation(id: string, record: ConversationRecord): void {
    const existing = this.s.entries.get(id);
    if (existing) existing.record = record;
    else this.s.entries.set(id, { record });
    this.s.messageCount += record.conversation.lastSeq;
    const c = record.conversation;
    if (c.externalUserId !== undefined) this.s.byExternalUser.set(externalUserKey(c.channel, c.externalUserId), id);
  }

  /** Journals the whole conversation record (creation, state, read pointers). */
  changeConversation(entry: ConversationEntry, change: (record: ConversationRecord) => void): Promise<void> {
    this.changeConversationInMemory(entry, change);
    return this.s.journal!.append({ t: 'c', v: entry.record } satisfies JournalRecord);
  }

  /** The conversation change without its journal line (it goes into a `tx` line with what changed with it). */
  changeConversationInMemory(entry: ConversationEntry, change: (record: ConversationRecord) => void): void {
    this.s.touch(this.conversationDocOf(entry.record.conversation.id));
    const before = entry.record.conversation;
    const beforeKey = before.externalUserId !== undefined ? externalUserKey(before.channel, before.externalUserId) : undefined;
    change(entry.record);
    const after = entry.record.conversation;
    if (beforeKey !== undefined && this.s.byExternalUser.get(beforeKey) === after.id) this.s.byExternalUser.delete(beforeKey);
    if (after.externalUserId !== undefined) this.s.byExternalUser.set(externalUserKey(after.channel, after.externalUserId), after.id);
  }

  /**
   * Every conversation with its watermarks and messages, one at a time (so the store never sits in memory whole),
   * for `npm run import-lowdb`. Conversations erased meanwhile are skipped.
   */
  async *exportConversations(): AsyncGenerator<ConversationDump> {
    this.s.assertOpen();
    for (const id of [...this.s.entries.keys()]) {
      const dump = await this.s.exclusive(id, async (): Promise<ConversationDump | undefined> => {
        const entry = this.s.entries.get(id);
        if (!entry) return undefined;
        const { conversation, deliveredVisitorSeq, deliveredAgentSeq } = entry.record;
        const messages: Message[] = [];
        for (let seq = 1; seq <= conversation.lastSeq; seq++) messages.push(cloneMessage(await this.segments.messageAt(id, seq)));
        const linked =
          conversation.externalUserId !== undefined &&
          this.s.byExternalUser.get(externalUserKey(conversation.channel, conversation.externalUserId)) === id;
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
}

/** Closed, and both its closing and its last activity are before `before` (ISO): what retention may erase. */
export function closedBefore(c: Conversation, before: string): boolean {
  return c.state === 'closed' && (c.closedAt ?? c.lastActivityAt) < before && c.lastActivityAt < before;
}
