/**
 * What every part of the PostgreSQL engine shares: its options, the pool, the cached `health()` counts and the few steps
 * every call takes (a query or a transaction that turns database failures into `storage_unavailable`, the
 * conversation row lock, saving a conversation, queueing outbound work in the change's transaction).
 */
import type pg from 'pg';
import type { Logger } from '../../logger.ts';
import type { Message } from '../../../protocol/message.ts';
import type { Conversation } from '../../../protocol/conversation.ts';
import { STATUS_RANK } from '../../../protocol/status.ts';
import { newQueueItem, StoreError, type OutboundItem } from '../store.ts';
import { OutboundWorkRegistry } from '../outbound-work.ts';
import { json, jsonArray, searchable } from './columns.ts';
import type { ChangeFeedOptions } from './change-feed.ts';

/** Options of `PostgresStore`. */
export interface PostgresStoreOptions {
  /** Shared with the rest of the node (Socket.IO adapter, limits); the store never ends it. */
  pool: pg.Pool;
  logger: Logger;
  clock?: () => Date;
  /**
   * Append transactions (and, apart, status transactions) running at once; what arrives meanwhile waits and shares the
   * next one. Default 1: with the bridge and PostgreSQL sharing CPU, a second transaction in flight only splits the
   * waiting appends into smaller batches, each paying its own commit, and acks waited longer (docs/performance.md). A
   * database far away on its own machines may carry more with 2.
   */
  maxAppendBatchesInFlight?: number;
  /** Appends in one transaction at most. Default 500. */
  maxAppendBatchSize?: number;
  /** Told the seconds each write transaction's COMMIT took (the store commit latency metric, as lowdb's journal write). */
  observeCommit?: (seconds: number) => void;
  /**
   * Carry new messages to the other nodes on this database and hear theirs (`Store.changeFeed`): a bridge node of a
   * cluster sets it. Default false: nothing is published or listened for (tools, tests of the store alone).
   */
  changeFeed?: boolean | ChangeFeedOptions;
}

/** Re-reads that overlapped this node's writes and are dropped before one is taken as it is. */
const STALE_REFRESHES_DROPPED = 3;
/** The counts `health()` reports. */
export type StoreCounts = { conversations: number; messages: number; attachments: number; attachmentBytes: number };

/** A locked conversation row: its document and its delivered watermarks. */
export interface ConversationRow {
  doc: Conversation;
  delivered_visitor_seq: string;
  delivered_agent_seq: string;
}

const preparedNames = new Set<string>();

/**
 * A hot statement, sent as a named prepared statement: PostgreSQL parses and plans it once per connection instead of
 * on every execution, and the bridge sends only its parameters after the first. The text is fixed (the name stands
 * for it on every connection), so each name is taken once.
 */
export function prepared(name: string, text: string): (values: unknown[]) => pg.QueryConfig {
  if (preparedNames.has(name)) throw new Error(`prepared statement name ${name} is taken`);
  preparedNames.add(name);
  return (values) => ({ name, text, values });
}

/** Queues outbound items given as `queueValues` ($1..$4, or from `first`); ids that exist already are left alone. */
export function insertQueueItems(first = 1): string {
  const [ids, queues, now, docs] = [first, first + 1, first + 2, first + 3].map((n) => `$${n}`);
  return `INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
   SELECT id, queue, 'pending', ${now}, ${now}, ${now}, doc
   FROM ROWS FROM (unnest(${ids}::text[]), unnest(${queues}::text[]), json_array_elements(${docs}::json)) AS v (id, queue, doc)
   ON CONFLICT (id) DO NOTHING`;
}
const QUEUE_OUTBOUND = prepared('queue-outbound', insertQueueItems());

/** The parameters of `insertQueueItems`. */
export function queueValues(items: OutboundItem[], now: string): unknown[] {
  return [items.map((i) => i.id), items.map((i) => i.queue), now, jsonArray(items.map((i) => json(newQueueItem(i.queue, i.id, i.payload, now))))];
}

/**
 * Which of `ids` name a queue item that exists, read in a write's transaction (`NewMessage.forQueueItem`): the write
 * holds its conversation's row lock, so an erasure deleting those items has committed before or waits for it.
 */
