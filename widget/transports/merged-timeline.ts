/**
 * One conversation merged from two networks that number messages independently (XMTP and the bridge). Each logical
 * message (author role + clientId) is one entry, whichever network(s) carried it, with this timeline's own seq and
 * rev; it remembers each network's id and seq of the entry, so receipts and status changes map both ways.
 * Pure: no I/O, no clock (the rev epoch is given), no events — callers announce the changes it returns.
 */
import type { Message, StatusChange } from '../../protocol/message.ts';
import { STATUS_RANK, isStatusAdvance } from '../../protocol/status.ts';

/** The network a message came from: XMTP (`primary`) or the bridge (`fallback`). */
export type TimelineSource = 'primary' | 'fallback';

/** One message as one network reported it. */
export interface SourcedMessage {
  source: TimelineSource;
  message: Message;
}

/** Whether messages extend the timeline (newer than all known) or are an older history page. */
export type TimelinePlace = 'new' | 'older';

/** What adding one message changed: a message new to the timeline, a status advance, or nothing. */
export type TimelineChange = { message: Message } | { status: StatusChange } | undefined;

interface Entry {
  seq: number;
  rev: number;
  message: Message;
  /** The id and seq of this message on each network that carried it. */
  links: Map<TimelineSource, { id: string; seq: number }>;
}

/** The merged timeline of one visitor's conversation across XMTP and the bridge. */
export class MergedTimeline {
  /** Seqs of new messages count up from here, older history pages count down, so a later page can sort first. */
  static readonly SEQ_BASE = 1_000_000_000;

  readonly #byClientKey = new Map<string, Entry>();
  readonly #bySourceId = new Map<string, Entry>();
  #highSeq = MergedTimeline.SEQ_BASE;
  #lowSeq = MergedTimeline.SEQ_BASE;
  #rev: number;
  /** The conversation id the element knows (the bridge's); views carry it instead of each network's own. */
  conversationId: string | undefined;

  /**
   * `revEpoch` must be above any rev an earlier page load handed out (e.g. `Date.now() * 1000`), so a stale cursor
   * returns everything.
   */
  constructor(revEpoch: number) {
    this.#rev = revEpoch;
  }

  /** The newest rev: a cursor that has seen everything. */
  get rev(): number {
    return this.#rev;
  }

  /** Adds or merges one message; returns the entry as the element sees it and what changed. */
  add(source: TimelineSource, message: Message, place: TimelinePlace = 'new'): { message: Message; change: TimelineChange } {
    const clientKey = `${message.author.role}:${message.clientId}`;
    const existing = this.#byClientKey.get(clientKey);
    if (!existing) {
      const seq = place === 'new' ? ++this.#highSeq : --this.#lowSeq;
      const entry: Entry = { seq, rev: ++this.#rev, message: { ...message }, links: new Map() };
      entry.links.set(source, { id: message.id, seq: message.seq });
      this.#byClientKey.set(clientKey, entry);
      this.#bySourceId.set(`${source}:${message.id}`, entry);
      const view = this.#view(entry);
      return { message: view, change: { message: view } };
    }
    if (!existing.links.has(source)) {
      existing.links.set(source, { id: message.id, seq: message.seq });
      this.#bySourceId.set(`${source}:${message.id}`, existing);
    }
    const status = this.#advance(existing, message.status, message.statusAt[message.status] ?? message.createdAt);
    return { message: this.#view(existing), change: status && { status } };
  }

  /** Adds messages of both networks in creation order, so a merged page interleaves them by time. */
  addBatch(items: readonly SourcedMessage[], place: TimelinePlace): TimelineChange[] {
    const sorted = [...items].sort(
      (a, b) => a.message.createdAt.localeCompare(b.message.createdAt) || a.message.seq - b.message.seq,
    );
    if (place === 'older') sorted.reverse();
    return sorted.map(({ source, message }) => this.add(source, message, place).change);
  }

  /** Applies one network's status change to the entry it names; the change in this timeline's numbering, if any. */
  applyStatus(source: TimelineSource, change: StatusChange): StatusChange | undefined {
    const entry = this.#bySourceId.get(`${source}:${change.messageId}`);
    return entry && this.#advance(entry, change.status, change.at, change.failure);
  }

  /** Every entry changed after `afterRev`, in seq order. */
  since(afterRev: number): Message[] {
    return this.#sorted((entry) => entry.rev > afterRev);
  }

  /** Every entry before `beforeSeq` (all when undefined), in seq order. */
  before(beforeSeq: number | undefined): Message[] {
    return this.#sorted((entry) => beforeSeq === undefined || entry.seq < beforeSeq);
  }

  /** The highest seq on `source` among entries up to `upToSeq` of this timeline (0 when none): a receipt's bound. */
  sourceSeqUpTo(source: TimelineSource, upToSeq: number): number {
    let sourceSeq = 0;
    for (const entry of this.#byClientKey.values()) {
      const link = entry.links.get(source);
      if (link && entry.seq <= upToSeq && link.seq > sourceSeq) sourceSeq = link.seq;
    }
    return sourceSeq;
  }

  /** The oldest seq on `source` of any known entry: where that network's next older history page starts. */
  oldestSourceSeq(source: TimelineSource): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.#byClientKey.values()) {
      const link = entry.links.get(source);
      if (link && (oldest === undefined || link.seq < oldest)) oldest = link.seq;
    }
    return oldest;
  }

  #sorted(keep: (entry: Entry) => boolean): Message[] {
    return [...this.#byClientKey.values()]
      .filter(keep)
      .sort((a, b) => a.seq - b.seq)
      .map((entry) => this.#view(entry));
  }

  #advance(entry: Entry, status: Message['status'], at: string, failure?: Message['failure']): StatusChange | undefined {
    if (!isStatusAdvance(entry.message.status, status)) return undefined;
    entry.message = {
      ...entry.message,
      status,
      statusAt: { ...entry.message.statusAt, [status]: at },
      ...(failure && STATUS_RANK[status] === STATUS_RANK.failed ? { failure } : {}),
    };
    entry.rev = ++this.#rev;
    const view = this.#view(entry);
    return {
      conversationId: view.conversationId,
      messageId: view.id,
      clientId: view.clientId,
      seq: view.seq,
      rev: view.rev,
      status: view.status,
      at,
      ...(view.failure ? { failure: view.failure } : {}),
    };
  }

  #view(entry: Entry): Message {
    return {
      ...entry.message,
      seq: entry.seq,
      rev: entry.rev,
      conversationId: this.conversationId ?? entry.message.conversationId,
    };
  }
}
