/**
 * Appends (group commit): every append arriving while `maxAppendBatchesInFlight` append transactions run, or in the
 * same event-loop turn, shares the next transaction and its commit; errors stay per item.
 */
import type { Message } from '../../../protocol/message.ts';
import { lastMessageOf, type Conversation } from '../../../protocol/conversation.ts';
import { randomId } from '../../ids.ts';
import { cloneConversation, cloneMessage, newMessage, StoreError, type AppendResult, type NewMessage, type OutboundItem } from '../store.ts';
import { INSERT_MESSAGES, json, jsonArray, messageColumns } from './columns.ts';
import { existingQueueItems, prepared, type PostgresState } from './postgres-state.ts';
import { feedNotify } from './change-feed.ts';

/**
 * Locks the batch's conversations (in id order) and finds the messages its clientIds already stored. Each clientId is
 * looked up on its own (LATERAL … LIMIT 1: one unique-index probe each) rather than joined: a prepared statement keeps
 * the plan made on a young database, where a hash join over a sequential scan of `messages` looks cheapest, and that
 * plan then reads the whole table on every append until autovacuum's first ANALYZE replaces it.
 */
const LOCK_AND_FIND_RETRIES = prepared(
  'append-lock',
  `WITH locked AS MATERIALIZED (
     SELECT id, doc FROM conversations WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE)
   SELECT 'c' AS kind, id, doc FROM locked
   UNION ALL
   SELECT 'm', k.conversation_id, s.doc FROM unnest($2::text[], $3::text[]) AS k (conversation_id, client_id)
     CROSS JOIN LATERAL (
       SELECT m.doc FROM messages m WHERE m.conversation_id = k.conversation_id AND m.client_id = k.client_id LIMIT 1) AS s`,
);

/**
 * Inserts the batch's messages, saves its conversations and, with a change feed, NOTIFYs the messages to the other
 * nodes (delivered at COMMIT); counts what it inserted (a raced retry inserts less).
 */
const INSERT_AND_SAVE = prepared(
  'append-insert',
  `WITH inserted AS (
     ${INSERT_MESSAGES}
     ON CONFLICT (conversation_id, client_id) DO NOTHING
     RETURNING 1),
   saved AS (
     UPDATE conversations c SET doc = v.doc, last_seq = v.last_seq, rev = v.rev,
       last_activity_at = v.last_activity_at, state = v.state, closed_at = v.closed_at, assignee_id = v.assignee_id
     FROM ROWS FROM (unnest($11::text[]), json_array_elements($12::json), unnest($13::bigint[]), unnest($14::bigint[]),
                     unnest($15::text[]), unnest($16::text[]), unnest($17::text[]), unnest($18::text[]))
       AS v (id, doc, last_seq, rev, last_activity_at, state, closed_at, assignee_id)
     -- The ids again as an index condition, for the same reason: not a scan of every (dead) conversation row version.
     WHERE c.id = ANY($11::text[]) AND c.id = v.id
     RETURNING 1),
   notified AS MATERIALIZED (
     ${feedNotify('message', 'ROWS FROM (unnest($1::text[]), unnest($3::text[]), json_array_elements_text($10::json)) AS v (conversation_id, id, doc)', '$19', '$20')})
   SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM saved)::int AS saved,
     (SELECT count(*) FROM notified)::int AS notified`,
);

/** A batch that lost a dedupe race to another node is retried this often before giving up. */
const APPEND_ATTEMPTS = 3;

interface PendingAppend {
  input: NewMessage;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** A conversation's record changed by one new message (the embedded store derives it the same way). */
function addToConversation(conversation: Conversation, m: Message): void {
  if (m.rev > conversation.rev) conversation.rev = m.rev;
  if (m.seq > conversation.lastSeq) {
    conversation.lastSeq = m.seq;
    conversation.lastActivityAt = m.createdAt;
    conversation.lastMessage = lastMessageOf(m);
    if (m.author.role === 'visitor' && m.seq > conversation.agentReadSeq) conversation.unread++;
  }
}

/** `appendMessage` and the append transactions it queues for. */
export class PostgresAppends {
  pendingAppends: PendingAppend[] = [];
  private flushScheduled = false;
  batchesInFlight = 0;

  constructor(private readonly s: PostgresState) {}

