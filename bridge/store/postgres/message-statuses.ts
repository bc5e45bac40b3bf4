/**
 * Statuses, receipts and channel ids of messages: status changes share transactions as appends do, lock the
 * conversation row, and only ever raise a message's status rank (also in SQL). A shared transaction decides its
 * changes on documents it read under those locks and writes them all in one statement at its end.
 */
import type pg from 'pg';
import type { Message } from '../../../protocol/message.ts';
import type { Conversation } from '../../../protocol/conversation.ts';
import { STATUS_RANK, isStatusAdvance, type StoredStatus } from '../../../protocol/status.ts';
import {
  advance,
  cloneConversation,
  PENDING_STATUS_NAMESPACE,
  StoreError,
  type ExternalStatusOptions,
  type OnceRecord,
  type OutboundItem,
  type StatusResult,
  type StatusUpdate,
} from '../store.ts';
import { json, jsonArray } from './columns.ts';
import { feedNotify } from './change-feed.ts';
import {
  compareText,
  conversationValues,
  insertQueueItems,
  messageValues,
  prepared,
  queueValues,
  updateMessage,
  UPDATE_CONVERSATION,
  type ConversationRow,
  type PostgresState,
} from './postgres-state.ts';

const LOCK_CONVERSATIONS = prepared(
  'status-lock',
  `SELECT id, doc, delivered_visitor_seq, delivered_agent_seq FROM conversations
   WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE`,
);
/**
 * The external ids' advisory locks (the ones `setExternalId` takes), in key order so two batches never deadlock:
 * PostgreSQL evaluates an output expression that ORDER BY does not name after sorting (its SELECT reference, "The
 * SELECT List"), so the locks are taken in the sorted order.
 */
const LOCK_EXTERNAL_IDS = prepared(
  'status-lock-external-ids',
  `SELECT pg_advisory_xact_lock(key) FROM (
     SELECT DISTINCT hashtextextended('external-id:' || x, 0) AS key FROM unnest($1::text[]) AS x) AS keys
   ORDER BY key`,
);
/** The message carrying each external id, read under the ids' locks. */
const MESSAGES_BY_EXTERNAL_ID = prepared(
  'status-messages-by-external-id',
  `SELECT DISTINCT ON (external_id) external_id, conversation_id, id FROM messages
   WHERE external_id = ANY($1::text[]) ORDER BY external_id`,
);
const MESSAGE_BY_ID = prepared('status-message', 'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2');
/** The messages a shared status transaction's changes name, read once their conversations are locked. */
const MESSAGES_BY_IDS = prepared(
  'status-messages',
  `SELECT m.doc FROM unnest($1::text[], $2::text[]) AS k (conversation_id, id)
     JOIN messages m ON m.conversation_id = k.conversation_id AND m.id = k.id`,
);
/** The messages a group of receipts may newly cover, given as seq ranges of a conversation and author role, in seq order. */
const RECEIPTS_RANGE = prepared(
  'receipts-range',
  `SELECT m.doc FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS r (conversation_id, role, first_seq, last_seq)
     JOIN messages m ON m.conversation_id = r.conversation_id AND m.role = r.role AND m.seq BETWEEN r.first_seq AND r.last_seq
   ORDER BY m.seq`,
);
/**
 * A shared status transaction's writes in one statement: the messages it changed ($1..$6; each only raising its
 * status rank unless none of its changes was an advance, e.g. a failure reported again), their event webhooks ($7..$10,
 * `queueValues`), their conversations' documents and delivered watermarks ($11..$15: status changes and receipts change
 * nothing else of a conversation row); with a change feed ($16, $17), a NOTIFY of each changed message, in rev order.
 * A data-modifying WITH runs to completion whether or not it is read.
 */
