/**
 * Queues: items enqueued, claimed under a lease (`FOR UPDATE SKIP LOCKED`) and the node's claim session, updated,
 * counted and pruned.
 */
import type pg from 'pg';
import { randomId } from '../../ids.ts';
import { newQueueItem, type QueueItem, type QueueLease } from '../store.ts';
import { json } from './columns.ts';
import { compareText, type PostgresState } from './postgres-state.ts';

const QUEUE_LOG_LIMIT = 20;
/** Advisory lock namespace (first key) of the nodes' claim sessions; the second key is each session's own. */
const CLAIM_SESSION_LOCK = 0x71756575;
/** The claim sessions some connection to this database holds now (each node's while it lives). */
const LIVE_CLAIM_SESSIONS = `WITH live_sessions AS MATERIALIZED (
  SELECT objid::bigint AS session FROM pg_locks
  WHERE locktype = 'advisory' AND classid = ${CLAIM_SESSION_LOCK} AND objsubid = 2 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;
/** An item nobody holds: never claimed, its lease over ($2 is now), or claimed by a session that has ended. */
const CLAIM_ENDED = `(lease_until IS NULL OR lease_until <= $2
  OR (lease_session IS NOT NULL AND lease_session NOT IN (SELECT session FROM live_sessions)))`;

/** The queue calls of the Store, and this node's claim session. */
export class PostgresQueues {
  /** The connection holding this node's claim session (see `claimSession`), while it lives. */
  private session: { client: pg.PoolClient; key: number } | undefined;
  private sessionOpening: Promise<number> | undefined;

  constructor(private readonly s: PostgresState) {}

  /**
   * This node's claim session: a session advisory lock (namespace CLAIM_SESSION_LOCK, a random key) held on a
   * connection of its own for as long as the node lives, opened on the first claim. Claims record its key; a claim
   * whose key no connection holds any more was made by a node that died (its connection closed with it), and another
   * node takes it over at once instead of waiting for the lease to run out. If the connection is lost while the node
   * lives, its claims may be taken over too (an attempt may then run twice, under the same delivery id); the next
   * claim opens a new session.
   */
  private claimSession(): Promise<number> {
    if (this.session) return Promise.resolve(this.session.key);
    this.sessionOpening ??= (async () => {
      const client = await this.s.pool.connect();
      try {
        for (;;) {
          const key = 1 + Math.floor(Math.random() * 0x7ffffffe);
          const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [CLAIM_SESSION_LOCK, key]);
          if (!rows[0]!.locked) continue;
          const session = { client, key };
          const lost = () => {
            if (this.session !== session) return;
            this.session = undefined;
            // Back to the pool as broken (it discards it), or the pool would wait for it forever when it ends.
            client.release(true);
          };
          client.on('error', lost);
          client.on('end', lost);
          this.session = session;
          return key;
        }
      } catch (error) {
        client.release(true);
        throw error;
      }
    })().finally(() => {
      this.sessionOpening = undefined;
    });
    return this.sessionOpening;
  }

  /** Ends the claim session (after `close()` drained the store's transactions). */
  async closeSession(): Promise<void> {
    await this.sessionOpening?.catch(() => undefined);
    // Destroyed, not returned to the pool: the connection's end releases the session's lock.
    const session = this.session;
    this.session = undefined;
    session?.client.release(true);
  }

  async enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    const now = this.s.now();
    const item = newQueueItem(queue, id ?? randomId(), payload, now);
    const { rows } = await this.s.query<{ doc: QueueItem<T> }>(
      `WITH inserted AS (
         INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
         VALUES ($1, $2, 'pending', $3, $3, $3, $4::json)
         ON CONFLICT (id) DO NOTHING RETURNING doc)
       SELECT doc FROM inserted UNION ALL SELECT doc FROM queue_items WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)`,
      [item.id, queue, now, json(item)],
    );
    if (rows[0]) return rows[0].doc;
    const { rows: again } = await this.s.query<{ doc: QueueItem<T> }>('SELECT doc FROM queue_items WHERE id = $1', [item.id]);
    return again[0]!.doc;
  }

  async dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    const { rows } = await this.s.query<{ doc: QueueItem<T> }>(
      `${LIVE_CLAIM_SESSIONS}
       SELECT doc FROM queue_items
       WHERE queue = $1 AND state = 'pending' AND due_at <= $2 AND ${CLAIM_ENDED}
       ORDER BY due_at, created_at LIMIT $3`,
      [queue, now, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.doc);
  }

  /**
   * `FOR UPDATE SKIP LOCKED` on the store's own table: concurrent claimers on other nodes skip the rows being
   * claimed instead of waiting, and a claim is the lease columns set in the same statement.
   */
  async claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]> {
    let session: number;
    try {
      session = await this.claimSession();
    } catch (error) {
      throw this.s.failure(error);
    }
    const { rows } = await this.s.query<{ doc: QueueItem<T> }>(
      `${LIVE_CLAIM_SESSIONS}
       UPDATE queue_items q SET lease_owner = $4, lease_until = $5, lease_session = $6
       FROM (
         SELECT id FROM queue_items
         WHERE queue = $1 AND state = 'pending' AND due_at <= $2 AND ${CLAIM_ENDED}
         ORDER BY due_at, created_at LIMIT $3
         FOR UPDATE SKIP LOCKED) due
       WHERE q.id = due.id
       RETURNING q.doc`,
      [queue, now, Math.max(0, Math.floor(limit)), lease.owner, lease.until, session],
    );
    return rows
      .map((row) => row.doc)
      .sort((a, b) => (a.dueAt === b.dueAt ? compareText(a.createdAt, b.createdAt) : compareText(a.dueAt, b.dueAt)));
  }

  async updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean> {
    const stored: QueueItem<T> = { ...item, log: item.log.slice(-QUEUE_LOG_LIMIT) };
    const values = [stored.id, stored.queue, stored.state, stored.dueAt, stored.createdAt, stored.updatedAt, json(stored)];
    if (owner !== undefined) {
      // Checked and saved in one statement: the row lock orders it against another node's claim.
      const { rowCount } = await this.s.query(
        `UPDATE queue_items SET queue = $2, state = $3, due_at = $4, created_at = $5, updated_at = $6, doc = $7::json,
           lease_owner = NULL, lease_until = NULL, lease_session = NULL
         WHERE id = $1 AND lease_owner = $8`,
        [...values, owner],
      );
      return (rowCount ?? 0) > 0;
    }
    await this.s.query(
      `INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
       VALUES ($1, $2, $3, $4, $5, $6, $7::json)
       ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, state = excluded.state, due_at = excluded.due_at,
         updated_at = excluded.updated_at, doc = excluded.doc, lease_owner = NULL, lease_until = NULL, lease_session = NULL`,
      values,
    );
    return true;
  }

  async replaceQueueItem<T>(expected: QueueItem<T>, item: QueueItem<T>): Promise<boolean> {
    if (expected.id !== item.id) return false;
    const stored: QueueItem<T> = { ...item, log: item.log.slice(-QUEUE_LOG_LIMIT) };
    // One statement: the row lock orders the comparison and the save against a concurrent save or claim on any node.
    const { rowCount } = await this.s.query(
      `UPDATE queue_items SET queue = $2, state = $3, due_at = $4, created_at = $5, updated_at = $6, doc = $7::json,
         lease_owner = NULL, lease_until = NULL, lease_session = NULL
       WHERE id = $1 AND doc::jsonb = $8::jsonb`,
      [stored.id, stored.queue, stored.state, stored.dueAt, stored.createdAt, stored.updatedAt, json(stored), json(expected)],
    );
    return (rowCount ?? 0) > 0;
  }

  async pruneQueueItems(before: string, limit: number): Promise<number> {
    const { rowCount } = await this.s.query(
      `DELETE FROM queue_items WHERE id IN (
         SELECT id FROM queue_items WHERE state <> 'pending' AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, Math.max(0, Math.floor(limit))],
    );
    return rowCount ?? 0;
  }

  async countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    const { rows } = await this.s.query<{ state: QueueItem['state']; n: number }>(
      'SELECT state, count(*)::int AS n FROM queue_items WHERE queue = $1 GROUP BY state',
      [queue],
    );
    const counts = { pending: 0, delivered: 0, dead: 0 };
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    const { rows } = await this.s.query<{ doc: QueueItem<T> }>(
      'SELECT doc FROM queue_items WHERE queue = $1 ORDER BY created_at DESC LIMIT $2',
      [queue, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.doc);
  }

  async getQueueItem<T>(queue: string, id: string): Promise<QueueItem<T> | undefined> {
    const { rows } = await this.s.query<{ doc: QueueItem<T> }>('SELECT doc FROM queue_items WHERE id = $1 AND queue = $2', [id, queue]);
    return rows[0]?.doc;
  }
}
