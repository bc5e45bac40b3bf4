/**
 * The per-conversation indexes (clientId → seq, id → seq, the rev change log): built from the segments on first use,
 * kept up to date by every message change, and dropped least recently used first beyond a budget of messages.
 */
import type { Message } from '../../../protocol/message.ts';
import type { LowdbState } from './lowdb-state.ts';
import type { SegmentCache } from './segment-cache.ts';
import type { ConversationEntry, ConversationIndex } from './stored-shapes.ts';

/** The built indexes and their budget. */
export class ConversationIndexes {
  /** Conversations with a built index, least recently used first, with how many messages each covered. */
  indexed = new Map<string, number>();
  total = 0;

  constructor(
    private readonly s: LowdbState,
    private readonly segments: SegmentCache,
  ) {}

  /** Forgets every index (before an open loads the data directory). */
  reset(): void {
    this.indexed = new Map();
    this.total = 0;
  }

  /** The conversation's index if built (marked most recently used), without a promise: the append fast path. */
  built(conversationId: string, entry: ConversationEntry): ConversationIndex | undefined {
    if (!entry.index) return undefined;
    const lastSeqNow = entry.record.conversation.lastSeq;
    this.total += lastSeqNow - (this.indexed.get(conversationId) ?? 0);
    this.indexed.delete(conversationId);
    this.indexed.set(conversationId, lastSeqNow);
    return entry.index;
  }

  async ensure(conversationId: string, entry: ConversationEntry): Promise<ConversationIndex> {
    const built = this.built(conversationId, entry);
    if (built) return built;
    const index: ConversationIndex = { bySeqClientId: new Map(), byId: new Map(), revBySeq: [0], logRev: [], logSeq: [] };
    const lastSeq = entry.record.conversation.lastSeq;
    for (let k = 0; k * this.s.segmentSize < lastSeq; k++) {
      const seg = await this.segments.get(conversationId, k);
      for (const m of seg.data.messages) {
        index.bySeqClientId.set(m.clientId, m.seq);
        index.byId.set(m.id, m.seq);
        index.revBySeq[m.seq] = m.rev;
      }
    }
    rebuildLog(index);
    entry.index = index;
    this.indexed.set(conversationId, lastSeq);
    this.total += lastSeq;
    this.evict(conversationId);
    return index;
  }

  /** Drops the least recently used indexes beyond the budget; they are rebuilt from the segments when needed. */
  evict(keep: string): void {
    for (const [id, count] of this.indexed) {
      if (this.total <= this.s.maxIndexedMessages) return;
      if (id === keep || this.s.locks.has(id)) continue;
      const entry = this.s.entries.get(id);
      if (entry) entry.index = undefined;
      this.indexed.delete(id);
      this.total -= count;
    }
  }

  /** Drops the index of an erased conversation. */
  forget(conversationId: string): void {
    const indexedCount = this.indexed.get(conversationId);
    if (indexedCount !== undefined) {
      this.indexed.delete(conversationId);
      this.total -= indexedCount;
    }
  }
}

/** Records a message's new state (creation or change) in its conversation's index. */
export function indexMessage(index: ConversationIndex, m: Message, lastSeq: number): void {
  index.bySeqClientId.set(m.clientId, m.seq);
  index.byId.set(m.id, m.seq);
  if (index.revBySeq[m.seq] !== m.rev) {
    index.revBySeq[m.seq] = m.rev;
    if (index.logRev.length > 0 && m.rev < index.logRev[index.logRev.length - 1]!) {
      rebuildLog(index);
    } else {
      index.logRev.push(m.rev);
      index.logSeq.push(m.seq);
      if (index.logRev.length > 2 * lastSeq + 64) rebuildLog(index);
    }
  }
}

/** Rebuilds the rev change log from `revBySeq` (after a change out of rev order, or once it grew twice too long). */
export function rebuildLog(index: ConversationIndex): void {
  const seqs: number[] = [];
  for (let seq = 1; seq < index.revBySeq.length; seq++) if (index.revBySeq[seq] !== undefined) seqs.push(seq);
  seqs.sort((a, b) => index.revBySeq[a]! - index.revBySeq[b]!);
  index.logSeq = seqs;
  index.logRev = seqs.map((seq) => index.revBySeq[seq]!);
}
