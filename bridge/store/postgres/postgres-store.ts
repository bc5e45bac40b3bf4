/**
 * `PostgresStore`: the `Store` for clusters. Every bridge node of a cluster uses the same database; what the
 * embedded store serialises in memory is serialised here by row locks, so it also holds across nodes:
 *
 * - Every change to a conversation's messages (append, status, receipt, external id) first locks the conversation
 *   row (`FOR UPDATE`) and bumps `lastSeq`/`rev` in the same transaction, so seq and rev stay gap-free and strictly
 *   increasing under writers on different nodes, and revs become visible in commit order (a sync reader reading
 *   `rev > cursor` never skips a row that commits later with a lower rev).
 * - Status ranks only move up, also in SQL (`WHERE status_rank < $new`).
 * - Concurrent appends share one transaction and one commit (group commit, `appendBatch`).
 *
 * The schema comes from `migrations.ts`; `open()` does not migrate and `close()` does not end the pool (its owner does).
 * See README.md in this folder.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../../logger.ts';
import type { Message } from '../../../protocol/message.ts';
import { lastMessageOf, type Channel, type Conversation, type ConversationState } from '../../../protocol/conversation.ts';
import { STATUS_RANK, isStatusAdvance, type StoredStatus } from '../../../protocol/status.ts';
import { randomId } from '../../ids.ts';
import { advance, cloneConversation, cloneMessage, newAttachment, newConversation, newMessage, newQueueItem, setVisitorEmailFields,
  PENDING_STATUS_NAMESPACE,
  StoreError,
  type RateDecision,
  type AgentChange,
  type ExternalStatusOptions,
  type OnceRecord,
  type AgentRecord,
  type AppendResult,
  type ConversationErasure,
  type ConversationQuery,
  type NewConversation,
  type NewAttachment,
  type NewMessage,
  type OutboundItem,
  type OutboundWork,
  type QueueItem,
  type QueueLease,
  type RecordDump,
  type StatusResult,
  type StatusUpdate,
  type Store,
  type StoreHealth,
  type StoredAttachment,
} from '../store.ts';
import { OutboundWorkRegistry } from '../outbound-work.ts';
import { LOGIN_THROTTLE, RATE_PERIOD_MS, claimLoginAttempt, type LoginAttempts } from '../../rate-limiter.ts';

/** Options of `PostgresStore`. */
export interface PostgresStoreOptions {
  /** Shared with the rest of the node (Socket.IO adapter, limits); the store never ends it. */
  pool: pg.Pool;
  logger: Logger;
  clock?: () => Date;
  /** Append transactions running at once; appends arriving meanwhile wait and share the next one. Default 2. */
  maxAppendBatchesInFlight?: number;
  /** Appends in one transaction at most. Default 500. */
  maxAppendBatchSize?: number;
  /** Told the seconds each write transaction's COMMIT took (the store commit latency metric, as lowdb's journal write). */
  observeCommit?: (seconds: number) => void;
}

const QUEUE_LOG_LIMIT = 20;
/** An agent row as an AgentRecord. */
const AGENT_COLUMNS = `id, name, display_name AS "displayName", role, active, password_hash AS "passwordHash",
  session_epoch AS "sessionEpoch", availability, email, created_at AS "createdAt"`;
/** An agent row as a record: a column without an address is an absent `email`. */
function agentOfRow(row: AgentRecord): AgentRecord {
  const { email, ...rest } = row as AgentRecord & { email?: string | null };
  return email == null ? { ...rest } : { ...rest, email };
}
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
/** How often `health()`'s counts are re-read (other nodes change them too). */
const HEALTH_REFRESH_MS = 5_000;
/** Re-reads that overlapped this node's writes and are dropped before one is taken as it is. */
const STALE_REFRESHES_DROPPED = 3;
/** The counts `health()` reports. */
type StoreCounts = { conversations: number; messages: number; attachments: number; attachmentBytes: number };
/** A batch that lost a dedupe race to another node is retried this often before giving up. */
const APPEND_ATTEMPTS = 3;

interface ConversationRow {
  doc: Conversation;
  delivered_visitor_seq: string;
  delivered_agent_seq: string;
}

interface PendingAppend {
  input: NewMessage;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** A status change (receipt or status) waiting for the next shared status transaction. */
interface PendingStatusWrite {
  conversationId: string;
  /** Runs inside the shared transaction, under the conversation's lock; throws only StoreErrors before writing. */
  run: (client: pg.PoolClient) => Promise<StatusResult>;
  resolve: (result: StatusResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Inserts messages given as `messageColumns` ($1..$10, one array per column): one statement for any number of them
 * (the append batch, the lowdb import).
 */
export const INSERT_MESSAGES = `INSERT INTO messages (conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc)
  SELECT conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc::json
  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::smallint[], $8::text[],
              $9::text[], $10::text[])
    AS v (conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc)`;

/** The parameters of INSERT_MESSAGES for `messages`: what the indexed columns hold, and the whole message as JSON. */
export function messageColumns(messages: readonly Message[]): unknown[][] {
  return [
    messages.map((m) => m.conversationId),
    messages.map((m) => m.seq),
    messages.map((m) => m.id),
    messages.map((m) => m.clientId),
    messages.map((m) => m.rev),
    messages.map((m) => m.author.role),
    messages.map((m) => STATUS_RANK[m.status]),
    messages.map((m) => m.externalId ?? null),
    messages.map((m) => searchable(m.text)),
    messages.map((m) => json(m)),
  ];
}

/** Lower-cased for `strpos` search as the embedded store compares (`toLowerCase`); `text` cannot hold NUL. */
export function searchable(text: string): string {
  return text.toLowerCase().replaceAll('\u0000', '');
}

/**
 * JSON for a `json` column. PostgreSQL refuses the escape JSON.stringify writes for a lone UTF-16 surrogate (which
 * UTF-8 cannot encode either), so such strings are stored with U+FFFD in its place, as any UTF-8 system would.
 */
export function json(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined || !text.includes('\\ud')) return text;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replace(LONE_SURROGATE, '\ufffd') : v));
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

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

/** A changed message's status shows in the inbox preview when it is the conversation's newest. */
function followLastMessage(conversation: Conversation, m: Message): void {
  if (m.rev > conversation.rev) conversation.rev = m.rev;
  if (conversation.lastMessage?.seq === m.seq) conversation.lastMessage.status = m.status;
}

function isPgError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** The PostgreSQL engine of `Store`. */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly maxInFlight: number;
  private readonly maxBatchSize: number;
  private opened = false;
  private lastError: string | undefined;
  private counts: StoreCounts = { conversations: 0, messages: 0, attachments: 0, attachmentBytes: 0 };
  /** Writes whose count change is not applied yet, and how many have applied one: a re-read overlapping either is stale. */
  private countedWritesInFlight = 0;
  private countsGeneration = 0;
  private staleRefreshes = 0;
  private healthTimer: NodeJS.Timeout | undefined;
  private pendingAppends: PendingAppend[] = [];
  private flushScheduled = false;
  private batchesInFlight = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private pendingStatusWrites: PendingStatusWrite[] = [];
  private statusFlushScheduled = false;
  private statusBatchesInFlight = 0;
  /** Conversation rows a shared status transaction locked up front, by its connection. */
  private readonly lockedRows = new WeakMap<pg.PoolClient, Map<string, ConversationRow>>();
  private readonly outbound: OutboundWorkRegistry;
  private limitsSweptAt = 0;
  /** The connection holding this node's claim session (see `claimSession`), while it lives. */
  private session: { client: pg.PoolClient; key: number } | undefined;
  private sessionOpening: Promise<number> | undefined;
  private readonly observeCommit: ((seconds: number) => void) | undefined;

