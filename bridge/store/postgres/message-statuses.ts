/**
 * Statuses, receipts and channel ids of messages: status changes share transactions as appends do, lock the
 * conversation row, and only ever raise a message's status rank (also in SQL).
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
 * The external ids' advisory locks (the ones `setExternalId` takes), in key order so two batches never deadlock.
 */
const LOCK_EXTERNAL_IDS = prepared(
  'status-lock-external-ids',
  `SELECT pg_advisory_xact_lock(key) FROM (
     SELECT DISTINCT hashtextextended('external-id:' || x, 0) AS key FROM unnest($1::text[]) AS x ORDER BY key) AS keys`,
);
/** The message carrying each external id, read under the ids' locks. */
const MESSAGES_BY_EXTERNAL_ID = prepared(
  'status-messages-by-external-id',
  `SELECT DISTINCT ON (external_id) external_id, conversation_id, id FROM messages
   WHERE external_id = ANY($1::text[]) ORDER BY external_id`,
);
const MESSAGE_BY_ID = prepared('status-message', 'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2');
/** The messages a group of receipts may newly cover, given as seq ranges of a conversation and author role, in seq order. */
const RECEIPTS_RANGE = prepared(
  'receipts-range',
  `SELECT m.doc FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS r (conversation_id, role, first_seq, last_seq)
     JOIN messages m ON m.conversation_id = r.conversation_id AND m.role = r.role AND m.seq BETWEEN r.first_seq AND r.last_seq
   ORDER BY m.seq`,
);
/**
 * A group of receipts' writes in one statement: the messages they changed ($1..$5), each only raising its status
 * rank; their event webhooks ($6..$9, `queueValues`); their conversations' documents and delivered watermarks
 * ($10..$14: receipts change nothing else of a conversation row); with a change feed ($15, $16), a NOTIFY of each
 * changed message, in rev order. A data-modifying WITH runs to completion whether or not it is read.
 */
const RECEIPTS_SAVE = prepared(
  'receipts-save',
  `WITH changed AS (
     UPDATE messages m SET doc = v.doc, rev = v.rev, status_rank = v.status_rank
     FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), json_array_elements($3::json), unnest($4::bigint[]),
                     unnest($5::smallint[])) AS v (conversation_id, id, doc, rev, status_rank)
     WHERE m.conversation_id = v.conversation_id AND m.id = v.id AND m.status_rank < v.status_rank
     RETURNING m.conversation_id, m.id, v.doc::text AS doc, v.rev),
   queued AS (${insertQueueItems(6)}),
   saved AS (
     UPDATE conversations c SET doc = v.doc, rev = v.rev, delivered_visitor_seq = v.delivered_visitor_seq,
       delivered_agent_seq = v.delivered_agent_seq
     FROM ROWS FROM (unnest($10::text[]), json_array_elements($11::json), unnest($12::bigint[]), unnest($13::bigint[]),
                     unnest($14::bigint[]))
       AS v (id, doc, rev, delivered_visitor_seq, delivered_agent_seq)
     WHERE c.id = v.id),
   notified AS MATERIALIZED (
     ${feedNotify('status', '(SELECT conversation_id, id, doc FROM changed ORDER BY rev) AS v', '$15', '$16')})
   SELECT count(*)::int AS notified FROM notified`,
);

/** The message an external id names, found under the id's lock in a shared status transaction. */
interface ExternalIdTarget {
  conversation_id: string;
  id: string;
}

/**
 * A status change's writes in one statement: its message ($12..$18, `messageValues`), its event webhooks
 * ($19..$22, `queueValues`), its conversation ($1..$11, `conversationValues`) and, with a change feed ($23, $24), a
 * NOTIFY of the message if it changed.
 */
const STATUS_SAVE = prepared(
  'status-save',
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
      /** The conversation it changes, or the external id whose message's conversation it changes (if there is one). */
      key: { conversationId: string } | { externalId: string };
      /**
       * Runs inside the shared transaction, under the conversation's lock (and the external id's); throws only
       * StoreErrors before writing. `targets` are the batch's external ids' messages.
       */
      run: (client: pg.PoolClient, targets: Map<string, ExternalIdTarget>) => Promise<StatusResult | undefined>;
    };

/** A status change (receipt or status) waiting for the next shared status transaction. */
type PendingStatusWrite = QueuedStatusChange & {
  resolve: (result: StatusResult | undefined) => void;
  reject: (error: unknown) => void;
};

/**
 * Receipts next to each other in a shared status transaction, read and written together: one statement reads every
 * message they may cover, each receipt is decided in arrival order on those documents (so it sees the ones before
 * it), and one statement writes what they changed — two statements for the group instead of two per receipt.
 * Another kind of change in between (it reads and writes rows as stored) writes the group first.
 */