export async function existingQueueItems(client: pg.PoolClient, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await client.query<{ id: string }>('SELECT id FROM queue_items WHERE id = ANY($1::text[])', [ids]);
  return new Set(rows.map((row) => row.id));
}

const LOCK_CONVERSATION = prepared(
  'lock-conversation',
  'SELECT doc, delivered_visitor_seq, delivered_agent_seq FROM conversations WHERE id = $1 FOR UPDATE',
);
/** Saves a conversation given as `conversationValues` ($1..$11); other statements embed it after their own work. */
export const UPDATE_CONVERSATION = `UPDATE conversations SET doc = $2::json, state = $3, last_seq = $4, rev = $5, last_activity_at = $6,
     name_lower = $7, delivered_visitor_seq = coalesce($8, delivered_visitor_seq),
     delivered_agent_seq = coalesce($9, delivered_agent_seq), closed_at = $10, assignee_id = $11
   WHERE id = $1`;
const SAVE_CONVERSATION = prepared('save-conversation', UPDATE_CONVERSATION);

/** The parameters of UPDATE_CONVERSATION; `delivered` watermarks stay as they are when not given. */
export function conversationValues(c: Conversation, delivered?: { visitor: number; agent: number }): unknown[] {
  return [
    c.id,
    json(c),
    c.state,
    c.lastSeq,
    c.rev,
    c.lastActivityAt,
    searchable(c.name),
    delivered?.visitor ?? null,
    delivered?.agent ?? null,
    c.closedAt ?? null,
    c.assigneeId ?? null,
  ];
}
/** Saves a message given as `messageValues` (from `first`): a status change only raises its rank. */
export function updateMessage(first: number): string {
  const [conversationId, id, doc, rev, rank, externalId, statusChange] = Array.from({ length: 7 }, (_, i) => `$${first + i}`);
  return `UPDATE messages SET doc = ${doc}::json, rev = ${rev}, status_rank = ${rank}, external_id = ${externalId}
   WHERE conversation_id = ${conversationId} AND id = ${id} AND (status_rank < ${rank} OR NOT ${statusChange})`;
}

/** The parameters of `updateMessage`. */
export function messageValues(m: Message, statusChange: boolean): unknown[] {
  return [m.conversationId, m.id, json(m), m.rev, STATUS_RANK[m.status], m.externalId ?? null, statusChange];
}

/** A PostgreSQL error (it carries a SQLSTATE `code`). */
export function isPgError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** Orders text by code unit, as `COLLATE "C"` does. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The PostgreSQL engine's shared state; each part of the engine (appends, statuses, queues, …) works on it. */
export class PostgresState {
  readonly pool: pg.Pool;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly maxInFlight: number;
  readonly maxBatchSize: number;
  opened = false;
  lastError: string | undefined;
  counts: StoreCounts = { conversations: 0, messages: 0, attachments: 0, attachmentBytes: 0 };
  /** Writes whose count change is not applied yet, and how many have applied one: a re-read overlapping either is stale. */
  private countedWritesInFlight = 0;
  private countsGeneration = 0;
  private staleRefreshes = 0;
  /** Append and status transactions running now; `close()` waits for them. */
  readonly inFlight = new Set<Promise<void>>();
  /** Conversation rows a shared status transaction locked up front, by its connection. */
  readonly lockedRows = new WeakMap<pg.PoolClient, Map<string, ConversationRow>>();
  readonly outbound: OutboundWorkRegistry;
  readonly observeCommit: ((seconds: number) => void) | undefined;
  /** Where append and status transactions NOTIFY their messages (both null without a change feed). */
  feedChannel: string | null = null;
  feedOrigin: string | null = null;

  constructor(options: PostgresStoreOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.clock = options.clock ?? (() => new Date());
    this.maxInFlight = options.maxAppendBatchesInFlight ?? 1;
    this.maxBatchSize = options.maxAppendBatchSize ?? 500;
    this.outbound = new OutboundWorkRegistry(this.logger);
    this.observeCommit = options.observeCommit;
  }