  /**
   * Queued for the next append transaction: every append arriving while `maxAppendBatchesInFlight` transactions run
   * (or in the same event-loop turn) shares one transaction and one commit.
   */
  appendMessage(input: NewMessage): Promise<AppendResult> {
    const closed = this.s.closedError();
    if (closed) return Promise.reject(closed);
    return new Promise<AppendResult>((resolve, reject) => {
      this.pendingAppends.push({ input, resolve, reject });
      if (!this.flushScheduled && this.batchesInFlight < this.s.maxInFlight) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushAppends();
        });
      }
    });
  }

  flushAppends(): void {
    while (this.pendingAppends.length > 0 && this.batchesInFlight < this.s.maxInFlight) {
      const batch = this.pendingAppends.splice(0, this.s.maxBatchSize);
      this.batchesInFlight++;
      const run = this.runAppendBatch(batch).finally(() => {
        this.batchesInFlight--;
        this.s.inFlight.delete(run);
        if (this.pendingAppends.length > 0) this.flushAppends();
      });
      this.s.inFlight.add(run);
    }
  }

  private async runAppendBatch(batch: PendingAppend[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.s.counting(() => this.appendBatch(batch.map((p) => p.input)), (results) => ({
          messages: results.filter((r) => !(r instanceof StoreError) && r.created).length,
        }));
        results.forEach((result, i) => {
          if (result instanceof StoreError) batch[i]!.reject(result);
          else batch[i]!.resolve(result);
        });
        return;
      } catch (error) {
        if (error instanceof DedupeRace && attempt < APPEND_ATTEMPTS) continue;
        if (batch.length > 1) {
          // Whatever failed the shared transaction must not fail its batch-mates: each runs alone, in arrival order,
          // so the seqs they get keep the order they were sent in (as a shared transaction would have).
          for (const p of batch) await this.runAppendBatch([p]);
          return;
        }
        batch[0]!.reject(error instanceof DedupeRace ? new StoreError('conflict', error.message) : error);
        return;
      }
    }
  }

  /**
   * One transaction for many appends: locks their conversations (in id order, so batches on different nodes never
   * deadlock), finds retries of stored clientIds, assigns seq/rev under the locks, inserts the messages and saves
   * the conversations in one statement, commits. Returns per input its result or its own error.
   */
  private async appendBatch(inputs: NewMessage[]): Promise<(AppendResult | StoreError)[]> {
    const conversationIds = [...new Set(inputs.map((i) => i.conversationId))].sort();
    return this.s.transaction(async (client) => {
      const { rows } = await client.query<{ kind: 'c' | 'm'; id: string; doc: Conversation | Message }>(
        LOCK_AND_FIND_RETRIES([conversationIds, inputs.map((i) => i.conversationId), inputs.map((i) => i.clientId)]),
      );
      const conversations = new Map<string, Conversation>();
      const stored = new Map<string, Message>();
      for (const row of rows) {
        if (row.kind === 'c') conversations.set(row.id, row.doc as Conversation);
        else stored.set(`${row.id}\u0000${(row.doc as Message).clientId}`, row.doc as Message);
      }
      const jobs = await existingQueueItems(client, inputs.flatMap((i) => (i.forQueueItem !== undefined ? [i.forQueueItem] : [])));
      const now = this.s.now();
      const created: Message[] = [];
      const docs: string[] = [];
      const outbound: OutboundItem[] = [];
      const results = inputs.map((input): AppendResult | StoreError => {
        const conversation = conversations.get(input.conversationId);
        if (!conversation) return new StoreError('not_found', `conversation ${input.conversationId} not found`);
        if (input.forQueueItem !== undefined && !jobs.has(input.forQueueItem)) {
          return new StoreError('not_found', `queue item ${input.forQueueItem} not found`);
        }
        const key = `${input.conversationId}\u0000${input.clientId}`;
        const original = stored.get(key);
        if (original) return { message: cloneMessage(original), created: false, conversation: cloneConversation(conversation) };
        const message = newMessage(input, { id: randomId(), seq: conversation.lastSeq + 1, rev: conversation.rev + 1 }, now);
        addToConversation(conversation, message);
        if (input.reopen && conversation.state === 'closed') {
          conversation.state = 'open';
          delete conversation.closedAt;
        }
        if (input.assignIfUnassigned !== undefined && conversation.assigneeId === undefined) {
          conversation.assigneeId = input.assignIfUnassigned;
        }
        stored.set(key, message);
        created.push(message);
        const doc = json(message);
        docs.push(doc);
        const result = { message: cloneMessage(message), created: true, conversation: cloneConversation(conversation) };
        outbound.push(...this.s.outbound.messageCreated(result.message, result.conversation));
        return result;
      });
      if (created.length > 0) {
        const touched = [...new Set(created.map((m) => m.conversationId))].map((id) => conversations.get(id)!);
        const { rows: counted } = await client.query<{ inserted: number }>(
          INSERT_AND_SAVE([
            ...messageColumns(created, docs),
            touched.map((c) => c.id),
            jsonArray(touched.map((c) => json(c))),
            touched.map((c) => c.lastSeq),
            touched.map((c) => c.rev),
            touched.map((c) => c.lastActivityAt),
            touched.map((c) => c.state),
            touched.map((c) => c.closedAt ?? null),
            touched.map((c) => c.assigneeId ?? null),
            this.s.feedChannel,
            this.s.feedOrigin,
          ]),
        );
        // A retry stored by another node after this statement's snapshot but before our lock: redo the batch.
        if (counted[0]!.inserted !== created.length) throw new DedupeRace();
        await this.s.queueOutbound(client, outbound, now);
      }
      return results;
    });
  }
}

/** Another node stored one of the batch's clientIds while the batch waited for its locks. */
class DedupeRace extends Error {
  constructor() {
    super('an append raced a retry of the same clientId on another node');
  }
}
