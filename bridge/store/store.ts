/**
 * The storage contract every handler uses. The lowdb-backed store is the embedded default; a PostgreSQL
 * store (postgres/) implements the same interface. Every mutating method resolves only once the change is durable
 * (on disk, fsynced): callers ack to clients after the promise resolves, never before.
 */
import type { Author, Message, MessageFailure } from '../../protocol/message.ts';
import type { Channel, Conversation, ConversationState } from '../../protocol/conversation.ts';
import type { StoredStatus } from '../../protocol/status.ts';
import type { AgentRole, Availability } from '../../protocol/agents.ts';
import type { Attachment, AttachmentType } from '../../protocol/attachment.ts';

/** Result of taking one rate token (`takeRateToken`, `claimLoginAttempt`; bridge/rate-limiter.ts holds the arithmetic). */
export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * Why a store call failed; handlers map `code` to an ApiError (`not_found` 404, `conflict` 409, `storage_unavailable`
 * 503, `last_admin` 409: the change would leave the team without an active admin).
 */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: 'not_found' | 'conflict' | 'storage_unavailable' | 'last_admin',
    message: string,
  ) {
    super(message);
  }
}

export interface NewConversation {
  /** Chosen id (a web visitor's token names its conversation before it exists). Creating an existing id returns it unchanged. */
  id?: string;
  channel: Channel;
  name: string;
  externalUserId?: string;
  site?: string;
}

export interface NewMessage {
  conversationId: string;
  clientId: string;
  author: Author;
  text: string;
  /** Attachments stored before (`putAttachment`) in this conversation; the caller checked who uploaded them. */
  attachments?: Attachment[];
  /** Initial status; defaults to `sent`. */
  status?: StoredStatus;
  externalId?: string;
  /** A closed conversation is reopened by this message, in the same atomic step (a dedupe hit changes nothing). */
  reopen?: boolean;
  /**
   * An unassigned conversation is assigned to this agent id in the same atomic step (a dedupe hit changes nothing;
   * an assigned conversation keeps its assignee).
   */
  assignIfUnassigned?: string;
  /**
   * The queue item (job) writing this message: refused with `not_found` once that item is gone. Erasing a
   * conversation deletes its jobs in the same atomic step as its data, so a job still running then (a media download
   * in flight) writes nothing afterwards — not even into a new conversation with the same id (a WhatsApp customer's
   * next message). Checked in the write's own atomic step, ordered against the erasure by the conversation's lock.
   */
  forQueueItem?: string;
}

/** Which stored bytes of an attachment: the file itself or its thumbnail. */
export type AttachmentVariant = 'content' | 'thumbnail';

/** A file to store with its conversation (bytes already sniffed, cleaned and thumbnailed by the bridge). */
export interface NewAttachment {
  conversationId: string;
  /** Who uploaded it (`visitor` or `agent:<id>`): only that sender may attach it to a message. */
  uploader: string;
  /**
   * Idempotency key within (conversation, uploader): the client's upload key or the hash of the uploaded bytes. A
   * second put with the same key stores nothing and returns the first attachment.
   */
  uploadKey: string;
  name: string;
  type: AttachmentType;
  content: Uint8Array;
  /** WebP thumbnail of an image. */
  thumbnail?: Uint8Array;
  /** The queue item (job) storing this file: refused with `not_found` once that item is gone (as `NewMessage`'s). */
  forQueueItem?: string;
}

/** An attachment's stored description (its bytes are read with `readAttachment`). */
export interface StoredAttachment {
  id: string;
  conversationId: string;
  uploader: string;
  uploadKey: string;
  name: string;
  type: AttachmentType;
  size: number;
  /** SHA-256 (hex) of the stored bytes: the content address and the HTTP ETag. */
  sha256: string;
  thumbnailSize?: number;
  createdAt: string;
}

/** A queue item a change needs (an event webhook delivery, a WhatsApp send). */
export interface OutboundItem {
  queue: string;
  /** Derived from the change (e.g. `wa-send:<messageId>`): an item with this id that exists already is left as it is. */
  id: string;
  payload: unknown;
}