interface ReceiptGroup {
  /** The messages read, by conversation and author role (`receiptKey`), in seq order, each as changed so far. */
  messages: Map<string, Message[]>;
  /** The seq ranges read for each key, apart and ascending (a receipt outside them was not read for: `applyReceiptIn`). */
  read: Map<string, SeqRange[]>;
  /** The time of the group's status changes (one transaction, one time, as an append batch has). */
  at: string;
  /** The messages changed, by conversation and id, each in its latest state. */
  changed: Map<string, Message>;
  /** The conversation rows changed, by id. */
  conversations: Map<string, ConversationRow>;
  /** Their event webhooks. */
  queued: OutboundItem[];
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
      key: { conversationId },
      run: (client) => this.applyStatusIn(client, conversationId, messageId, update, once),
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
   * deadlock), and the changes read and update those locked rows, so a change sees the ones before it (receipts next
   * to each other as a `ReceiptGroup`). A change refused with a StoreError has written nothing and leaves its
   * batch-mates alone; any other failure reruns each change in its own transaction.
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
        const conversationIds = batch.flatMap((w) =>
          'receipt' in w ? [w.receipt.conversationId] : 'conversationId' in w.key ? [w.key.conversationId] : [],
        );
        const ids = [...new Set([...conversationIds, ...[...targets.values()].map((t) => t.conversation_id)])].sort(compareText);
        const { rows } = await client.query<ConversationRow & { id: string }>(LOCK_CONVERSATIONS([ids]));
        const locked = new Map<string, ConversationRow>(rows.map((row) => [row.id, row]));
        this.s.lockedRows.set(client, locked);
        try {
          const done: typeof outcomes = [];
          let receipts: ReceiptGroup | undefined;
          for (const [i, write] of batch.entries()) {
            if (receipts && !('receipt' in write)) {
              await this.saveReceiptGroup(client, receipts);
              receipts = undefined;
            }
            try {
              let result: StatusResult | undefined;
              if ('receipt' in write) {
                receipts ??= await this.readReceiptGroup(client, locked, batch, i);
                result = this.applyReceiptIn(locked, receipts, write.receipt);
              } else {
                result = await write.run(client, targets);
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
          if (receipts) await this.saveReceiptGroup(client, receipts);
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
   * every message they may cover. Watermarks only rise while the group applies, so what each receipt will cover lies
   * within the range read for it now.
   */
  private async readReceiptGroup(
    client: pg.PoolClient,
    locked: Map<string, ConversationRow>,
    batch: PendingStatusWrite[],
    from: number,
  ): Promise<ReceiptGroup> {
    const group: ReceiptGroup = {
      messages: new Map(),
      read: new Map(),
      at: this.s.now(),
      changed: new Map(),
      conversations: new Map(),
      queued: [],
    };
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
    for (const { doc: m } of rows) {
      const key = receiptKey({ conversationId: m.conversationId, authorRole: m.author.role });
      const messages = group.messages.get(key);
      if (messages) messages.push(m);
      else group.messages.set(key, [m]);
    }
    return group;
  }

  /** A receipt of a `ReceiptGroup`, decided on the group's documents; its writes wait for `saveReceiptGroup`. */
  private applyReceiptIn(locked: Map<string, ConversationRow>, group: ReceiptGroup, r: ReceiptRequest): StatusResult {
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
      group.changed.set(`${next.conversationId}\u0000${next.id}`, next);
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
    group.conversations.set(r.conversationId, row);
    // Written with the group: later receipts of the group go on changing the conversation's document.
    group.queued.push(...this.s.outbound.statusChanged(changed, cloneConversation(conversation)));
    return { changed, conversation };
  }

  /** Writes what a `ReceiptGroup`'s receipts changed, in one statement. */
  private async saveReceiptGroup(client: pg.PoolClient, group: ReceiptGroup): Promise<void> {
    if (group.conversations.size === 0) return;
    const messages = [...group.changed.values()];
    const rows = [...group.conversations];
    await client.query(
      RECEIPTS_SAVE([
        messages.map((m) => m.conversationId),
        messages.map((m) => m.id),
        jsonArray(messages.map((m) => json(m))),
        messages.map((m) => m.rev),
        messages.map((m) => STATUS_RANK[m.status]),
        ...queueValues(group.queued, group.at),
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

  /** `applyStatus` inside a running transaction. */
  private async applyStatusIn(
    client: pg.PoolClient,
    conversationId: string,
    messageId: string,
    update: StatusUpdate,
    once?: OnceRecord,
  ): Promise<StatusResult> {
    {
      const { conversation, current } = await this.lockedMessage(client, conversationId, messageId);
      if (once) await this.addOnce(client, once);
      const changed: Message[] = [];
      const failedAgain = update.again === true && current.status === 'failed' && update.status === 'failed';
      if (isStatusAdvance(current.status, update.status) || failedAgain) {
        const next = advance(current, update.status, update.at ?? this.s.now(), conversation.rev + 1, update);
        followLastMessage(conversation, next);
        changed.push(next);
        const queued = queueValues(this.s.outbound.statusChanged(changed, conversation), this.s.now());
        // Under the conversation lock; a failure after a retry keeps the status rank, so it is not a rank guard.
        await client.query(
          STATUS_SAVE([...conversationValues(conversation), ...messageValues(next, !failedAgain), ...queued, this.s.feedChannel, this.s.feedOrigin]),
        );
      }
      return { changed, conversation };
    }
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
        STATUS_SAVE([
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
      run: async (client, targets) => {
        const target = targets.get(externalId);
        if (target) return this.applyStatusIn(client, target.conversation_id, target.id, update, options.once);
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
