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
  type StatusResult,
  type StatusUpdate,
} from '../store.ts';
import { json } from './columns.ts';
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
/** The messages a receipt may newly cover. */
const RECEIPT_RANGE = prepared(
  'receipt-range',
  'SELECT doc FROM messages WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3 AND role = $4 ORDER BY seq',
);
/**
 * A receipt's writes in one statement: its changed messages ($12..$15), each only raising its status rank, and its
 * conversation (`conversationValues`, $1..$11). A data-modifying WITH runs to completion whether or not it is read.
 */
const RECEIPT_SAVE = prepared(
  'receipt-save',
  `WITH changed AS (
     UPDATE messages m SET doc = v.doc::json, rev = v.rev, status_rank = v.status_rank
     FROM unnest($12::text[], $13::text[], $14::bigint[], $15::smallint[]) AS v (id, doc, rev, status_rank)
     WHERE m.conversation_id = $1 AND m.id = v.id AND m.status_rank < v.status_rank)
   ${UPDATE_CONVERSATION}`,
);

/** The message an external id names, found under the id's lock in a shared status transaction. */
interface ExternalIdTarget {
  conversation_id: string;
  id: string;
}

/**
 * A status change's writes in one statement: its message ($12..$18, `messageValues`), its event webhooks
 * ($19..$22, `queueValues`) and its conversation ($1..$11, `conversationValues`).
 */
const STATUS_SAVE = prepared(
  'status-save',
  `WITH changed AS (${updateMessage(12)}), queued AS (${insertQueueItems(19)})
   ${UPDATE_CONVERSATION}`,
);