/**
 * Derives the outbound work of stored changes. The store calls it synchronously inside the change's own atomic step
 * (one transaction on PostgreSQL, one journal record on lowdb) and queues what it returns there, so a change that is
 * stored always has its work queued: no crash can keep one without the other.
 */
export interface OutboundWork {
  messageCreated?(message: Message, conversation: Conversation): OutboundItem[];
  statusChanged?(messages: Message[], conversation: Conversation): OutboundItem[];
}

export interface AppendResult {
  message: Message;
  /** False when (conversationId, clientId) already existed: `message` is the original, nothing was written. */
  created: boolean;
  conversation: Conversation;
}

export interface StatusUpdate {
  status: StoredStatus;
  /** ISO time; defaults to now. */
  at?: string;
  failure?: MessageFailure;
  /**
   * The outcome of a new delivery attempt after an agent's retry: a `failed` message that fails again records the
   * new failure with a new rev (so watchers see the attempt end), although the status itself does not advance.
   */
  again?: boolean;
}

/** Store namespace of statuses reported for an external id no message carries yet (`applyStatusByExternalId`). */
export const PENDING_STATUS_NAMESPACE = 'pending-status';

/**
 * A record a status change adds in its own atomic step (a webhook delivery id, for replay detection): when it exists
 * already the change is refused with `conflict` and nothing is written; when the change fails, neither is stored.
 */
export interface OnceRecord {
  namespace: string;
  key: string;
  value: unknown;
  /** ISO time after which the store may forget it (and a new change may add it again). */
  expiresAt?: string;
}

/** Options of `applyStatusByExternalId`. */
export interface ExternalStatusOptions {
  /**
   * When no message carries the id yet, keep the update (the higher-ranked of it and one kept before) under
   * `PENDING_STATUS_NAMESPACE` until this ISO time, for `setExternalId` to apply.
   */
  keepUntil?: string;
  once?: OnceRecord;
}

export interface StatusResult {
  /** Messages whose status actually advanced, with their new state (empty when nothing changed). */
  changed: Message[];
  conversation: Conversation;
}

export interface ConversationQuery {
  filter?: 'open' | 'all';
  /** Only conversations assigned to this agent id, or (`null`) only unassigned ones; absent: any. */
  assigneeId?: string | null;
  /** Case-insensitive text searched in the name and message texts. */
  query?: string;
  limit?: number;
}

export interface AgentRecord {
  id: string;
  /** Login name, unique. */
  name: string;
  /** What visitors see above the agent's replies. Agents stored before roles existed read back with their name. */
  displayName: string;
  /** Agents stored before roles existed read back as `admin` (they could do everything then). */
  role: AgentRole;
  active: boolean;
  /** `scrypt$N$r$p$salt$hash` (see bridge/auth/password.ts); empty until an invited agent sets a password. */
  passwordHash: string;
  /** Sessions started under an older epoch are over: bumping it signs the agent out everywhere at once. */
  sessionEpoch: number;
  /** Online or Away as the agent set it; agents stored before availability existed read back `online`. */
  availability: Availability;
  /** Where notification mails reach the agent (unanswered conversations); absent: none are sent to them. */
  email?: string;
  createdAt: string;
}

/** A change to an agent; absent fields stay as they are. */
export interface AgentChange {
  displayName?: string;
  role?: AgentRole;
  active?: boolean;
  passwordHash?: string;
  availability?: Availability;
  /** Sets the notification address; `null` removes it. */
  email?: string | null;
  /** Bump `sessionEpoch`: every session of the agent ends. */
  revokeSessions?: boolean;
}

/** A durable queue item (outbound webhook deliveries, WhatsApp sends). */
export interface QueueItem<T = unknown> {
  id: string;
  /** Which queue: e.g. `webhook`, `whatsapp-send`. */
  queue: string;
  payload: T;
  attempts: number;
  /** ISO time before which the item is not due. */
  dueAt: string;
  state: 'pending' | 'delivered' | 'dead';
  lastError?: string;
  createdAt: string;
  updatedAt: string;
  /** Attempt log: time, outcome, http status. Bounded by the store to the last 20 attempts. */
  log: { at: string; ok: boolean; status?: number; error?: string }[];
}

