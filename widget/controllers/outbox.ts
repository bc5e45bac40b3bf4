/**
 * The visitor's outbox: messages not yet acknowledged by the bridge, persisted so they survive reloads, tab closes
 * and offline periods. Entries leave only when the bridge has stored them (or when the visitor resets).
 */
import type { Attachment } from '../../protocol/attachment.ts';
import type { LocalMessage, MessageFailure } from '../../protocol/message.ts';
import type { PersistentStorage } from './visitor-storage.ts';
import type { BackoffPolicy } from '../../protocol/backoff.ts';

/** One unsent message. `failed` entries wait for the visitor's Retry; `pending` ones are retried automatically. */
export interface OutboxEntry {
  clientId: string;
  text: string;
  createdAt: string;
  state: 'pending' | 'failed';
  attempts: number;
  failure?: MessageFailure;
  /** Files uploaded before the message was queued; it is sent naming their ids. */
  attachments?: Attachment[];
  /**
   * Files attached while they could not be uploaded (offline), in the visitor's order: their bytes wait in IndexedDB
   * under `key` (the upload key) and go up before the message, which then names `attachments` instead.
   */
  uploads?: OutboxUpload[];
}

/** A file of an outbox entry, uploaded (`attachment`) or still waiting in IndexedDB. */
export interface OutboxUpload {
  key: string;
  name: string;
  type: string;
  size: number;
  attachment?: Attachment;
}

/** What the bubble shows for the entry's files: a waiting one carries its upload key (never a bridge id) as id. */
function shownAttachments(entry: OutboxEntry): Attachment[] | undefined {
  return entry.uploads?.map((u) => u.attachment ?? ({ id: u.key, name: u.name, type: u.type, size: u.size } as Attachment)) ?? entry.attachments;
}

/** The optimistic message the list shows for an outbox entry. */
export function entryToMessage(entry: OutboxEntry, conversationId: string): LocalMessage {
  const message: LocalMessage = {
    clientId: entry.clientId,
    conversationId,
    author: { role: 'visitor' },
    text: entry.text,
    createdAt: entry.createdAt,
    status: entry.state === 'failed' ? 'failed' : 'sending',
    statusAt: {},
  };
  if (entry.failure) message.failure = entry.failure;
  const attachments = shownAttachments(entry);
  if (attachments) message.attachments = attachments;
  return message;
}

/**
 * How a message the bridge could not take is resent: from 250–500 ms up to 30 s, with a small fixed floor so that
 * widgets which lost the same bridge spread out widely instead of coming back in lockstep.
 */
export const RESEND_BACKOFF: BackoffPolicy = { baseDelayMs: 500, maxDelayMs: 30_000, floorMs: 250 };

/** A random idempotency key that matches the protocol's clientId pattern. */
export function newClientId(): string {
  return `w-${crypto.randomUUID()}`;
}

function isEntry(value: unknown): value is OutboxEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e.clientId === 'string' && typeof e.text === 'string' && typeof e.createdAt === 'string' && (e.state === 'pending' || e.state === 'failed');
}

/** The ordered outbox, written through to storage on every change. */
export class Outbox {
  #entries: OutboxEntry[];

  constructor(private readonly storage: PersistentStorage, private readonly key: string) {
    this.#entries = this.#read();
  }

  #read(): OutboxEntry[] {
    const stored = this.storage.read(this.key);
    return Array.isArray(stored) ? stored.filter(isEntry).map((e) => ({ ...e, attempts: Number(e.attempts) || 0 })) : [];
  }

  /**
   * Read-modify-write against storage: another tab of the same visitor shares this outbox, and writing back only
   * what this tab knows would drop the other tab's unsent messages.
   */
  #change(apply: (entries: OutboxEntry[]) => OutboxEntry[]): void {
    this.#entries = apply(this.#read());
    this.#persist();
  }

  /** Entries in the order the visitor wrote them. */
  get entries(): readonly OutboxEntry[] {
    return this.#entries;
  }

  /** The oldest entry that should be sent now, if any. */
  nextPending(): OutboxEntry | undefined {
    return this.#entries.find((e) => e.state === 'pending');
  }

  get(clientId: string): OutboxEntry | undefined {
    return this.#entries.find((e) => e.clientId === clientId);
  }

  add(entry: OutboxEntry): void {
    this.#change((entries) => [...entries.filter((e) => e.clientId !== entry.clientId), entry]);
  }

  /** Replaces the entry with the same clientId. */
  update(entry: OutboxEntry): void {
    this.#change((entries) => entries.map((e) => (e.clientId === entry.clientId ? entry : e)));
  }

  /** Drops an entry: the bridge has stored it. Returns whether it was there. */
  remove(clientId: string): boolean {
    const known = this.#entries.some((e) => e.clientId === clientId);
    this.#change((entries) => entries.filter((e) => e.clientId !== clientId));
    return known;
  }

  clear(): void {
    this.#entries = [];
    this.storage.remove(this.key);
  }

  #persist(): void {
    if (this.#entries.length === 0) this.storage.remove(this.key);
    else this.storage.write(this.key, this.#entries);
  }
}
