/**
 * One XMTP DM as anon-chat messages: XMTP has no seq or rev, so they are numbered here in arrival order, and read
 * receipts from the other party turn one's own messages `read`. Used by the visitor's transport (own role
 * `visitor`) and by the console's XMTP inbox (own role `agent`), so both sides number and mark alike.
 */
import type { DecodedMessage } from '@xmtp/browser-sdk';
import type { Message, StatusChange } from '../../protocol/message.ts';
import { readXmtpMessage } from './xmtp-message.ts';

/** What ingesting one XMTP message changed. */
export interface LedgerChange {
  added?: Message;
  statusChanges: StatusChange[];
}

/** A message this side just sent (before XMTP echoes it back). */
export interface SentInput {
  id: string;
  clientId: string;
  text: string;
  sentAt: Date;
  agentName?: string;
}

const nsOf = (date: Date): bigint => BigInt(date.getTime()) * 1_000_000n;
const clientKey = (mine: boolean, clientId: string): string => `${mine ? 'own' : 'other'}:${clientId}`;

/**
 * The numbered messages of one DM, seen from one side. One message per author side and clientId: this SDK line
 * has no idempotency key, so a send retried after a lost answer can publish the same clientId twice; the copy is
 * not shown again.
 */
export class XmtpLedger {
  readonly messages: Message[] = [];
  rev = 0;
  readonly #byId = new Map<string, Message>();
  readonly #byClientKey = new Map<string, Message>();
  readonly #sentAtNs = new Map<string, bigint>();
  #otherReadNs = 0n;
  /** Highest seq of the other party's messages this side has sent a read receipt for. */
  readUpTo = 0;

  constructor(
    readonly conversationId: string,
    /** This side's inbox id (messages from it are this side's). */
    private readonly ownInboxId: () => string | undefined,
    private readonly ownRole: 'visitor' | 'agent',
  ) {}

  /** The message with this XMTP id, if known. */
  get(id: string): Message | undefined {
    return this.#byId.get(id);
  }

  /** Adds one decoded XMTP message (ignoring kinds anon-chat does not show, and repeats). */
  ingest(decoded: DecodedMessage<unknown>): LedgerChange {
    const item = readXmtpMessage(decoded);
    if (!item || this.#byId.has(item.id)) return { statusChanges: [] };
    const mine = item.senderInboxId === this.ownInboxId();
    if (item.kind === 'read') return { statusChanges: mine ? [] : this.#otherRead(item.sentAtNs, item.sentAt) };
    const copied = this.#byClientKey.get(clientKey(mine, item.clientId));
    if (copied) {
      this.#byId.set(item.id, copied);
      return { statusChanges: [] };
    }
    const added = this.#append({
      id: item.id,
      mine,
      clientId: item.clientId,
      text: item.text,
      sentAt: item.sentAt,
      sentAtNs: item.sentAtNs,
      ...(item.agentName ? { agentName: item.agentName } : {}),
    });
    return { added, statusChanges: [] };
  }

  /** Records a message this side sent; a later echo with the same id is ignored. */
  appendSent(input: SentInput): Message {
    const known = this.#byId.get(input.id) ?? this.#byClientKey.get(clientKey(true, input.clientId));
    if (known) {
      this.#byId.set(input.id, known);
      return known;
    }
    return this.#append({ ...input, mine: true, sentAtNs: nsOf(input.sentAt) });
  }

  /** Messages changed (added or re-statused) after `afterRev`. */
  since(afterRev: number): Message[] {
    return this.messages.filter((m) => m.rev > afterRev);
  }

  /** Up to `limit` messages before `beforeSeq` (or the latest), and whether older ones exist. */
  page(beforeSeq: number | undefined, limit: number): { messages: Message[]; hasMore: boolean } {
    const older = this.messages.filter((m) => beforeSeq === undefined || m.seq < beforeSeq);
    return { messages: older.slice(-limit), hasMore: older.length > limit };
  }

  /** True when this side has unread messages from the other party up to `upToSeq`; records them as read. */
  markRead(upToSeq: number): boolean {
    if (upToSeq <= this.readUpTo) return false;
    const other = this.messages.some((m) => m.author.role !== this.ownRole && m.seq > this.readUpTo && m.seq <= upToSeq);
    this.readUpTo = upToSeq;
    return other;
  }

  #append(input: { id: string; mine: boolean; clientId: string; text: string; sentAt: Date; sentAtNs: bigint; agentName?: string }): Message {
    const role = input.mine ? this.ownRole : this.ownRole === 'visitor' ? 'agent' : 'visitor';
    const createdAt = input.sentAt.toISOString();
    const read = input.mine && input.sentAtNs <= this.#otherReadNs;
    const message: Message = {
      id: input.id,
      conversationId: this.conversationId,
      seq: this.messages.length + 1,
      rev: ++this.rev,
      clientId: input.clientId,
      author: role === 'agent' && input.agentName ? { role, name: input.agentName } : { role },
      text: input.text,
      createdAt,
      status: read ? 'read' : 'sent',
      statusAt: read ? { sent: createdAt, read: createdAt } : { sent: createdAt },
    };
    this.messages.push(message);
    this.#byId.set(message.id, message);
    this.#byClientKey.set(clientKey(input.mine, input.clientId), message);
    this.#sentAtNs.set(message.id, input.sentAtNs);
    return message;
  }

  /** A read receipt from the other party: every own message sent before it is read. */
  #otherRead(atNs: bigint, at: Date): StatusChange[] {
    if (atNs <= this.#otherReadNs) return [];
    this.#otherReadNs = atNs;
    const changes: StatusChange[] = [];
    for (const message of this.messages) {
      if (message.author.role !== this.ownRole || message.status === 'read') continue;
      if ((this.#sentAtNs.get(message.id) ?? 0n) > atNs) continue;
      message.status = 'read';
      message.statusAt = { ...message.statusAt, read: at.toISOString() };
      message.rev = ++this.rev;
      changes.push({
        conversationId: message.conversationId,
        messageId: message.id,
        clientId: message.clientId,
        seq: message.seq,
        rev: message.rev,
        status: 'read',
        at: at.toISOString(),
      });
    }
    return changes;
  }
}