/** A new queue item as both engines create it: pending, due at once, no attempts yet. */
export function newQueueItem<T>(queue: string, id: string, payload: T, now: string): QueueItem<T> {
  return { id, queue, payload, attempts: 0, dueAt: now, state: 'pending', createdAt: now, updatedAt: now, log: [] };
}

/** A new conversation as both engines create it: open, nothing sent, delivered or read yet. */
export function newConversation(id: string, input: NewConversation, now: string): Conversation {
  return {
    id,
    channel: input.channel,
    name: input.name,
    ...(input.externalUserId !== undefined ? { externalUserId: input.externalUserId } : {}),
    ...(input.site !== undefined ? { site: input.site } : {}),
    state: 'open',
    createdAt: now,
    lastActivityAt: now,
    lastSeq: 0,
    rev: 0,
    agentReadSeq: 0,
    visitorReadSeq: 0,
    unread: 0,
  };
}

/**
 * A new message as both engines create it at `seq` / `rev`: its status (default `sent`) stamped now, a message stored
 * as read counted delivered at the same time; author and attachments copied, so the caller's input is not kept.
 */
export function newMessage(input: NewMessage, at: { id: string; seq: number; rev: number }, now: string): Message {
  const status: StoredStatus = input.status ?? 'sent';
  const statusAt: Message['statusAt'] = { [status]: now };
  if (status === 'read') statusAt.delivered = now;
  const author: Author = { role: input.author.role };
  if (input.author.agentId !== undefined) author.agentId = input.author.agentId;
  if (input.author.name !== undefined) author.name = input.author.name;
  return {
    id: at.id,
    conversationId: input.conversationId,
    seq: at.seq,
    rev: at.rev,
    clientId: input.clientId,
    author,
    text: input.text,
    ...(input.attachments && input.attachments.length > 0 ? { attachments: input.attachments.map((a) => ({ ...a })) } : {}),
    createdAt: now,
    status,
    statusAt,
    ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
  };
}

/** A new attachment's record as both engines create it (the bytes are stored beside it). */
export function newAttachment(input: NewAttachment, at: { id: string; sha256: string }, now: string): StoredAttachment {
  return {
    id: at.id,
    conversationId: input.conversationId,
    uploader: input.uploader,
    uploadKey: input.uploadKey,
    name: input.name,
    type: input.type,
    size: input.content.byteLength,
    sha256: at.sha256,
    ...(input.thumbnail ? { thumbnailSize: input.thumbnail.byteLength } : {}),
    createdAt: now,
  };
}

/** A copy of a stored message that shares nothing with it (the engines never hand out what they keep). */
export function cloneMessage(m: Message): Message {
  const copy: Message = { ...m, author: { ...m.author }, statusAt: { ...m.statusAt } };
  if (m.failure) copy.failure = { ...m.failure };
  if (m.attachments) copy.attachments = m.attachments.map((a) => ({ ...a }));
  return copy;
}

/** A copy of a stored conversation that shares nothing with it. */
export function cloneConversation(c: Conversation): Conversation {
  const copy: Conversation = { ...c };
  if (c.lastMessage) copy.lastMessage = { ...c.lastMessage };
  return copy;
}

/** The message moved up to `status` at `at`, as both engines store it: `read` implies `delivered`; `failed` carries its failure. */
export function advance(m: Message, status: StoredStatus, at: string, rev: number, update?: StatusUpdate): Message {
  const next = cloneMessage(m);
  next.status = status;
  next.rev = rev;
  next.statusAt[status] ??= at;
  if (status === 'read') next.statusAt.delivered ??= at;
  if (status === 'failed') next.failure = update?.failure ?? { code: 'unknown', reason: 'delivery failed' };
  else delete next.failure;
  return next;
}

/** Sets or removes the visitor's address; the page is replaced only when a new one is given (removed with the address). */
export function setVisitorEmailFields(c: Conversation, email: string | null, page: string | undefined): void {
  if (email === null) {
    delete c.visitorEmail;
    delete c.visitorPage;
    return;
  }
  c.visitorEmail = email;
  if (page !== undefined) c.visitorPage = page;
}