const STATUSES_SAVE = prepared(
  'statuses-save',
  `WITH changed AS (
     UPDATE messages m SET doc = v.doc, rev = v.rev, status_rank = v.status_rank
     FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), json_array_elements($3::json), unnest($4::bigint[]),
                     unnest($5::smallint[]), unnest($6::boolean[])) AS v (conversation_id, id, doc, rev, status_rank, advanced)
     WHERE m.conversation_id = v.conversation_id AND m.id = v.id AND (m.status_rank < v.status_rank OR NOT v.advanced)
     RETURNING m.conversation_id, m.id, v.doc::text AS doc, v.rev),
   queued AS (${insertQueueItems(7)}),
   saved AS (
     UPDATE conversations c SET doc = v.doc, rev = v.rev, delivered_visitor_seq = v.delivered_visitor_seq,
       delivered_agent_seq = v.delivered_agent_seq
     FROM ROWS FROM (unnest($11::text[]), json_array_elements($12::json), unnest($13::bigint[]), unnest($14::bigint[]),
                     unnest($15::bigint[]))
       AS v (id, doc, rev, delivered_visitor_seq, delivered_agent_seq)
     WHERE c.id = v.id),
   notified AS MATERIALIZED (
     ${feedNotify('status', '(SELECT conversation_id, id, doc FROM changed ORDER BY rev) AS v', '$16', '$17')})
   SELECT count(*)::int AS notified FROM notified`,
);

/** The message an external id names, found under the id's lock in a shared status transaction. */
interface ExternalIdTarget {
  conversation_id: string;
  id: string;
}

/**
 * An external id's acceptance in one statement (`setExternalId`, a transaction of its own): its message ($12..$18,
 * `messageValues`), its event webhooks ($19..$22, `queueValues`), its conversation ($1..$11, `conversationValues`) and,
 * with a change feed ($23, $24), a NOTIFY of the message if it changed.
 */
const ACCEPT_SAVE = prepared(
  'external-id-save',
  `WITH changed AS (${updateMessage(12)} RETURNING conversation_id, id, doc::text AS doc),
   queued AS (${insertQueueItems(19)}),
   saved AS (${UPDATE_CONVERSATION}),
   notified AS MATERIALIZED (${feedNotify('status', 'changed AS v', '$23', '$24')})
   SELECT count(*)::int AS notified FROM notified`,
);

/** A receipt: `status` for the messages of `authorRole` up to `upToSeq`. */
interface ReceiptRequest {
  conversationId: string;
  authorRole: 'visitor' | 'agent';
  upToSeq: number;
  status: 'delivered' | 'read';
}

/** What a shared status transaction applies: a receipt (with the receipts next to it, `ReceiptGroup`) or another change. */
type QueuedStatusChange =
  | { receipt: ReceiptRequest }
  | {
      /** The message it changes, or the external id whose message it changes (if there is one). */
      key: { conversationId: string; messageId: string } | { externalId: string };
      /**
       * Runs inside the shared transaction, under the conversation's lock (and the external id's); throws only
       * StoreErrors, before changing anything. `targets` are the batch's external ids' messages.
       */
      run: (client: pg.PoolClient, targets: Map<string, ExternalIdTarget>, changes: StatusChanges) => Promise<StatusResult | undefined>;
    };

/** A status change (receipt or status) waiting for the next shared status transaction. */
type PendingStatusWrite = QueuedStatusChange & {
  resolve: (result: StatusResult | undefined) => void;
  reject: (error: unknown) => void;
};

/**
 * What a shared status transaction has read and changed so far. Its conversations are locked, so their messages change
 * only here: each change is decided on the documents kept here and all are written by one statement at the end
 * (`saveChanges`) — a statement per transaction instead of a read and a write per change.
 */
interface StatusChanges {
  /** Every message read or changed, by `messageKey`, in its latest state. */
  docs: Map<string, Message>;
  /** The messages changed, by `messageKey`, each in its latest state; `advanced` when a change raised its status rank. */
  changed: Map<string, { message: Message; advanced: boolean }>;
  /** The conversation rows changed, by id. */
  conversations: Map<string, ConversationRow>;
  /** Their event webhooks. */
  queued: OutboundItem[];
}

/** A message's key in `StatusChanges`. */
function messageKey(conversationId: string, id: string): string {
  return `${conversationId}\u0000${id}`;
}

