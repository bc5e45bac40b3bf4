/**
 * The messages of one open conversation as the console shows them: stored messages in seq order, then the
 * agent's own optimistic sends. Everything is keyed by clientId, so the server's copy of an optimistic send
 * replaces it in place and a message seen twice (ack + broadcast, sync replay, reload) is never shown twice.
 */
import type { Attachment } from '../../protocol/attachment.ts';
import type { Author, LocalMessage, Message, MessageFailure, StatusChange } from '../../protocol/message.ts';
import type { MessagePage } from '../../protocol/events.ts';
import type { Channel } from '../../protocol/conversation.ts';
import { STATUS_RANK } from '../../protocol/status.ts';
import { revStep, type RevStep } from '../../protocol/rev.ts';

/** A newer copy wins: `rev` orders every change of a stored message; without revs, status rank decides. */
function isNewer(incoming: { rev: number; status: LocalMessage['status'] }, current: LocalMessage): boolean {
  if (current.rev === undefined) return true;
  if (incoming.rev !== current.rev) return incoming.rev > current.rev;
  // Same rev and the local copy shows a retry under way: nothing changed on the bridge since, keep "sending".
  if (current.status === 'sending') return false;
  return STATUS_RANK[incoming.status] > STATUS_RANK[current.status];
}

/**
 * The status to show for `message` in a conversation on `channel`: an agent's reply to WhatsApp is stored as `sent`
 * before the bridge hands it to Meta, but it is sent only once Meta accepted it (it then has Meta's id).
 */
export function shownStatus(message: LocalMessage, channel: Channel | undefined): LocalMessage['status'] {
  const awaitingMeta = channel === 'whatsapp' && message.author.role === 'agent' && message.status === 'sent' && !message.externalId;
  return awaitingMeta ? 'sending' : message.status;
}

/** One conversation's message list with reconcile-by-clientId, rev tracking and pagination state. */
export class ThreadState {
  /** True while older messages than the first loaded one may exist. */
  hasMore = true;
  /**
   * The `sync` cursor: every change up to this revision is here. Moved by the first page, by sync results and by
   * contiguous live events (`follow`), never past a gap.
   */
  rev = 0;
  private readonly byClientId = new Map<string, LocalMessage>();
  private sorted: LocalMessage[] | undefined;

  constructor(readonly conversationId: string) {}

  /** Messages in display order: stored by seq, then pending sends in the order they were written. */
  get messages(): readonly LocalMessage[] {
    if (!this.sorted) {
      this.sorted = [...this.byClientId.values()].sort((a, b) => {
        if (a.seq !== undefined && b.seq !== undefined) return a.seq - b.seq;
        if (a.seq !== undefined) return -1;
        if (b.seq !== undefined) return 1;
        return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0;
      });
    }
    return this.sorted;
  }

  /** Lowest loaded seq (the `beforeSeq` of the next history page), undefined when nothing is stored yet. */
  get oldestSeq(): number | undefined {
    return this.messages.find((m) => m.seq !== undefined)?.seq;
  }

  /** Highest seq of loaded messages written by `role`, 0 when none. */
  lastSeqOf(role: Author['role']): number {
    let max = 0;
    for (const m of this.byClientId.values()) if (m.author.role === role && m.seq !== undefined && m.seq > max) max = m.seq;
    return max;
  }

  /** Looks a message up by its clientId. */
  get(clientId: string): LocalMessage | undefined {
    return this.byClientId.get(clientId);
  }

  /** Stores the server's copy of a message; returns false when an equal or newer copy was already there. */
  upsert(message: Message): boolean {
    if (message.conversationId !== this.conversationId) return false;
    const current = this.byClientId.get(message.clientId);
    if (current && !isNewer(message, current)) return false;
    // A status change replayed by sync for a message older than the loaded page would leave a gap in the list.
    const oldest = this.oldestSeq;
    if (!current && this.hasMore && oldest !== undefined && message.seq < oldest) return false;
    this.set({ ...message });
    return true;
  }

  /** Moves the cursor along a live event's `rev`; `'gap'` means events were lost and the caller should sync. */
  follow(rev: number): RevStep {
    const step = revStep(this.rev, rev);
    if (step === 'next') this.rev = rev;
    return step;
  }

  /** Adds a page of history (older messages, or the first page). */
  addPage(page: MessagePage): void {
    // The first page starts the cursor; an older page must not move it past changes not seen yet.
    const first = this.byClientId.size === 0 || this.rev === 0;
    for (const message of page.messages) {
      if (first) this.rev = Math.max(this.rev, message.rev);
      const current = this.byClientId.get(message.clientId);
      if (!current || isNewer(message, current)) this.set({ ...message });
    }
    this.hasMore = page.hasMore;
  }

  /** Applies a pushed status change; false when the message is not loaded or the change is stale. */
  applyStatus(change: StatusChange): boolean {
    if (change.conversationId !== this.conversationId) return false;
    const current = this.byClientId.get(change.clientId);
    if (!current || !isNewer(change, current)) return false;
    const next: LocalMessage = {
      ...current,
      status: change.status,
      rev: change.rev,
      statusAt: { ...current.statusAt, [change.status]: change.at },
    };
    if (change.failure) next.failure = change.failure;
    else if (change.status !== 'failed') delete next.failure;
    if (change.externalId !== undefined) next.externalId = change.externalId;
    this.set(next);
    return true;
  }

  /** Shows an own message at once, before the server has it. */
  addPending(clientId: string, text: string, author: Author, createdAt: string, attachments?: Attachment[]): LocalMessage {
    const message: LocalMessage = {
      conversationId: this.conversationId,
      clientId,
      author,
      text,
      createdAt,
      status: 'sending',
      statusAt: {},
      ...(attachments?.length ? { attachments } : {}),
    };
    this.set(message);
    return message;
  }

  /** Marks an unstored own message failed with the bridge's reason. */
  markFailed(clientId: string, failure: MessageFailure): void {
    const current = this.byClientId.get(clientId);
    if (!current || current.seq !== undefined) return;
    this.set({ ...current, status: 'failed', failure });
  }

  /** Puts a failed unstored message back to sending for a retry. */
  markSending(clientId: string): void {
    const current = this.byClientId.get(clientId);
    if (!current || current.seq !== undefined) return;
    const { failure: _failure, ...rest } = current;
    this.set({ ...rest, status: 'sending' });
  }

  /**
   * Shows a stored message whose external delivery failed as `sending` while a retry is under way. Its rev stays,
   * so the next status change from the bridge (delivered, or failed again) replaces this local state.
   */
  markRetrying(clientId: string): LocalMessage | undefined {
    const current = this.byClientId.get(clientId);
    if (!current || current.seq === undefined || current.status !== 'failed') return undefined;
    const { failure: _failure, ...rest } = current;
    this.set({ ...rest, status: 'sending' });
    return current;
  }

  /** Puts back a message exactly as it was (a retry the bridge refused). */
  restore(message: LocalMessage): void {
    const current = this.byClientId.get(message.clientId);
    if (current && current.rev !== undefined && message.rev !== undefined && current.rev > message.rev) return;
    this.set(message);
  }

  /** Own messages the server has not confirmed yet and that are still to be (re)sent. */
  pending(): LocalMessage[] {
    return this.messages.filter((m) => m.seq === undefined && m.status === 'sending');
  }

  private set(message: LocalMessage): void {
    this.byClientId.set(message.clientId, message);
    this.sorted = undefined;
  }
}