/** What else holds a conversation's data, erased in the same durable step as its messages and record. */
export interface ConversationErasure {
  /** Records holding its data (pending statuses of its messages' external ids, cursors). */
  records?: { namespace: string; key: string }[];
  /**
   * Queue items whose id starts with one of these (in any state): the bridge derives queue ids from message ids
   * (`evt:<messageId>:…`, `wa-send:<messageId>`), so a prefix per message reaches every item carrying its text.
   */
  queueItemIdPrefixes?: string[];
  /**
   * Retention: erase only if the conversation is still closed with `closedAt` and last activity before this ISO
   * time, checked atomically with the erasure (a visitor writing meanwhile keeps it); otherwise nothing is erased.
   */
  ifClosedBefore?: string;
  /**
   * A record (as `putRecord` writes it) stored in the same atomic step as the erasure, and only when the conversation
   * was erased (the call resolves true): a crash can never leave the conversation erased but this record missing, nor
   * the record written for a conversation `ifClosedBefore` kept. Written after the `records` above are removed.
   */
  remember?: { namespace: string; key: string; value: unknown; expiresAt?: string };
}

/** Who holds claimed queue items, and until when (ISO). */
export interface QueueLease {
  owner: string;
  until: string;
}

/**
 * A conversation with everything an engine keeps about it, for moving a data directory to another engine
 * (`npm run import-lowdb`): the record, the delivered watermarks receipts start from, and its messages in seq order.
 */
export interface ConversationDump {
  conversation: Conversation;
  /** Every visitor message with seq ≤ this is at least delivered. */
  deliveredVisitorSeq: number;
  /** Every agent message with seq ≤ this is at least delivered. */
  deliveredAgentSeq: number;
  /**
   * True when `findConversationByExternalUser` answers this conversation for its external user (several
   * conversations may name one; the engine's answer must survive the move).
   */
  currentExternalUserLink: boolean;
  messages: Message[];
}

/** A durable key/value fact as `putRecord` stored it (see `Store.putRecord`). */
export interface RecordDump {
  namespace: string;
  key: string;
  value: unknown;
  expiresAt?: string;
}

export interface StoreHealth {
  ok: boolean;
  engine: string;
  dataDir?: string;
  conversations: number;
  messages: number;
  /** Stored attachments and their bytes (thumbnails included). */
  attachments: number;
  attachmentBytes: number;
  /** Last storage error, if the store is degraded (e.g. disk full). */
  lastError?: string;
}

/**
 * What other bridge nodes on the same database store, as this node hears it (the PostgreSQL engine, when asked for
 * it). With a feed the engine itself carries every new message and status change to the other nodes, so the bridge
 * sends the changes it makes to its own sockets only, and other nodes' changes, heard here, to its own sockets too.
 */
export interface ChangeFeed {
  /** `listener` hears each message another node stored, after its commit, in commit order. */
  onMessageCreated(listener: (message: Message) => void): () => void;
  /** `listener` hears each message whose status another node changed (as it was then), after the commit, in commit order. */
  onStatusChanged(listener: (message: Message) => void): () => void;
  /** `listener` hears that messages may have been missed (the feed was not listening for a while): sockets should sync. */
  onMissed(listener: () => void): () => void;
}

export interface Store {
  /** Set when the engine carries new messages and status changes to the other nodes on its database (see `ChangeFeed`). */
  readonly changeFeed?: ChangeFeed;
  /** Load from disk, take the data-dir lock. Throws a clear error naming a corrupt file or a held lock. */
  open(): Promise<void>;
  /** Flush everything pending, release the lock. */
  close(): Promise<void>;
  health(): StoreHealth;
  /** Registers outbound work derived from every later change; returns a function that removes it. */
  addOutboundWork(work: OutboundWork): () => void;