  constructor(options: PostgresStoreOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.clock = options.clock ?? (() => new Date());
    this.maxInFlight = options.maxAppendBatchesInFlight ?? 2;
    this.maxBatchSize = options.maxAppendBatchSize ?? 500;
    this.outbound = new OutboundWorkRegistry(this.logger);
    this.observeCommit = options.observeCommit;
  }

  /** Registers outbound work; asked inside every later append and status change (see `Store.addOutboundWork`). */
  addOutboundWork(work: OutboundWork): () => void {
    return this.outbound.add(work);
  }

  /** Queues derived items in the change's own transaction; ids that exist already are left as they are. */
  private async queueOutbound(client: pg.PoolClient, items: OutboundItem[], now: string): Promise<void> {
    if (items.length === 0) return;
    await client.query(
      `INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
       SELECT id, queue, 'pending', $3, $3, $3, doc::json FROM unnest($1::text[], $2::text[], $4::text[]) AS v (id, queue, doc)
       ON CONFLICT (id) DO NOTHING`,
      [items.map((i) => i.id), items.map((i) => i.queue), now, items.map((i) => json(newQueueItem(i.queue, i.id, i.payload, now)))],
    );
  }

  async open(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ version: number | null }>(
        "SELECT (SELECT max(version) FROM schema_migrations) AS version WHERE to_regclass('schema_migrations') IS NOT NULL",
      );
      if (!rows[0]?.version) {
        throw new Error('the database has no anon-chat schema yet: run `npm run migrate` (or start a node that migrates)');
      }
    } catch (error) {
      if (isPgError(error) && error.code === '42P01') {
        throw new Error('the database has no anon-chat schema yet: run `npm run migrate` (or start a node that migrates)', {
          cause: error,
        });
      }
      throw error;
    }
    this.opened = true;
    await this.refreshCounts(true);
    this.healthTimer = setInterval(() => void this.refreshCounts().catch(() => undefined), HEALTH_REFRESH_MS);
    this.healthTimer.unref();
  }

  async close(): Promise<void> {
    this.opened = false;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    // Appends already accepted still commit (or fail) and answer their callers.
    while (this.pendingAppends.length > 0 || this.pendingStatusWrites.length > 0 || this.inFlight.size > 0) {
      if (this.pendingAppends.length > 0 && this.batchesInFlight < this.maxInFlight) this.flushAppends();
      if (this.pendingStatusWrites.length > 0 && this.statusBatchesInFlight < this.maxInFlight) this.flushStatusWrites();
      await Promise.all([...this.inFlight]);
    }
    await this.sessionOpening?.catch(() => undefined);
    // Destroyed, not returned to the pool: the connection's end releases the session's lock.
    const session = this.session;
    this.session = undefined;
    session?.client.release(true);
  }

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
      const client = await this.pool.connect();
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

  health(): StoreHealth {
    return {
      ok: this.opened && this.lastError === undefined,
      engine: 'postgres',
      conversations: this.counts.conversations,
      messages: this.counts.messages,
      attachments: this.counts.attachments,
      attachmentBytes: this.counts.attachmentBytes,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Runs a write and applies its change to the cached counts. A re-read of the counts that overlaps a write cannot
   * tell whether its snapshot holds that write, so refreshCounts drops such a result rather than count a write twice
   * or lose it.
   */
  private async counting<T>(write: () => Promise<T>, change: (result: T) => Partial<StoreCounts>): Promise<T> {
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
  private async refreshCounts(force = false): Promise<void> {
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

  // ------------------------------------------------------------------ plumbing

  private now(): string {
    return this.clock().toISOString();
  }

  private assertOpen(): void {
    const closed = this.closedError();
    if (closed) throw closed;
  }

  /** The error a call on a store that is not open fails with; undefined while it is open. */
  private closedError(): StoreError | undefined {
    return this.opened ? undefined : new StoreError('storage_unavailable', 'store is not open');
  }

  /** Anything but our own errors and constraint answers means the database is unreachable or failing. */
  private failure(error: unknown): unknown {
    if (error instanceof StoreError) return error;
    // A constraint answer (class 23) is the database working: the caller decides what it means.
    if (isPgError(error) && error.code.startsWith('23')) return error;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    this.logger.error({ err: error }, 'postgres store: query failed');
    return new StoreError('storage_unavailable', message);
  }

  private succeeded(): void {
    this.lastError = undefined;
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
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
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
  private async lockConversation(client: pg.PoolClient, id: string): Promise<ConversationRow> {
    const locked = this.lockedRows.get(client)?.get(id);
    if (locked) return locked;
    const { rows } = await client.query<ConversationRow>(
      'SELECT doc, delivered_visitor_seq, delivered_agent_seq FROM conversations WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!rows[0]) throw new StoreError('not_found', `conversation ${id} not found`);
    return rows[0];
  }

  private async saveConversation(
    client: pg.PoolClient,
    c: Conversation,
    delivered?: { visitor: number; agent: number },
  ): Promise<void> {
    await client.query(
      `UPDATE conversations SET doc = $2::json, state = $3, last_seq = $4, rev = $5, last_activity_at = $6,
         name_lower = $7, delivered_visitor_seq = coalesce($8, delivered_visitor_seq),
         delivered_agent_seq = coalesce($9, delivered_agent_seq), closed_at = $10, assignee_id = $11
       WHERE id = $1`,
      [
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
      ],
    );
  }

  /** Saves a message's new state; a status change only lands on a lower rank (never backwards, also in SQL). */
  private async saveMessage(client: pg.PoolClient, m: Message, statusChange: boolean): Promise<void> {
    await client.query(
      `UPDATE messages SET doc = $3::json, rev = $4, status_rank = $5, external_id = $6
       WHERE conversation_id = $1 AND id = $2 AND (status_rank < $5 OR NOT $7)`,
      [m.conversationId, m.id, json(m), m.rev, STATUS_RANK[m.status], m.externalId ?? null, statusChange],
    );
  }

  // ------------------------------------------------------------------ conversations

  async createConversation(input: NewConversation): Promise<Conversation> {
    const now = this.now();
    const conversation = newConversation(input.id ?? randomId(), input, now);
    const { rows } = await this.counting(() => this.query<{ doc: Conversation; created: boolean }>(
      `WITH inserted AS (
         INSERT INTO conversations (id, doc, channel, external_user_id, state, last_seq, rev, last_activity_at, name_lower,
           external_user_link)
         VALUES ($1, $2::json, $3, $4, 'open', 0, 0, $5, $6,
           CASE WHEN $4::text IS NULL THEN 0 ELSE nextval('conversation_external_user_links') END)
         ON CONFLICT (id) DO NOTHING
         RETURNING doc)
       SELECT doc, true AS created FROM inserted
       UNION ALL SELECT doc, false FROM conversations WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)`,
      [conversation.id, json(conversation), conversation.channel, conversation.externalUserId ?? null, now, searchable(conversation.name)],
    ), ({ rows }) => ({ conversations: rows[0]?.created ? 1 : 0 }));
    if (rows[0]) {
      return rows[0].doc;
    }
    // Inserted by a concurrent creator after this statement's snapshot: read it now.
    const again = await this.getConversation(conversation.id);
    if (!again) throw new StoreError('storage_unavailable', `conversation ${conversation.id} vanished`);
    return again;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const { rows } = await this.query<{ doc: Conversation }>('SELECT doc FROM conversations WHERE id = $1', [id]);
    return rows[0]?.doc;
  }

  async findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    const { rows } = await this.query<{ doc: Conversation }>(
      `SELECT doc FROM conversations WHERE channel = $1 AND external_user_id = $2
       ORDER BY external_user_link DESC LIMIT 1`,
      [channel, externalUserId],
    );
    return rows[0]?.doc;
  }

  async setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation> {
    return this.transaction(async (client) => {
      const { doc } = await this.lockConversation(client, id);
      if (doc.externalUserId === externalUserId) return doc;
      doc.externalUserId = externalUserId;
      await client.query(
        `UPDATE conversations SET doc = $2::json, external_user_id = $3,
           external_user_link = nextval('conversation_external_user_links') WHERE id = $1`,
        [id, json(doc), externalUserId],
      );
      return doc;
    });
  }

  async setConversationState(id: string, state: ConversationState): Promise<Conversation> {
    return this.transaction(async (client) => {
      const { doc } = await this.lockConversation(client, id);
      if (doc.state === state) return doc;
      doc.state = state;
      if (state === 'closed') doc.closedAt = this.now();
      else delete doc.closedAt;
      await this.saveConversation(client, doc);
      return doc;
    });
  }

  async setConversationAssignee(
    id: string,
    assigneeId: string | null,
    options: { onlyIfUnassigned?: boolean } = {},
  ): Promise<Conversation> {
    return this.transaction(async (client) => {
      const { doc } = await this.lockConversation(client, id);
      if ((doc.assigneeId ?? null) === assigneeId) return doc;
      if (options.onlyIfUnassigned && doc.assigneeId !== undefined) return doc;
      if (assigneeId === null) delete doc.assigneeId;
      else doc.assigneeId = assigneeId;
      await this.saveConversation(client, doc);
      return doc;
    });
  }

  async setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation> {
    return this.transaction(async (client) => {
      const { doc } = await this.lockConversation(client, id);
      const next = email === null ? undefined : page;
      if ((doc.visitorEmail ?? null) === email && (next === undefined || doc.visitorPage === next)) return doc;
      setVisitorEmailFields(doc, email, next);
      await this.saveConversation(client, doc);
      return doc;
    });
  }

  async unassignAgentConversations(agentId: string): Promise<Conversation[]> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ doc: Conversation }>(
        'SELECT doc FROM conversations WHERE assignee_id = $1 ORDER BY id COLLATE "C" FOR UPDATE',
        [agentId],
      );
      const changed = rows.map((row) => {
        delete row.doc.assigneeId;
        return row.doc;
      });
      if (changed.length > 0) {
        await client.query(
          `UPDATE conversations c SET doc = v.doc::json, assignee_id = NULL
           FROM unnest($1::text[], $2::text[]) AS v (id, doc) WHERE c.id = v.id`,
          [changed.map((c) => c.id), changed.map((c) => json(c))],
        );
      }
      return changed;
    });
  }

  /**
   * Deletes the conversation's rows and the related ones in one transaction. PostgreSQL keeps deleted rows in its
   * data files until VACUUM reuses the space, and in WAL until it is recycled (see README, Limits).
   */
  async eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    const records = related.records ?? [];
    const prefixes = related.queueItemIdPrefixes ?? [];
    const erased = await this.counting(() => this.transaction(async (client) => {
      const { rows } = await client.query<{ doc: Conversation }>('SELECT doc FROM conversations WHERE id = $1 FOR UPDATE', [id]);
      const conversation = rows[0]?.doc;
      if (related.ifClosedBefore !== undefined && !(conversation && closedBefore(conversation, related.ifClosedBefore))) {
        return undefined;
      }
      let files = { attachments: 0, bytes: 0 };
      if (conversation) {
        const deleted = await client.query<{ attachments: number; bytes: string }>(
          `WITH gone AS (DELETE FROM attachments WHERE conversation_id = $1 RETURNING size + coalesce(thumbnail_size, 0) AS bytes)
           SELECT count(*)::int AS attachments, coalesce(sum(bytes), 0)::text AS bytes FROM gone`,
          [id],
        );
        files = { attachments: deleted.rows[0]!.attachments, bytes: Number(deleted.rows[0]!.bytes) };
        await client.query('DELETE FROM messages WHERE conversation_id = $1', [id]);
        await client.query('DELETE FROM conversations WHERE id = $1', [id]);
      }
      if (records.length > 0) {
        await client.query(
          `DELETE FROM records r USING unnest($1::text[], $2::text[]) AS k (namespace, key)
           WHERE r.namespace = k.namespace AND r.key = k.key`,
          [records.map((r) => r.namespace), records.map((r) => r.key)],
        );
      }
      if (prefixes.length > 0) {
        await client.query('DELETE FROM queue_items WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS p (prefix) WHERE starts_with(id, p.prefix))', [prefixes]);
      }
      return conversation && { conversation, files };
    }), (erased): Partial<StoreCounts> => erased ? {
      conversations: -1,
      messages: -erased.conversation.lastSeq,
      attachments: -erased.files.attachments,
      attachmentBytes: -erased.files.bytes,
    } : {});
    return erased !== undefined;
  }

  async closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    const { rows } = await this.query<{ id: string }>(
      `SELECT id FROM conversations
       WHERE state = 'closed' AND coalesce(closed_at, last_activity_at) < $1 AND last_activity_at < $1
       ORDER BY closed_at LIMIT $2`,
      [before, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.id);
  }

  async listConversations(query: ConversationQuery): Promise<Conversation[]> {
    const needle = query.query?.trim() ? searchable(query.query.trim()) : null;
    const limit = query.limit === undefined ? null : Math.max(0, Math.floor(query.limit));
    const { rows } = await this.query<{ doc: Conversation }>(
      `SELECT doc FROM conversations c
       WHERE last_seq > 0 AND ($1::text IS NULL OR state = $1)
         AND (NOT $4::boolean OR assignee_id IS NOT DISTINCT FROM $5::text)
         AND ($2::text IS NULL OR strpos(name_lower, $2) > 0
              OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND strpos(m.text_lower, $2) > 0))
       ORDER BY last_activity_at DESC, id COLLATE "C" DESC
       LIMIT $3`,
      [query.filter === 'open' ? 'open' : null, needle, limit, query.assigneeId !== undefined, query.assigneeId ?? null],
    );
    return rows.map((row) => row.doc);
  }

  // ------------------------------------------------------------------ messages

  /**
   * Queued for the next append transaction: every append arriving while `maxAppendBatchesInFlight` transactions run
   * (or in the same event-loop turn) shares one transaction and one commit.
   */
  appendMessage(input: NewMessage): Promise<AppendResult> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    return new Promise<AppendResult>((resolve, reject) => {
      this.pendingAppends.push({ input, resolve, reject });
      if (!this.flushScheduled && this.batchesInFlight < this.maxInFlight) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushAppends();
        });
      }
    });
  }

  private flushAppends(): void {
    while (this.pendingAppends.length > 0 && this.batchesInFlight < this.maxInFlight) {
      const batch = this.pendingAppends.splice(0, this.maxBatchSize);
      this.batchesInFlight++;
      const run = this.runAppendBatch(batch).finally(() => {
        this.batchesInFlight--;
        this.inFlight.delete(run);
        if (this.pendingAppends.length > 0) this.flushAppends();
      });
      this.inFlight.add(run);
    }
  }

  private async runAppendBatch(batch: PendingAppend[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.counting(() => this.appendBatch(batch.map((p) => p.input)), (results) => ({
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
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ kind: 'c' | 'm'; id: string; doc: Conversation | Message }>(
        `WITH locked AS MATERIALIZED (
           SELECT id, doc FROM conversations WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE)
         SELECT 'c' AS kind, id, doc FROM locked
         UNION ALL
         SELECT 'm', m.conversation_id, m.doc FROM messages m
           JOIN unnest($2::text[], $3::text[]) AS k (conversation_id, client_id)
             ON m.conversation_id = k.conversation_id AND m.client_id = k.client_id`,
        [conversationIds, inputs.map((i) => i.conversationId), inputs.map((i) => i.clientId)],
      );
      const conversations = new Map<string, Conversation>();
      const stored = new Map<string, Message>();
      for (const row of rows) {
        if (row.kind === 'c') conversations.set(row.id, row.doc as Conversation);
        else stored.set(`${row.id}\u0000${(row.doc as Message).clientId}`, row.doc as Message);
      }
      const now = this.now();
      const created: Message[] = [];
      const outbound: OutboundItem[] = [];
      const results = inputs.map((input): AppendResult | StoreError => {
        const conversation = conversations.get(input.conversationId);
        if (!conversation) return new StoreError('not_found', `conversation ${input.conversationId} not found`);
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
        const result = { message: cloneMessage(message), created: true, conversation: cloneConversation(conversation) };
        outbound.push(...this.outbound.messageCreated(result.message, result.conversation));
        return result;
      });
      if (created.length > 0) {
        const touched = [...new Set(created.map((m) => m.conversationId))].map((id) => conversations.get(id)!);
        const { rows: counted } = await client.query<{ inserted: number }>(
          `WITH inserted AS (
             ${INSERT_MESSAGES}
             ON CONFLICT (conversation_id, client_id) DO NOTHING
             RETURNING 1),
           saved AS (
             UPDATE conversations c SET doc = v.doc::json, last_seq = v.last_seq, rev = v.rev,
               last_activity_at = v.last_activity_at, state = v.state, closed_at = v.closed_at, assignee_id = v.assignee_id
             FROM unnest($11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::text[],
                         $18::text[])
               AS v (id, doc, last_seq, rev, last_activity_at, state, closed_at, assignee_id)
             WHERE c.id = v.id
             RETURNING 1)
           SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM saved)::int AS saved`,
          [
            ...messageColumns(created),
            touched.map((c) => c.id),
            touched.map((c) => json(c)),
            touched.map((c) => c.lastSeq),
            touched.map((c) => c.rev),
            touched.map((c) => c.lastActivityAt),
            touched.map((c) => c.state),
            touched.map((c) => c.closedAt ?? null),
            touched.map((c) => c.assigneeId ?? null),
          ],
        );
        // A retry stored by another node after this statement's snapshot but before our lock: redo the batch.
        if (counted[0]!.inserted !== created.length) throw new DedupeRace();
        await this.queueOutbound(client, outbound, now);
      }
      return results;
    });
  }

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    const { rows } = await this.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2',
      [conversationId, messageId],
    );
    return rows[0]?.doc;
  }

  async getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    const limit = Math.max(0, Math.floor(opts.limit));
    const { rows } = await this.query<{ doc: Message }>(
      `SELECT doc FROM (
         SELECT seq, doc FROM messages WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3) newest
       ORDER BY seq`,
      [conversationId, opts.beforeSeq ?? null, limit],
    );
    return rows.map((row) => row.doc);
  }

  async getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    const { rows } = await this.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE conversation_id = $1 AND rev > $2 ORDER BY rev LIMIT $3',
      [conversationId, afterRev, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.doc);
  }

  async applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    return this.sharedStatusWrite(conversationId, (client) => this.applyStatusIn(client, conversationId, messageId, update, once));
  }

  /**
   * Queued for the next shared status transaction: receipts and statuses arriving while `maxAppendBatchesInFlight`
   * of them run (or in the same event-loop turn) share one transaction and one commit, as appends do.
   */
  private sharedStatusWrite(conversationId: string, run: PendingStatusWrite['run']): Promise<StatusResult> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    return new Promise<StatusResult>((resolve, reject) => {
      this.pendingStatusWrites.push({ conversationId, run, resolve, reject });
      if (!this.statusFlushScheduled && this.statusBatchesInFlight < this.maxInFlight) {
        this.statusFlushScheduled = true;
        setImmediate(() => {
          this.statusFlushScheduled = false;
          this.flushStatusWrites();
        });
      }
    });
  }

  private flushStatusWrites(): void {
    while (this.pendingStatusWrites.length > 0 && this.statusBatchesInFlight < this.maxInFlight) {
      const batch = this.pendingStatusWrites.splice(0, this.maxBatchSize);
      this.statusBatchesInFlight++;
      const run = this.runStatusBatch(batch).finally(() => {
        this.statusBatchesInFlight--;
        this.inFlight.delete(run);
        if (this.pendingStatusWrites.length > 0) this.flushStatusWrites();
      });
      this.inFlight.add(run);
    }
  }

  /**
   * One transaction for many status changes, applied in arrival order. Their conversations are locked first, in id
   * order (as append batches lock theirs, so batches on different nodes never deadlock), and the changes read and
   * update those locked rows, so a change sees the ones before it. A change refused with a StoreError has written
   * nothing and leaves its batch-mates alone; any other failure reruns each change in its own transaction.
   */
  private async runStatusBatch(batch: PendingStatusWrite[]): Promise<void> {
    let outcomes: ({ ok: true; result: StatusResult } | { ok: false; error: unknown })[];
    try {
      outcomes = await this.transaction(async (client) => {
        const ids = [...new Set(batch.map((w) => w.conversationId))].sort(compareText);
        const { rows } = await client.query<ConversationRow & { id: string }>(
          `SELECT id, doc, delivered_visitor_seq, delivered_agent_seq FROM conversations
           WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE`,
          [ids],
        );
        this.lockedRows.set(client, new Map(rows.map((row) => [row.id, row])));
        try {
          const done: typeof outcomes = [];
          for (const write of batch) {
            try {
              const result = await write.run(client);
              // Later changes in the batch go on changing the locked row's document: the caller gets it as it is now.
              done.push({ ok: true, result: { changed: result.changed, conversation: cloneConversation(result.conversation) } });
            } catch (error) {
              if (!(error instanceof StoreError) || batch.length === 1) throw error;
              done.push({ ok: false, error });
            }
          }
          return done;
        } finally {
          this.lockedRows.delete(client);
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
      const { doc: conversation } = await this.lockConversation(client, conversationId);
      const { rows } = await client.query<{ doc: Message }>(
        'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2',
        [conversationId, messageId],
      );
      const current = rows[0]?.doc;
      if (!current) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
      if (once) await this.addOnce(client, once);
      const changed: Message[] = [];
      const failedAgain = update.again === true && current.status === 'failed' && update.status === 'failed';
      if (isStatusAdvance(current.status, update.status) || failedAgain) {
        const next = advance(current, update.status, update.at ?? this.now(), conversation.rev + 1, update);
        followLastMessage(conversation, next);
        // Under the conversation lock; a failure after a retry keeps the status rank, so it is not a rank guard.
        await this.saveMessage(client, next, !failedAgain);
        await this.saveConversation(client, conversation);
        changed.push(next);
        await this.queueOutbound(client, this.outbound.statusChanged(changed, conversation), this.now());
      }
      return { changed, conversation };
    }
  }

  /** Adds `once` in the running transaction; `conflict` (the transaction rolls back) when it exists already. */
  private async addOnce(client: pg.PoolClient, once: OnceRecord): Promise<void> {
    const { rows } = await client.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE records.expires_at IS NOT NULL AND records.expires_at <= $5
       RETURNING 1`,
      [once.namespace, once.key, json(once.value) ?? null, once.expiresAt ?? null, this.now()],
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
    return this.sharedStatusWrite(conversationId, async (client) => {
      const row = await this.lockConversation(client, conversationId);
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
      const { rows } = await client.query<{ doc: Message }>(
        `SELECT doc FROM messages WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3 AND role = $4 ORDER BY seq`,
        [conversationId, start, end, authorRole],
      );
      const at = this.now();
      const nowRead = authorRole === 'visitor' && status === 'read' ? rows.length : 0;
      for (const { doc: m } of rows) {
        if (!isStatusAdvance(m.status, status)) continue;
        const next = advance(m, status, at, conversation.rev + 1);
        followLastMessage(conversation, next);
        changed.push(next);
      }
      const wouldChange = end > deliveredMark || (status === 'read' && end > readMark) || nowRead > 0;
      if (!wouldChange && changed.length === 0) return { changed, conversation };
      if (changed.length > 0) {
        await client.query(
          `UPDATE messages m SET doc = v.doc::json, rev = v.rev, status_rank = v.status_rank
           FROM unnest($2::text[], $3::text[], $4::bigint[], $5::smallint[]) AS v (id, doc, rev, status_rank)
           WHERE m.conversation_id = $1 AND m.id = v.id AND m.status_rank < v.status_rank`,
          [conversationId, changed.map((m) => m.id), changed.map((m) => json(m)), changed.map((m) => m.rev), changed.map((m) => STATUS_RANK[m.status])],
        );
      }
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
      await this.saveConversation(client, conversation, delivered);
      row.delivered_visitor_seq = String(delivered.visitor);
      row.delivered_agent_seq = String(delivered.agent);
      await this.queueOutbound(client, this.outbound.statusChanged(changed, conversation), at);
      return { changed, conversation };
    });
  }

  async setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    return this.transaction(async (client) => {
      await this.lockExternalId(client, externalId);
      const { doc: conversation } = await this.lockConversation(client, conversationId);
      const { rows } = await client.query<{ doc: Message }>(
        'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2',
        [conversationId, messageId],
      );
      const current = rows[0]?.doc;
      if (!current) throw new StoreError('not_found', `message ${messageId} not found in ${conversationId}`);
      if (current.externalId === externalId) return current;
      // The channel accepted it: agents see the reply become `sent` (sync resends it), also after a failed attempt.
      const next: Message = { ...current, externalId, rev: conversation.rev + 1 };
      if (next.status === 'failed') {
        next.status = 'sent';
        delete next.failure;
      }
      followLastMessage(conversation, next);
      // The acceptance is a status change for receivers too (`sent` with the channel's id): queued in this transaction.
      await this.queueOutbound(client, this.outbound.statusChanged([next], conversation), this.now());
      // A status that arrived before the id (kept by applyStatusByExternalId) is applied now, as the next change.
      const { rows: keptRows } = await client.query<{ value: StatusUpdate; live: boolean }>(
        `DELETE FROM records WHERE namespace = $1 AND key = $2
         RETURNING value, (expires_at IS NULL OR expires_at > $3) AS live`,
        [PENDING_STATUS_NAMESPACE, externalId, this.now()],
      );
      const kept = keptRows[0]?.live ? keptRows[0].value : undefined;
      let last = next;
      if (kept && isStatusAdvance(next.status, kept.status)) {
        last = advance(next, kept.status, kept.at ?? this.now(), next.rev + 1, kept);
        followLastMessage(conversation, last);
        await this.queueOutbound(client, this.outbound.statusChanged([last], conversation), this.now());
      }
      await this.saveMessage(client, last, false);
      await this.saveConversation(client, conversation);
      return last;
    });
  }

  async applyStatusByExternalId(
    externalId: string,
    update: StatusUpdate,
    options: ExternalStatusOptions = {},
  ): Promise<StatusResult | undefined> {
    return this.transaction(async (client) => {
      await this.lockExternalId(client, externalId);
      const { rows } = await client.query<{ conversation_id: string; id: string }>(
        'SELECT conversation_id, id FROM messages WHERE external_id = $1 LIMIT 1',
        [externalId],
      );
      const target = rows[0];
      if (target) return this.applyStatusIn(client, target.conversation_id, target.id, update, options.once);
      if (options.once) await this.addOnce(client, options.once);
      if (options.keepUntil !== undefined) {
        // Under the id's lock: the kept status only ever rises, and setExternalId sees it or is seen.
        await client.query(
          `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
           ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
             WHERE records.expires_at <= $6 OR coalesce((records.value->>'status'), '') NOT IN (SELECT unnest($5::text[]))`,
          [PENDING_STATUS_NAMESPACE, externalId, json(update), options.keepUntil, atOrAbove(update.status), this.now()],
        );
      }
      return undefined;
    });
  }

  private async messageByExternalId(externalId: string): Promise<Message | undefined> {
    const { rows } = await this.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE external_id = $1 LIMIT 1',
      [externalId],
    );
    return rows[0]?.doc;
  }

  async findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    return this.messageByExternalId(externalId);
  }

  // ------------------------------------------------------------------ agents

  async createAgent(agent: AgentRecord): Promise<void> {
    try {
      await this.query(
        `INSERT INTO agents (id, name, display_name, role, active, password_hash, session_epoch, availability, created_at, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          agent.id,
          agent.name,
          agent.displayName,
          agent.role,
          agent.active,
          agent.passwordHash,
          agent.sessionEpoch,
          agent.availability,
          agent.createdAt,
          agent.email ?? null,
        ],
      );
    } catch (error) {
      if (isPgError(error) && error.code === '23505') throw new StoreError('conflict', `agent ${agent.name} already exists`);
      throw error;
    }
  }

  async getAgentByName(name: string): Promise<AgentRecord | undefined> {
    return this.agentWhere('name', name);
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.agentWhere('id', id);
  }

  private async agentWhere(column: 'id' | 'name', value: string): Promise<AgentRecord | undefined> {
    const { rows } = await this.query<AgentRecord>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE ${column} = $1`, [value]);
    return rows[0] ? agentOfRow(rows[0]) : undefined;
  }

  async countAgents(): Promise<number> {
    const { rows } = await this.query<{ n: number }>('SELECT count(*)::int AS n FROM agents');
    return rows[0]!.n;
  }

  async listAgents(): Promise<AgentRecord[]> {
    const { rows } = await this.query<AgentRecord>(`SELECT ${AGENT_COLUMNS} FROM agents ORDER BY created_at, name`);
    return rows.map(agentOfRow);
  }

  async updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    return this.transaction(async (client) => {
      // Agent changes are rare: one at a time across all nodes makes the last-admin check exact (two admins
      // demoting each other at once see each other's change).
      await client.query('LOCK TABLE agents IN SHARE ROW EXCLUSIVE MODE');
      const before = await client.query<{ admin: boolean }>("SELECT role = 'admin' AND active AS admin FROM agents WHERE id = $1", [id]);
      if (before.rowCount === 0) throw new StoreError('not_found', `no agent ${id}`);
      const { rows } = await client.query<AgentRecord>(
        `UPDATE agents SET
           display_name = coalesce($2, display_name),
           role = coalesce($3, role),
           active = coalesce($4, active),
           password_hash = coalesce($5, password_hash),
           session_epoch = session_epoch + $6,
           availability = coalesce($7, availability),
           email = CASE WHEN $8::boolean THEN $9 ELSE email END
         WHERE id = $1
         RETURNING ${AGENT_COLUMNS}`,
        [
          id,
          change.displayName ?? null,
          change.role ?? null,
          change.active ?? null,
          change.passwordHash ?? null,
          change.revokeSessions ? 1 : 0,
          change.availability ?? null,
          change.email !== undefined,
          change.email ?? null,
        ],
      );
      const updated = rows[0]!;
      if (before.rows[0]!.admin && !(updated.role === 'admin' && updated.active)) {
        const admins = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM agents WHERE role = 'admin' AND active");
        if (admins.rows[0]!.n === 0) throw new StoreError('last_admin', 'the last active admin must stay an active admin');
      }
      return agentOfRow(updated);
    });
  }

  // ------------------------------------------------------------------ attachments

  async putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    const earlier = await this.findAttachmentByUploadKey(input.conversationId, input.uploader, input.uploadKey);
    if (earlier) return { attachment: earlier, created: false };
    const sha256 = createHash('sha256').update(input.content).digest('hex');
    const attachment = newAttachment(input, { id: randomId(), sha256 }, this.now());
    const created = await this.counting(() => this.transaction(async (client) => {
      // Shares the conversation's row lock with erasure: a file is never stored into a conversation being erased.
      await client.query('SELECT 1 FROM conversations WHERE id = $1 FOR SHARE', [input.conversationId]).then(({ rowCount }) => {
        if (!rowCount) throw new StoreError('not_found', `conversation ${input.conversationId} not found`);
      });
      const { rowCount } = await client.query(
        `INSERT INTO attachments (id, conversation_id, uploader, upload_key, size, thumbnail_size, doc, content, thumbnail)
         VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9)
         ON CONFLICT (conversation_id, uploader, upload_key) DO NOTHING`,
        [
          attachment.id,
          attachment.conversationId,
          attachment.uploader,
          attachment.uploadKey,
          attachment.size,
          attachment.thumbnailSize ?? null,
          json(attachment),
          Buffer.from(input.content.buffer, input.content.byteOffset, input.content.byteLength),
          input.thumbnail ? Buffer.from(input.thumbnail.buffer, input.thumbnail.byteOffset, input.thumbnail.byteLength) : null,
        ],
      );
      return rowCount === 1;
    }), (created) => created ? { attachments: 1, attachmentBytes: attachment.size + (attachment.thumbnailSize ?? 0) } : {});
    if (!created) {
      // Another node stored the same upload first.
      const raced = await this.findAttachmentByUploadKey(input.conversationId, input.uploader, input.uploadKey);
      if (!raced) throw new StoreError('conflict', 'attachment upload raced with an erasure');
      return { attachment: raced, created: false };
    }
    return { attachment: { ...attachment }, created: true };
  }

  async getAttachment(id: string): Promise<StoredAttachment | undefined> {
    const { rows } = await this.query<{ doc: StoredAttachment }>('SELECT doc FROM attachments WHERE id = $1', [id]);
    return rows[0]?.doc;
  }

  async findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    const { rows } = await this.query<{ doc: StoredAttachment }>(
      'SELECT doc FROM attachments WHERE conversation_id = $1 AND uploader = $2 AND upload_key = $3',
      [conversationId, uploader, uploadKey],
    );
    return rows[0]?.doc;
  }

  async readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    const { rows } = await this.query<{ bytes: Buffer | null }>(
      `SELECT ${variant === 'content' ? 'content' : 'thumbnail'} AS bytes FROM attachments WHERE id = $1`,
      [id],
    );
    return rows[0]?.bytes ?? undefined;
  }

  // ------------------------------------------------------------------ records

  async putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    await this.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      [namespace, key, json(value) ?? null, expiresAt ?? null],
    );
  }

  async getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    const { rows } = await this.query<{ value: string | null }>(
      `SELECT value::text AS value FROM records WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [namespace, key, this.now()],
    );
    const value = rows[0]?.value;
    return value === undefined || value === null ? undefined : (JSON.parse(value) as T);
  }

  async listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    const { rows } = await this.query<{ key: string; value: string | null; expires_at: string | null }>(
      `SELECT key, value::text AS value, expires_at FROM records
       WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY key COLLATE "C" LIMIT $3`,
      [namespace, this.now(), Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => ({
      namespace,
      key: row.key,
      value: row.value === null ? undefined : (JSON.parse(row.value) as unknown),
      ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    }));
  }

  async deleteRecord(namespace: string, key: string): Promise<void> {
    await this.query('DELETE FROM records WHERE namespace = $1 AND key = $2', [namespace, key]);
  }

  async addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    // An expired record counts as absent: it is replaced in the same statement.
    const { rows } = await this.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE records.expires_at IS NOT NULL AND records.expires_at <= $5
       RETURNING 1`,
      [namespace, key, json(value) ?? null, expiresAt ?? null, this.now()],
    );
    return rows.length === 1;
  }

  // ------------------------------------------------------------------ queues

  async enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    const now = this.now();
    const item = newQueueItem(queue, id ?? randomId(), payload, now);
    const { rows } = await this.query<{ doc: QueueItem<T> }>(
      `WITH inserted AS (
         INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
         VALUES ($1, $2, 'pending', $3, $3, $3, $4::json)
         ON CONFLICT (id) DO NOTHING RETURNING doc)
       SELECT doc FROM inserted UNION ALL SELECT doc FROM queue_items WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)`,
      [item.id, queue, now, json(item)],
    );
    if (rows[0]) return rows[0].doc;
    const { rows: again } = await this.query<{ doc: QueueItem<T> }>('SELECT doc FROM queue_items WHERE id = $1', [item.id]);
    return again[0]!.doc;
  }

  async dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    const { rows } = await this.query<{ doc: QueueItem<T> }>(
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
      throw this.failure(error);
    }
    const { rows } = await this.query<{ doc: QueueItem<T> }>(
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
      const { rowCount } = await this.query(
        `UPDATE queue_items SET queue = $2, state = $3, due_at = $4, created_at = $5, updated_at = $6, doc = $7::json,
           lease_owner = NULL, lease_until = NULL, lease_session = NULL
         WHERE id = $1 AND lease_owner = $8`,
        [...values, owner],
      );
      return (rowCount ?? 0) > 0;
    }
    await this.query(
      `INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
       VALUES ($1, $2, $3, $4, $5, $6, $7::json)
       ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, state = excluded.state, due_at = excluded.due_at,
         updated_at = excluded.updated_at, doc = excluded.doc, lease_owner = NULL, lease_until = NULL, lease_session = NULL`,
      values,
    );
    return true;
  }

  async pruneQueueItems(before: string, limit: number): Promise<number> {
    const { rowCount } = await this.query(
      `DELETE FROM queue_items WHERE id IN (
         SELECT id FROM queue_items WHERE state <> 'pending' AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, Math.max(0, Math.floor(limit))],
    );
    return rowCount ?? 0;
  }

  // ------------------------------------------------------------------ limits

  /**
   * `takeToken` (bridge/rate-limiter.ts) in one statement: the upsert locks the key's row, so takes on every node
   * are serialised per key. `last_ok` carries the decision out through RETURNING.
   */
  async takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    const now = this.clock().getTime();
    const refillPerMs = perMinute / RATE_PERIOD_MS;
    const refilled = 'LEAST($2::float8, b.tokens + GREATEST(0, $3::bigint - b.updated_at) * $4::float8)';
    const { rows } = await this.query<{ tokens: number; last_ok: boolean }>(
      `INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, last_ok) VALUES ($1, $2::float8 - 1, $3, true)
       ON CONFLICT (key) DO UPDATE SET
         tokens = CASE WHEN ${refilled} >= 1 THEN ${refilled} - 1 ELSE ${refilled} END,
         updated_at = GREATEST(b.updated_at, $3::bigint),
         last_ok = ${refilled} >= 1
       RETURNING tokens, last_ok`,
      [key, perMinute, now, refillPerMs],
    );
    this.sweepLimits(now);
    const row = rows[0]!;
    return row.last_ok ? { ok: true } : { ok: false, retryAfterMs: Math.ceil((1 - row.tokens) / refillPerMs) };
  }

  async claimLoginAttempt(account: string): Promise<RateDecision> {
    const now = this.clock().getTime();
    const decision = await this.transaction(async (client) => {
      // The row lock serialises attempts on one account across nodes; `claimLoginAttempt` decides.
      await client.query(
        'INSERT INTO login_attempts (account, failures, locked_until, last_attempt_at) VALUES ($1, 0, 0, 0) ON CONFLICT DO NOTHING',
        [account],
      );
      const { rows } = await client.query<{ failures: number; locked_until: string; last_attempt_at: string }>(
        'SELECT failures, locked_until, last_attempt_at FROM login_attempts WHERE account = $1 FOR UPDATE',
        [account],
      );
      const row = rows[0]!;
      const stored: LoginAttempts = {
        failures: row.failures,
        lockedUntil: Number(row.locked_until),
        lastAttemptAt: Number(row.last_attempt_at),
      };
      const { attempts, decision } = claimLoginAttempt(stored, now);
      if (decision.ok) {
        await client.query(
          'UPDATE login_attempts SET failures = $2, locked_until = $3, last_attempt_at = $4 WHERE account = $1',
          [account, attempts.failures, attempts.lockedUntil, attempts.lastAttemptAt],
        );
      }
      return decision;
    });
    this.sweepLimits(now);
    return decision;
  }

  async clearLoginAttempts(account: string): Promise<void> {
    await this.query('DELETE FROM login_attempts WHERE account = $1', [account]);
  }

  // Rows of full buckets and forgotten accounts carry no information; once a minute per node they go (not awaited:
  // a failed sweep only leaves them for the next one).
  private sweepLimits(now: number): void {
    if (now - this.limitsSweptAt < RATE_PERIOD_MS) return;
    this.limitsSweptAt = now;
    void this.pool
      .query(
        `WITH gone AS (DELETE FROM rate_limit_buckets WHERE updated_at < $1)
         DELETE FROM login_attempts WHERE last_attempt_at < $2 AND locked_until < $3`,
        [now - RATE_PERIOD_MS, now - LOGIN_THROTTLE.forgetAfterMs, now],
      )
      .catch((error: unknown) => this.logger.warn({ err: error }, 'postgres store: sweeping limits failed'));
  }

  async countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    const { rows } = await this.query<{ state: QueueItem['state']; n: number }>(
      'SELECT state, count(*)::int AS n FROM queue_items WHERE queue = $1 GROUP BY state',
      [queue],
    );
    const counts = { pending: 0, delivered: 0, dead: 0 };
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    const { rows } = await this.query<{ doc: QueueItem<T> }>(
      'SELECT doc FROM queue_items WHERE queue = $1 ORDER BY created_at DESC LIMIT $2',
      [queue, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.doc);
  }
}


/** The statuses ranked at or above `status` (a kept status is replaced only by a higher one). */
function atOrAbove(status: StoredStatus): string[] {
  return Object.entries(STATUS_RANK).filter(([, rank]) => rank >= STATUS_RANK[status]).map(([name]) => name);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Closed with `closedAt` and last activity both before `before` (the embedded store's rule). */
function closedBefore(c: Conversation, before: string): boolean {
  return c.state === 'closed' && (c.closedAt ?? c.lastActivityAt) < before && c.lastActivityAt < before;
}

/** Another node stored one of the batch's clientIds while the batch waited for its locks. */
class DedupeRace extends Error {
  constructor() {
    super('an append raced a retry of the same clientId on another node');
  }
}