/** `message` changed in the transaction: kept as its latest document, written at the end. */
function noteChange(changes: StatusChanges, row: ConversationRow, message: Message, advanced: boolean, queued: OutboundItem[]): void {
  const key = messageKey(message.conversationId, message.id);
  changes.docs.set(key, message);
  changes.changed.set(key, { message, advanced: advanced || (changes.changed.get(key)?.advanced ?? false) });
  changes.conversations.set(message.conversationId, row);
  changes.queued.push(...queued);
}

/**
 * Receipts next to each other in a shared status transaction: one statement reads every message they may cover, and
 * each receipt is decided in arrival order on those documents (so it sees the ones before it). Another kind of change
 * in between ends the group; a receipt after it starts a new one.
 */
interface ReceiptGroup {
  /** The messages read, by conversation and author role (`receiptKey`), in seq order, each as changed so far. */
  messages: Map<string, Message[]>;
  /** The seq ranges read for each key, apart and ascending (a receipt outside them was not read for: `applyReceiptIn`). */
  read: Map<string, SeqRange[]>;
  /** The time of the group's status changes (one transaction, one time, as an append batch has). */
  at: string;
}

/** Seqs from `first` to `last`. */
interface SeqRange {
  first: number;
  last: number;
}

/** `ranges` merged where they overlap or touch, ascending: each message is read once, and nothing between them. */
function mergeRanges(ranges: SeqRange[]): SeqRange[] {
  const merged: SeqRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.first - b.first)) {
    const last = merged.at(-1);
    if (last && range.first <= last.last + 1) last.last = Math.max(last.last, range.last);
    else merged.push({ ...range });
  }
  return merged;
}

/** A receipt's messages in a `ReceiptGroup`: its conversation and the role of their authors. */
function receiptKey(r: { conversationId: string; authorRole: string }): string {
  return `${r.conversationId}\u0000${r.authorRole}`;
}

/**
 * A receipt's watermarks on its locked conversation row and the seqs it may newly change (`end < start`: none).
 * Messages at or below the watermark already have the status: a receipt costs only what it newly covers.
 */
function receiptRange(row: ConversationRow, r: ReceiptRequest): { readMark: number; deliveredMark: number; start: number; end: number } {
  const conversation = row.doc;
  const readMark = r.authorRole === 'visitor' ? conversation.agentReadSeq : conversation.visitorReadSeq;
  const deliveredMark = Number(r.authorRole === 'visitor' ? row.delivered_visitor_seq : row.delivered_agent_seq);
  const start = (r.status === 'read' ? readMark : Math.max(readMark, deliveredMark)) + 1;
  const end = Math.min(Math.floor(r.upToSeq), conversation.lastSeq);
  return { readMark, deliveredMark, start, end };
}

/** A changed message's status shows in the inbox preview when it is the conversation's newest. */
function followLastMessage(conversation: Conversation, m: Message): void {
  if (m.rev > conversation.rev) conversation.rev = m.rev;
  if (conversation.lastMessage?.seq === m.seq) conversation.lastMessage.status = m.status;
}

/** The statuses ranked at or above `status` (a kept status is replaced only by a higher one). */
function atOrAbove(status: StoredStatus): string[] {
  return Object.entries(STATUS_RANK).filter(([, rank]) => rank >= STATUS_RANK[status]).map(([name]) => name);
}

/** `applyStatus`, `applyReceipt`, `setExternalId`, `applyStatusByExternalId` and their shared transactions. */
export class PostgresStatuses {
  pendingStatusWrites: PendingStatusWrite[] = [];
  private statusFlushScheduled = false;
  statusBatchesInFlight = 0;

  constructor(private readonly s: PostgresState) {}