  // ---- conversations ----
  createConversation(input: NewConversation): Promise<Conversation>;
  getConversation(id: string): Promise<Conversation | undefined>;
  /** The conversation of a verified user, WhatsApp wa_id or XMTP inbox on a channel. */
  findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined>;
  /** Link an anonymous conversation to a verified external user id. */
  setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation>;
  /** Sets the state; closing stamps `closedAt` (now), reopening removes it. */
  setConversationState(id: string, state: ConversationState): Promise<Conversation>;
  /** Newest activity first. */
  listConversations(query: ConversationQuery): Promise<Conversation[]>;
  /**
   * Assigns the conversation to `assigneeId` (`null`: unassigns it). With `onlyIfUnassigned`, an assigned
   * conversation is left as it is (checked atomically, across nodes). Resolves with the conversation as it now is.
   */
  setConversationAssignee(id: string, assigneeId: string | null, options?: { onlyIfUnassigned?: boolean }): Promise<Conversation>;
  /**
   * Sets (or with `null` removes) the visitor's e-mail address and, when given, the page they left it on (removed with
   * the address); resolves with the conversation as it now is.
   */
  setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation>;
  /** Unassigns every conversation assigned to `agentId`; resolves with them as they now are. */
  unassignAgentConversations(agentId: string): Promise<Conversation[]>;

  /**
   * Erases the conversation with its messages, statuses, external-id links, verified-user link and whatever
   * `related` names. Resolves only once the erasure is durable and no storage file of the engine still holds
   * any of it (an engine with journals or snapshots rewrites or retires them first). False when no such
   * conversation exists (related data is erased all the same). A later conversation may reuse the id.
   */
  eraseConversation(id: string, related?: ConversationErasure): Promise<boolean>;
  /** Ids of closed conversations whose `closedAt` and last activity are both before `before` (ISO), at most `limit`. */
  closedConversationsBefore(before: string, limit: number): Promise<string[]>;