/** A status change (receipt or status) waiting for the next shared status transaction. */
interface PendingStatusWrite {
  /** The conversation it changes, or the external id whose message's conversation it changes (if there is one). */
  key: { conversationId: string } | { externalId: string };
  /**
   * Runs inside the shared transaction, under the conversation's lock (and the external id's); throws only
   * StoreErrors before writing. `targets` are the batch's external ids' messages.
   */
  run: (client: pg.PoolClient, targets: Map<string, ExternalIdTarget>) => Promise<StatusResult | undefined>;
  resolve: (result: StatusResult | undefined) => void;
  reject: (error: unknown) => void;
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
    return this.sharedStatusWrite({ conversationId }, (client) => this.applyStatusIn(client, conversationId, messageId, update, once));
  }

  /**
   * Queued for the next shared status transaction: receipts and statuses arriving while `maxAppendBatchesInFlight`
   * of them run (or in the same event-loop turn) share one transaction and one commit, as appends do.
   */
  private sharedStatusWrite<T extends StatusResult | undefined>(
    key: PendingStatusWrite['key'],
    run: (client: pg.PoolClient, targets: Map<string, ExternalIdTarget>) => Promise<T>,
  ): Promise<T> {
    const closed = this.s.closedError();
    if (closed) return Promise.reject(closed);
    return new Promise<T>((resolve, reject) => {
      this.pendingStatusWrites.push({ key, run, resolve: resolve as PendingStatusWrite['resolve'], reject });
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
   * deadlock), and the changes read and
   * update those locked rows, so a change sees the ones before it. A change refused with a StoreError has written
   * nothing and leaves its batch-mates alone; any other failure reruns each change in its own transaction.
   */
  private async runStatusBatch(batch: PendingStatusWrite[]): Promise<void> {
    let outcomes: ({ ok: true; result: StatusResult | undefined } | { ok: false; error: unknown })[];
    try {
      outcomes = await this.s.transaction(async (client) => {
        const externalIds = [...new Set(batch.flatMap((w) => ('externalId' in w.key ? [w.key.externalId] : [])))];
        const targets = new Map<string, ExternalIdTarget>();
        if (externalIds.length > 0) {
          await client.query(LOCK_EXTERNAL_IDS([externalIds]));
          const { rows } = await client.query<ExternalIdTarget & { external_id: string }>(MESSAGES_BY_EXTERNAL_ID([externalIds]));
          for (const row of rows) targets.set(row.external_id, row);
        }
        const conversationIds = batch.flatMap((w) => ('conversationId' in w.key ? [w.key.conversationId] : []));
        const ids = [...new Set([...conversationIds, ...[...targets.values()].map((t) => t.conversation_id)])].sort(compareText);
        const { rows } = await client.query<ConversationRow & { id: string }>(LOCK_CONVERSATIONS([ids]));
        this.s.lockedRows.set(client, new Map(rows.map((row) => [row.id, row])));
        try {
          const done: typeof outcomes = [];
          for (const write of batch) {
            try {
              const result = await write.run(client, targets);
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
        await client.query(STATUS_SAVE([...conversationValues(conversation), ...messageValues(next, !failedAgain), ...queued]));
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
    return this.sharedStatusWrite({ conversationId }, async (client) => {
      const row = await this.s.lockConversation(client, conversationId);
      const conversation = row.doc;
      const deliveredVisitorSeq = Number(row.delivered_visitor_seq);
      const deliveredAgentSeq = Number(row.delivered_agent_seq);
      const readMark = authorRole === 'visitor' ? conversation.agentReadSeq : conversation.visitorReadSeq;
      const deliveredMark = authorRole === 'visitor' ? deliveredVisitorSeq : deliveredAgentSeq;
      // Messages at or below the watermark already have the status: a receipt costs only what it newly covers.
      const start = (status === 'read' ? readMark : Math.max(readMark, deliveredMark)) + 1;
      const end = Math.min(Math.floor(upToSeq), conversation.lastSeq);
      const changed: Message[] = [];
      if (end < start) return { changed, conversation };
      const { rows } = await client.query<{ doc: Message }>(RECEIPT_RANGE([conversationId, start, end, authorRole]));
      const at = this.s.now();
      const nowRead = authorRole === 'visitor' && status === 'read' ? rows.length : 0;
      for (const { doc: m } of rows) {
        if (!isStatusAdvance(m.status, status)) continue;
        const next = advance(m, status, at, conversation.rev + 1);
        followLastMessage(conversation, next);
        changed.push(next);
      }
      const wouldChange = end > deliveredMark || (status === 'read' && end > readMark) || nowRead > 0;
      if (!wouldChange && changed.length === 0) return { changed, conversation };
      let delivered = { visitor: deliveredVisitorSeq, agent: deliveredAgentSeq };
      if (wouldChange) {
        if (authorRole === 'visitor') {
          delivered = { ...delivered, visitor: Math.max(deliveredVisitorSeq, end) };
          if (status === 'read') {
            conversation.agentReadSeq = Math.max(conversation.agentReadSeq, end);
            conversation.unread = Math.max(0, conversation.unread - nowRead);
          }
        } else {
          delivered = { ...delivered, agent: Math.max(deliveredAgentSeq, end) };
          if (status === 'read') conversation.visitorReadSeq = Math.max(conversation.visitorReadSeq, end);
        }
      }
      await client.query(
        RECEIPT_SAVE([
          ...conversationValues(conversation, delivered),
          changed.map((m) => m.id),
          changed.map((m) => json(m)),
          changed.map((m) => m.rev),
          changed.map((m) => STATUS_RANK[m.status]),
        ]),
      );
      row.delivered_visitor_seq = String(delivered.visitor);
      row.delivered_agent_seq = String(delivered.agent);
      await this.s.queueOutbound(client, this.s.outbound.statusChanged(changed, conversation), at);
      return { changed, conversation };
    });
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
      // The acceptance is a status change for receivers too (`sent` with the channel's id): queued in this transaction.
      await this.s.queueOutbound(client, this.s.outbound.statusChanged([next], conversation), this.s.now());
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
        await this.s.queueOutbound(client, this.s.outbound.statusChanged([last], conversation), this.s.now());
      }
      await this.s.saveMessage(client, last, false);
      await this.s.saveConversation(client, conversation);
      return last;
    });
  }

  async applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    return this.sharedStatusWrite({ externalId }, async (client, targets) => {
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
    });
  }
}