  /** Queues derived items in the change's own transaction; ids that exist already are left as they are. */
  async queueOutbound(client: pg.PoolClient, items: OutboundItem[], now: string): Promise<void> {
    if (items.length === 0) return;
    await client.query(QUEUE_OUTBOUND(queueValues(items, now)));
  }

  /**
   * Runs a write and applies its change to the cached counts. A re-read of the counts that overlaps a write cannot
   * tell whether its snapshot holds that write, so refreshCounts drops such a result rather than count a write twice
   * or lose it.
   */
  async counting<T>(write: () => Promise<T>, change: (result: T) => Partial<StoreCounts>): Promise<T> {
    this.countedWritesInFlight++;
    try {
      const result = await write();
      for (const [key, delta] of Object.entries(change(result)) as [keyof StoreCounts, number][]) this.counts[key] += delta;
      return result;
    } finally {
      this.countedWritesInFlight--;
      this.countsGeneration++;
    }
  }

  /**
   * Re-reads the counts (other nodes change them too). On a node that never stops writing every re-read overlaps a
   * write; after a few dropped ones the result is taken anyway, as an estimate the next quiet re-read corrects.
   */
  async refreshCounts(force = false): Promise<void> {
    const generation = this.countsGeneration;
    const overlapped = this.countedWritesInFlight > 0;
    const { rows } = await this.query<{ conversations: number; messages: string; attachments: number; bytes: string }>(
      `SELECT count(*)::int AS conversations, coalesce(sum(last_seq), 0)::text AS messages,
         (SELECT count(*)::int FROM attachments) AS attachments,
         (SELECT coalesce(sum(size + coalesce(thumbnail_size, 0)), 0)::text FROM attachments) AS bytes
       FROM conversations`,
    );
    const row = rows[0]!;
    if (!force && (overlapped || generation !== this.countsGeneration || this.countedWritesInFlight > 0) && ++this.staleRefreshes <= STALE_REFRESHES_DROPPED) {
      return;
    }
    this.staleRefreshes = 0;
    this.counts = {
      conversations: row.conversations,
      messages: Number(row.messages),
      attachments: row.attachments,
      attachmentBytes: Number(row.bytes),
    };
  }

  now(): string {
    return this.clock().toISOString();
  }

  assertOpen(): void {
    const closed = this.closedError();
    if (closed) throw closed;
  }

  /** The error a call on a store that is not open fails with; undefined while it is open. */
  closedError(): StoreError | undefined {
    return this.opened ? undefined : new StoreError('storage_unavailable', 'store is not open');
  }

  /** Anything but our own errors and constraint answers means the database is unreachable or failing. */
  failure(error: unknown): unknown {
    if (error instanceof StoreError) return error;
    // A constraint answer (class 23) is the database working: the caller decides what it means.
    if (isPgError(error) && error.code.startsWith('23')) return error;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    this.logger.error({ err: error }, 'postgres store: query failed');
    return new StoreError('storage_unavailable', message);
  }

  succeeded(): void {
    this.lastError = undefined;
  }

  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    this.assertOpen();
    try {
      const result = await this.pool.query<R>(text, values);
      this.succeeded();
      return result;
    } catch (error) {
      throw this.failure(error);
    }
  }

  /** Runs `fn` in one transaction on one connection; rolls back on any error. */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.failure(error);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      const committing = performance.now();
      await client.query('COMMIT');
      this.observeCommit?.((performance.now() - committing) / 1000);
      this.succeeded();
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError;
      }
      throw this.failure(error);
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /** Locks a conversation row for the rest of the transaction; not_found when it does not exist. */
  async lockConversation(client: pg.PoolClient, id: string): Promise<ConversationRow> {
    const locked = this.lockedRows.get(client)?.get(id);
    if (locked) return locked;
    const { rows } = await client.query<ConversationRow>(LOCK_CONVERSATION([id]));
    if (!rows[0]) throw new StoreError('not_found', `conversation ${id} not found`);
    return rows[0];
  }

  async saveConversation(
    client: pg.PoolClient,
    c: Conversation,
    delivered?: { visitor: number; agent: number },
  ): Promise<void> {
    await client.query(SAVE_CONVERSATION(conversationValues(c, delivered)));
  }

}