  // ---- messages ----
  /** Dedupes on (conversationId, clientId): a repeat returns the original with `created: false`. */
  appendMessage(input: NewMessage): Promise<AppendResult>;
  getMessage(conversationId: string, messageId: string): Promise<Message | undefined>;
  /** Messages with seq < beforeSeq (or the latest), at most `limit`, returned in ascending seq order. */
  getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]>;
  /** Messages whose rev > afterRev, ascending by rev, at most `limit`. */
  getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]>;
  /** Apply a status by rank (never backwards; duplicates change nothing), adding `once` in the same atomic step. */
  applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult>;
  /**
   * Receipts: advance every message of `authorRole` with seq ≤ upToSeq to `status` (delivered/read).
   * Also moves the conversation's read pointer and unread count.
   */
  applyReceipt(
    conversationId: string,
    authorRole: 'visitor' | 'agent',
    upToSeq: number,
    status: 'delivered' | 'read',
  ): Promise<StatusResult>;
  /**
   * Links the external channel's id to a message: that channel accepted it, so it counts as `sent` from now on (a
   * `failed` message that was sent again goes back to `sent`, its failure cleared). A new id is a visible change
   * with a new rev whose outbound work (`OutboundWork.statusChanged`) is queued in the same atomic step; linking the
   * same id again changes nothing. A status kept for this id (`applyStatusByExternalId` with `keepUntil`) is applied
   * and removed in that same step, as a second change with the next rev.
   */
  setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message>;
  /**
   * Applies `update` to the message carrying `externalId`, or — when none does — keeps it for `setExternalId`
   * (`options.keepUntil`) and adds `options.once`, in one atomic step: a status and its id's arrival racing on
   * different nodes cannot miss each other. Undefined when no message carries the id.
   */
  applyStatusByExternalId(externalId: string, update: StatusUpdate, options?: ExternalStatusOptions): Promise<StatusResult | undefined>;
  findMessageByExternalId(externalId: string): Promise<Message | undefined>;

  // ---- attachments ----
  /**
   * Stores a file of an existing conversation (`not_found` otherwise), durably, before it resolves. Deduped on
   * (conversationId, uploader, uploadKey): a repeat returns the original with `created: false` and writes nothing.
   * Erased with its conversation.
   */
  putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }>;
  getAttachment(id: string): Promise<StoredAttachment | undefined>;
  findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined>;
  /** The stored bytes (or the thumbnail's); undefined when there is no such attachment or it has no thumbnail. */
  readAttachment(id: string, variant: AttachmentVariant): Promise<Uint8Array | undefined>;

  // ---- agents ----
  createAgent(agent: AgentRecord): Promise<void>;
  getAgentByName(name: string): Promise<AgentRecord | undefined>;
  getAgent(id: string): Promise<AgentRecord | undefined>;
  countAgents(): Promise<number>;
  /** Every agent, oldest first. */
  listAgents(): Promise<AgentRecord[]>;
  /**
   * Applies `change` atomically with the check that at least one active admin remains (across nodes: two admins
   * demoting each other at once cannot both succeed). `not_found` for an unknown id, `last_admin` when the change
   * would leave no active admin (nothing is written then). Resolves with the new record.
   */
  updateAgent(id: string, change: AgentChange): Promise<AgentRecord>;

  // ---- durable key/value facts (pending statuses, replay ids, settings) ----
  /** Store `value` under (namespace, key); `expiresAt` (ISO) lets the store forget it later. */
  putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void>;
  getRecord<T>(namespace: string, key: string): Promise<T | undefined>;
  deleteRecord(namespace: string, key: string): Promise<void>;
  /** Atomically record (namespace, key) if absent; false when it was already there (replay detection). */
  addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean>;
  /** The live (unexpired) records of `namespace`, by key in code-unit order, at most `limit`. */
  listRecords(namespace: string, limit: number): Promise<RecordDump[]>;

  // ---- durable queues ----
  /**
   * Adds a pending item, due now. Item ids are unique across queues. With an `id` that already exists (in any state:
   * pending, delivered or dead) nothing is written and the existing item is returned unchanged, once it is durable —
   * so a caller deriving the id from what it queues (e.g. `evt:<messageId>:created`) can enqueue twice safely.
   */
  enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>>;
  /** Pending items whose dueAt ≤ now and that no live lease holds, oldest first. */
  dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]>;
  /**
   * Claims up to `limit` of those items for `lease.owner` until `lease.until` (ISO), oldest first: no other claim
   * (on any node) gets them until the lease ends or the item is updated. A worker that dies leaves its claims to
   * expire; another worker then claims them.
   */
  claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]>;
  /**
   * Saves the item's new state and ends any lease on it; resolves true. With `owner` (a worker saving its attempt),
   * only while the item is still that owner's claim, else resolves false and changes nothing: a worker whose lease ran
   * out while its attempt went on must not overwrite what the worker that claimed the item next recorded.
   */
  updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean>;
  /**
   * Compare-and-set: saves `item` and ends any lease on it only while the stored item is still exactly `expected` (as
   * a read returned it); else resolves false and changes nothing (also when there is no such item). A claim leaves the
   * stored item as it is, so callers that read the same item and each save a change of it (an agent's Retry pressed
   * on two nodes at once) win once: the loser cannot end the claim a worker made after the winner's save.
   */
  replaceQueueItem<T>(expected: QueueItem<T>, item: QueueItem<T>): Promise<boolean>;
  listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]>;
  /**
   * Item `id` of `queue` as stored now (a copy), however long the queue; undefined when there is none, also when the
   * id belongs to an item of another queue.
   */
  getQueueItem<T>(queue: string, id: string): Promise<QueueItem<T> | undefined>;
  /** Removes at most `limit` delivered or dead items (any queue) last updated before `before` (ISO); resolves with how many. */
  pruneQueueItems(before: string, limit: number): Promise<number>;
  /** Items of `queue` by state, counted without copying them (the metrics scrape). */
  countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>>;

  // ---- limits (bridge/rate-limiter.ts holds their arithmetic) ----
  // Shared by every node on the same storage; not durable: lowdb keeps them in memory (one process, forgotten on
  // restart), PostgreSQL in UNLOGGED tables (forgotten after a database crash). Times come from the store's clock.
  /** Takes one token from the bucket `key` of `perMinute` tokens (`takeToken`), atomically across nodes. */
  takeRateToken(key: string, perMinute: number): Promise<RateDecision>;
  /** Starts a login attempt on `account` (`claimLoginAttempt`), atomically across nodes; refused while it is delayed. */
  claimLoginAttempt(account: string): Promise<RateDecision>;
  /** A successful login: the account's failures and delay are cleared. */
  clearLoginAttempts(account: string): Promise<void>;
}