  async applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    return this.sharedStatusWrite<StatusResult>({
      key: { conversationId, messageId },
      run: (client, _targets, changes) => this.applyStatusIn(client, changes, conversationId, messageId, update, once),
    });
  }

  /**
   * Queued for the next shared status transaction: receipts and statuses arriving while `maxAppendBatchesInFlight`
   * of them run (or in the same event-loop turn) share one transaction and one commit, as appends do.
   */
  private sharedStatusWrite<T extends StatusResult | undefined>(change: QueuedStatusChange): Promise<T> {
    const closed = this.s.closedError();
    if (closed) return Promise.reject(closed);
    return new Promise<T>((resolve, reject) => {
      this.pendingStatusWrites.push({ ...change, resolve: resolve as PendingStatusWrite['resolve'], reject });
      if (!this.statusFlushScheduled && this.statusBatchesInFlight < this.s.maxInFlight) {
        this.statusFlushScheduled = true;
        setImmediate(() => {
          this.statusFlushScheduled = false;
          this.flushStatusWrites();
        });
      }
    });
  }

  flushStatusWrites(): void {
    while (this.pendingStatusWrites.length > 0 && this.statusBatchesInFlight < this.s.maxInFlight) {
      const batch = this.pendingStatusWrites.splice(0, this.s.maxBatchSize);
      this.statusBatchesInFlight++;
      const run = this.runStatusBatch(batch).finally(() => {
        this.statusBatchesInFlight--;
        this.s.inFlight.delete(run);
        if (this.pendingStatusWrites.length > 0) this.flushStatusWrites();
      });
      this.s.inFlight.add(run);
    }
  }

  /**
   * One transaction for many status changes, applied in arrival order. The external ids they name are locked first
   * (as `setExternalId` takes its id's lock before any row lock) and their messages looked up; then their
   * conversations are locked, in id order (as append batches lock theirs, so batches on different nodes never
   * deadlock), the messages they name are read, and each change is decided on those documents as the ones before it
   * left them (receipts next to each other as a `ReceiptGroup`); one statement writes them all. A change refused with a
   * StoreError has changed nothing and leaves its batch-mates alone; any other failure reruns each change in its own
   * transaction.
   */
  private async runStatusBatch(batch: PendingStatusWrite[]): Promise<void> {
    let outcomes: ({ ok: true; result: StatusResult | undefined } | { ok: false; error: unknown })[];
    try {
      outcomes = await this.s.transaction(async (client) => {
        const externalIds = [...new Set(batch.flatMap((w) => ('key' in w && 'externalId' in w.key ? [w.key.externalId] : [])))];
        const targets = new Map<string, ExternalIdTarget>();
        if (externalIds.length > 0) {
          await client.query(LOCK_EXTERNAL_IDS([externalIds]));
          const { rows } = await client.query<ExternalIdTarget & { external_id: string }>(MESSAGES_BY_EXTERNAL_ID([externalIds]));
          for (const row of rows) targets.set(row.external_id, row);
        }
        const named = [
          ...batch.flatMap((w) => ('key' in w && 'messageId' in w.key ? [{ conversation_id: w.key.conversationId, id: w.key.messageId }] : [])),
          ...targets.values(),
        ];
        const conversationIds = batch.flatMap((w) =>
          'receipt' in w ? [w.receipt.conversationId] : 'conversationId' in w.key ? [w.key.conversationId] : [],
        );
        const ids = [...new Set([...conversationIds, ...[...targets.values()].map((t) => t.conversation_id)])].sort(compareText);
        const { rows } = await client.query<ConversationRow & { id: string }>(LOCK_CONVERSATIONS([ids]));
        const locked = new Map<string, ConversationRow>(rows.map((row) => [row.id, row]));
        this.s.lockedRows.set(client, locked);
        try {
          const changes: StatusChanges = { docs: new Map(), changed: new Map(), conversations: new Map(), queued: [] };
          if (named.length > 0) {
            const read = await client.query<{ doc: Message }>(MESSAGES_BY_IDS([named.map((m) => m.conversation_id), named.map((m) => m.id)]));
            for (const { doc } of read.rows) changes.docs.set(messageKey(doc.conversationId, doc.id), doc);
          }
          const done: typeof outcomes = [];
          let receipts: ReceiptGroup | undefined;
          for (const [i, write] of batch.entries()) {
            try {
              let result: StatusResult | undefined;
              if ('receipt' in write) {
                receipts ??= await this.readReceiptGroup(client, locked, changes, batch, i);
                result = this.applyReceiptIn(locked, receipts, changes, write.receipt);
              } else {
                // It may change messages the group holds: a receipt after it reads them again, as changed.
                receipts = undefined;
                result = await write.run(client, targets, changes);
              }
              // Later changes in the batch go on changing the locked row's document: the caller gets it as it is now.
              done.push({
                ok: true,
                result: result && { changed: result.changed, conversation: cloneConversation(result.conversation) },
              });
            } catch (error) {
              if (!(error instanceof StoreError) || batch.length === 1) throw error;
              done.push({ ok: false, error });
            }
          }
          await this.saveChanges(client, changes);
          return done;
        } finally {
          this.s.lockedRows.delete(client);
        }
      });
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      for (const write of batch) await this.runStatusBatch([write]);
      return;
    }
    outcomes.forEach((outcome, i) => {
      if (outcome.ok) batch[i]!.resolve(outcome.result);
      else batch[i]!.reject(outcome.error);
    });
  }

  /**
   * Starts the `ReceiptGroup` of the receipts from `batch[from]` up to the next other change: reads, in one statement,
   * every message they may cover (as changed so far in the transaction). Watermarks only rise while the group applies,
   * so what each receipt will cover lies within the range read for it now.
   */
  private async readReceiptGroup(
    client: pg.PoolClient,
    locked: Map<string, ConversationRow>,
    changes: StatusChanges,
    batch: PendingStatusWrite[],
    from: number,
  ): Promise<ReceiptGroup> {
    const group: ReceiptGroup = { messages: new Map(), read: new Map(), at: this.s.now() };
    const wanted = new Map<string, { conversationId: string; role: string; ranges: SeqRange[] }>();
    for (let i = from; i < batch.length; i++) {
      const write = batch[i]!;
      if (!('receipt' in write)) break;
      const row = locked.get(write.receipt.conversationId);
      if (!row) continue;
      const { start, end } = receiptRange(row, write.receipt);
      if (end < start) continue;
      const key = receiptKey(write.receipt);
      const entry = wanted.get(key) ?? { conversationId: write.receipt.conversationId, role: write.receipt.authorRole, ranges: [] };
      entry.ranges.push({ first: start, last: end });
      wanted.set(key, entry);
    }
    if (wanted.size === 0) return group;
    const ranges: { conversationId: string; role: string; first: number; last: number }[] = [];
    for (const [key, { conversationId, role, ranges: own }] of wanted) {
      const merged = mergeRanges(own);
      group.read.set(key, merged);
      for (const range of merged) ranges.push({ conversationId, role, ...range });
    }
    const { rows } = await client.query<{ doc: Message }>(
      RECEIPTS_RANGE([
        ranges.map((r) => r.conversationId),
        ranges.map((r) => r.role),
        ranges.map((r) => r.first),
        ranges.map((r) => r.last),
      ]),
    );
    for (const { doc: stored } of rows) {
      const m = changes.docs.get(messageKey(stored.conversationId, stored.id)) ?? stored;
      const key = receiptKey({ conversationId: m.conversationId, authorRole: m.author.role });
      const messages = group.messages.get(key);
      if (messages) messages.push(m);
      else group.messages.set(key, [m]);
    }
    return group;
  }

  /** A receipt of a `ReceiptGroup`, decided on the group's documents; its changes are written with the transaction's. */
  private applyReceiptIn(locked: Map<string, ConversationRow>, group: ReceiptGroup, changes: StatusChanges, r: ReceiptRequest): StatusResult {
    // Every conversation of the batch was locked up front: one missing then does not exist.
    const row = locked.get(r.conversationId);
    if (!row) throw new StoreError('not_found', `conversation ${r.conversationId} not found`);
    const conversation = row.doc;
    const { readMark, deliveredMark, start, end } = receiptRange(row, r);
    const changed: Message[] = [];
    if (end < start) return { changed, conversation };
    const key = receiptKey(r);
    // Not a StoreError: the whole batch fails and reruns each change alone, whose group reads exactly its range.
    if (!group.read.get(key)?.some((range) => range.first <= start && end <= range.last)) {
      throw new Error(`receipt range ${start}..${end} of ${key} was not read`);
    }
    const messages = group.messages.get(key) ?? [];
    let covered = 0;
    for (const [i, m] of messages.entries()) {
      if (m.seq < start || m.seq > end) continue;
      covered++;
      if (!isStatusAdvance(m.status, r.status)) continue;
      const next = advance(m, r.status, group.at, conversation.rev + 1);
      followLastMessage(conversation, next);
      messages[i] = next;
      changed.push(next);
    }
    const nowRead = r.authorRole === 'visitor' && r.status === 'read' ? covered : 0;
    const wouldChange = end > deliveredMark || (r.status === 'read' && end > readMark) || nowRead > 0;
    if (!wouldChange && changed.length === 0) return { changed, conversation };
    if (wouldChange) {
      if (r.authorRole === 'visitor') {
        row.delivered_visitor_seq = String(Math.max(deliveredMark, end));
        if (r.status === 'read') {
          conversation.agentReadSeq = Math.max(conversation.agentReadSeq, end);
          conversation.unread = Math.max(0, conversation.unread - nowRead);
        }
      } else {
        row.delivered_agent_seq = String(Math.max(deliveredMark, end));
        if (r.status === 'read') conversation.visitorReadSeq = Math.max(conversation.visitorReadSeq, end);
      }
    }
    // Derived from the conversation as it is now: later changes in the transaction go on changing its document.
    const queued = this.s.outbound.statusChanged(changed, cloneConversation(conversation));
    for (const next of changed) noteChange(changes, row, next, true, []);
    changes.conversations.set(r.conversationId, row);
    changes.queued.push(...queued);
    return { changed, conversation };
  }

  /** Writes what a shared status transaction changed, in one statement. */
  private async saveChanges(client: pg.PoolClient, changes: StatusChanges): Promise<void> {
    if (changes.conversations.size === 0) return;
    const messages = [...changes.changed.values()];
    const rows = [...changes.conversations];
    await client.query(
      STATUSES_SAVE([
        messages.map(({ message: m }) => m.conversationId),
        messages.map(({ message: m }) => m.id),
        jsonArray(messages.map(({ message: m }) => json(m))),
        messages.map(({ message: m }) => m.rev),
        messages.map(({ message: m }) => STATUS_RANK[m.status]),
        messages.map(({ advanced }) => advanced),
        ...queueValues(changes.queued, this.s.now()),
        rows.map(([id]) => id),
        jsonArray(rows.map(([, row]) => json(row.doc))),
        rows.map(([, row]) => row.doc.rev),
        rows.map(([, row]) => row.delivered_visitor_seq),
        rows.map(([, row]) => row.delivered_agent_seq),
        this.s.feedChannel,
        this.s.feedOrigin,
      ]),
    );
  }

  /** `applyStatus` inside a shared status transaction: decided on the transaction's documents, written at its end. */
  private async applyStatusIn(
    client: pg.PoolClient,
    changes: StatusChanges,
    conversationId: string,
    messageId: string,
    update: StatusUpdate,
    once?: OnceRecord,
  ): Promise<StatusResult> {
    const row = await this.s.lockConversation(client, conversationId);
    const conversation = row.doc;
    const current = changes.docs.get(messageKey(conversationId, messageId));
    if (!current) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
    if (once) await this.addOnce(client, once);
    const changed: Message[] = [];
    const failedAgain = update.again === true && current.status === 'failed' && update.status === 'failed';
    if (isStatusAdvance(current.status, update.status) || failedAgain) {
      const next = advance(current, update.status, update.at ?? this.s.now(), conversation.rev + 1, update);
      followLastMessage(conversation, next);
      changed.push(next);
      // A failure reported again keeps the status rank: not an advance, so the SQL rank guard does not apply to it.
      noteChange(changes, row, next, !failedAgain, this.s.outbound.statusChanged(changed, cloneConversation(conversation)));
    }
    return { changed, conversation };
  }

  /** The message to change and its conversation, under the conversation's row lock; `not_found` when either is missing. */
  private async lockedMessage(
    client: pg.PoolClient,
    conversationId: string,
    messageId: string,
  ): Promise<{ conversation: Conversation; current: Message }> {
    const { doc: conversation } = await this.s.lockConversation(client, conversationId);
    const { rows } = await client.query<{ doc: Message }>(MESSAGE_BY_ID([conversationId, messageId]));
    const current = rows[0]?.doc;
    if (!current) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
    return { conversation, current };
  }

  /** Adds `once` in the running transaction; `conflict` (the transaction rolls back) when it exists already. */
  private async addOnce(client: pg.PoolClient, once: OnceRecord): Promise<void> {
    const { rows } = await client.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE records.expires_at IS NOT NULL AND records.expires_at <= $5
       RETURNING 1`,
      [once.namespace, once.key, json(once.value) ?? null, once.expiresAt ?? null, this.s.now()],
    );
    if (rows.length === 0) throw new StoreError('conflict', `record ${once.namespace}/${once.key} exists already`);
  }

  /**
   * Serialises, across nodes, the transactions that link an external id and those that apply or keep a status for
   * it: taken first in both (before any row lock, so they cannot deadlock), held until commit.
   */
  private async lockExternalId(client: pg.PoolClient, externalId: string): Promise<void> {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('external-id:' || $1, 0))", [externalId]);
  }

  async applyReceipt(
    conversationId: string,
    authorRole: 'visitor' | 'agent',
    upToSeq: number,
    status: 'delivered' | 'read',
  ): Promise<StatusResult> {
    return this.sharedStatusWrite<StatusResult>({ receipt: { conversationId, authorRole, upToSeq, status } });
  }

  async setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    return this.s.transaction(async (client) => {
      await this.lockExternalId(client, externalId);
      const { conversation, current } = await this.lockedMessage(client, conversationId, messageId);
      if (current.externalId === externalId) return current;
      // The channel accepted it: agents see the reply become `sent` (sync resends it), also after a failed attempt.
      const next: Message = { ...current, externalId, rev: conversation.rev + 1 };
      if (next.status === 'failed') {
        next.status = 'sent';
        delete next.failure;
      }
      followLastMessage(conversation, next);
      // The acceptance is a status change for receivers too (`sent` with the channel's id): queued in this transaction
      // (derived from the conversation as it is now: a kept status below changes it again).
      const outbound = this.s.outbound.statusChanged([next], cloneConversation(conversation));
      // A status that arrived before the id (kept by applyStatusByExternalId) is applied now, as the next change.
      const { rows: keptRows } = await client.query<{ value: StatusUpdate; live: boolean }>(
        `DELETE FROM records WHERE namespace = $1 AND key = $2
         RETURNING value, (expires_at IS NULL OR expires_at > $3) AS live`,
        [PENDING_STATUS_NAMESPACE, externalId, this.s.now()],
      );
      const kept = keptRows[0]?.live ? keptRows[0].value : undefined;
      let last = next;
      if (kept && isStatusAdvance(next.status, kept.status)) {
        last = advance(next, kept.status, kept.at ?? this.s.now(), next.rev + 1, kept);
        followLastMessage(conversation, last);
        outbound.push(...this.s.outbound.statusChanged([last], conversation));
      }
      // The message (not a rank guard: a failed reply becomes `sent`), its event webhooks, its conversation and its
      // NOTIFY on the change feed in one statement, as every status change.
      await client.query(
        ACCEPT_SAVE([
          ...conversationValues(conversation),
          ...messageValues(last, false),
          ...queueValues(outbound, this.s.now()),
          this.s.feedChannel,
          this.s.feedOrigin,
        ]),
      );
      return last;
    });
  }

  async applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    return this.sharedStatusWrite<StatusResult | undefined>({
      key: { externalId },
      run: async (client, targets, changes) => {
        const target = targets.get(externalId);
        if (target) return this.applyStatusIn(client, changes, target.conversation_id, target.id, update, options.once);
        if (options.once) await this.addOnce(client, options.once);
        if (options.keepUntil !== undefined) {
          // Under the id's lock: the kept status only ever rises, and setExternalId sees it or is seen.
          await client.query(
            `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
               WHERE records.expires_at <= $6 OR coalesce((records.value->>'status'), '') NOT IN (SELECT unnest($5::text[]))`,
            [PENDING_STATUS_NAMESPACE, externalId, json(update), options.keepUntil, atOrAbove(update.status), this.s.now()],
          );
        }
        return undefined;
      },
    });
  }
}
