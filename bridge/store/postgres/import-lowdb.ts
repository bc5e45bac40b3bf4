/**
 * Moving an embedded store's data directory into PostgreSQL (`npm run import-lowdb`): every conversation with its
 * messages, statuses, external ids, verified-user link, read and delivered watermarks, and its `seq`/`rev` exactly
 * as they are (clients' sync cursors stay valid); attachments with their files; agent accounts; records (replay ids, pending statuses, webhook
 * receiver health, erasure markers…); queue items in every state.
 *
 * Idempotent: rows that exist are never rewritten. A conversation already in the database is compared with the data
 * directory (its document, watermarks and a digest of its messages): equal is "already there", anything else is
 * reported as a conflict and left as it is. Records and queue items that exist are left as they are too (nodes
 * running on the database change them legitimately: deliveries, receiver health). Afterwards the counts of the data
 * directory are checked against what the database holds.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../../logger.ts';
import {
  StoreError,
  type AgentRecord,
  type ConversationDump,
  type QueueItem,
  type RecordDump,
  type StoredAttachment,
} from '../store.ts';
import type { LowdbStore } from '../lowdb/lowdb-store.ts';
import { INSERT_ATTACHMENT, INSERT_MESSAGES, attachmentColumns, json, messageColumns, searchable } from './columns.ts';
import { PostgresStore } from './postgres-store.ts';

/** What is counted on both sides. */
export interface ImportCounts {
  conversations: number;
  messages: number;
  attachments: number;
  queueItems: number;
  agents: number;
  records: number;
}

/** The outcome of one import run. */
export interface ImportReport {
  /** What the data directory holds. */
  source: ImportCounts;
  /**
   * Of that, what the database holds after the run: conversations with the same seq and rev, their messages, and
   * the agents, records and queue items with the same ids.
   */
  destination: ImportCounts;
  /** Written by this run (zero on a second run). */
  imported: ImportCounts;
  /** Things the database holds differently, left as they are; each one sentence. */
  conflicts: string[];
}

/** Options of `importLowdb`. */
export interface ImportOptions {
  logger: Logger;
  /** Told the running totals every few thousand messages (a large directory takes a while). */
  onProgress?: (imported: ImportCounts) => void;
}

/** Messages (and conversations) written per transaction; one commit per batch instead of one per conversation. */
const BATCH_MESSAGES = 5_000;
const BATCH_CONVERSATIONS = 500;
/** Rows per INSERT statement for records and queue items. */
const ROWS_PER_STATEMENT = 1_000;

const zero = (): ImportCounts => ({ conversations: 0, messages: 0, attachments: 0, queueItems: 0, agents: 0, records: 0 });

/** True when every item of the data directory is in the database as it is there and nothing conflicted. */
export function importSucceeded(report: ImportReport): boolean {
  const { source, destination } = report;
  return (
    report.conflicts.length === 0 &&
    (Object.keys(source) as (keyof ImportCounts)[]).every((name) => source[name] === destination[name])
  );
}

/**
 * Copies what `source` holds into the database of `pool`, which must be migrated (see `migrate()`). The source
 * must be open; it is only read.
 */
export async function importLowdb(source: LowdbStore, pool: pg.Pool, options: ImportOptions): Promise<ImportReport> {
  const report: ImportReport = { source: zero(), destination: zero(), imported: zero(), conflicts: [] };
  const conversationIds: string[] = [];
  const lastSeqs: number[] = [];
  const revs: number[] = [];
  let batch: ConversationDump[] = [];
  let batchMessages = 0;
  let reported = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await importConversations(pool, batch, report);
    batch = [];
    batchMessages = 0;
    if (options.onProgress && report.source.messages - reported >= 50_000) {
      reported = report.source.messages;
      options.onProgress(report.imported);
    }
  };
  for await (const dump of source.exportConversations()) {
    report.source.conversations++;
    report.source.messages += dump.messages.length;
    conversationIds.push(dump.conversation.id);
    lastSeqs.push(dump.conversation.lastSeq);
    revs.push(dump.conversation.rev);
    batch.push(dump);
    batchMessages += dump.messages.length;
    if (batchMessages >= BATCH_MESSAGES || batch.length >= BATCH_CONVERSATIONS) await flush();
  }
  await flush();

  // After their conversations (foreign key); one row at a time, since each carries its file.
  const attachments = source.exportAttachments();
  report.source.attachments = attachments.length;
  for (const attachment of attachments) {
    const content = await source.readAttachment(attachment.id, 'content');
    if (!content) continue;
    const thumbnail = attachment.thumbnailSize !== undefined ? await source.readAttachment(attachment.id, 'thumbnail') : undefined;
    report.imported.attachments += await insertAttachment(pool, attachment, content, thumbnail);
  }

  const agents = source.exportAgents();
  report.source.agents = agents.length;
  await importAgents(pool, agents, report, options.logger);

  const records = source.exportRecords();
  report.source.records = records.length;
  for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
    report.imported.records += await insertRecords(pool, records.slice(i, i + ROWS_PER_STATEMENT));
  }

  const items = source.exportQueueItems();
  report.source.queueItems = items.length;
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) {
    report.imported.queueItems += await insertQueueItems(pool, items.slice(i, i + ROWS_PER_STATEMENT));
  }

  report.destination = await countPresent(pool, {
    conversations: { ids: conversationIds, lastSeqs, revs },
    agentIds: agents.map((a) => a.id),
    attachmentIds: attachments.map((a) => a.id),
    records,
    queueItemIds: items.map((i) => i.id),
  });
  return report;
}

/** The conversation as the database would store it, to compare with a row that exists. */
function fingerprint(dump: ConversationDump): { doc: string; messages: number; digest: string | null } {
  const docs = dump.messages.map((m) => json(m));
  return {
    doc: json(dump.conversation),
    messages: docs.length,
    digest: docs.length === 0 ? null : createHash('md5').update(docs.join('\n'), 'utf8').digest('hex'),
  };
}

/** One transaction: conversations not yet in the database are inserted with their messages; the others compared. */
async function importConversations(pool: pg.Pool, batch: ConversationDump[], report: ImportReport): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: existing } = await client.query<{
      id: string;
      doc: string;
      delivered_visitor_seq: string;
      delivered_agent_seq: string;
      messages: number;
      digest: string | null;
    }>(
      `SELECT c.id, c.doc::text AS doc, c.delivered_visitor_seq, c.delivered_agent_seq, m.messages, m.digest
       FROM conversations c
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS messages, md5(string_agg(doc::text, E'\\n' ORDER BY seq)) AS digest
         FROM messages WHERE conversation_id = c.id) m
       WHERE c.id = ANY($1::text[])
       FOR UPDATE OF c`,
      [batch.map((d) => d.conversation.id)],
    );
    const stored = new Map(existing.map((row) => [row.id, row]));
    const fresh: ConversationDump[] = [];
    for (const dump of batch) {
      const row = stored.get(dump.conversation.id);
      if (!row) {
        fresh.push(dump);
        continue;
      }
      const expected = fingerprint(dump);
      const same =
        row.doc === expected.doc &&
        Number(row.delivered_visitor_seq) === dump.deliveredVisitorSeq &&
        Number(row.delivered_agent_seq) === dump.deliveredAgentSeq &&
        row.messages === expected.messages &&
        row.digest === expected.digest;
      if (!same) {
        const c = dump.conversation;
        report.conflicts.push(
          `conversation ${c.id} differs in the database (there: ${row.messages} messages; DATA_DIR: ${c.lastSeq} messages, rev ${c.rev}); left as it is`,
        );
      }
    }
    if (fresh.length > 0) {
      const c = fresh.map((d) => d.conversation);
      const { rows: inserted } = await client.query<{ id: string }>(
        `INSERT INTO conversations (id, doc, channel, external_user_id, state, closed_at, last_seq, rev, last_activity_at,
           name_lower, delivered_visitor_seq, delivered_agent_seq, external_user_link, assignee_id)
         SELECT id, doc::json, channel, external_user_id, state, closed_at, last_seq, rev, last_activity_at, name_lower,
           delivered_visitor_seq, delivered_agent_seq,
           -- Only the conversation the embedded store answers for its external user may be the newest link.
           CASE WHEN current_link THEN nextval('conversation_external_user_links') ELSE 0 END, assignee_id
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
                     $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::boolean[], $14::text[])
           AS v (id, doc, channel, external_user_id, state, closed_at, last_seq, rev, last_activity_at, name_lower,
                 delivered_visitor_seq, delivered_agent_seq, current_link, assignee_id)
         ON CONFLICT (id) DO NOTHING
         RETURNING id`,
        [
          c.map((x) => x.id),
          c.map((x) => json(x)),
          c.map((x) => x.channel),
          c.map((x) => x.externalUserId ?? null),
          c.map((x) => x.state),
          c.map((x) => x.closedAt ?? null),
          c.map((x) => x.lastSeq),
          c.map((x) => x.rev),
          c.map((x) => x.lastActivityAt),
          c.map((x) => searchable(x.name)),
          fresh.map((d) => d.deliveredVisitorSeq),
          fresh.map((d) => d.deliveredAgentSeq),
          fresh.map((d) => d.currentExternalUserLink),
          c.map((x) => x.assigneeId ?? null),
        ],
      );
      const insertedIds = new Set(inserted.map((row) => row.id));
      const messages = fresh.filter((d) => insertedIds.has(d.conversation.id)).flatMap((d) => d.messages);
      for (let i = 0; i < messages.length; i += BATCH_MESSAGES) {
        const chunk = messages.slice(i, i + BATCH_MESSAGES);
        await client.query(
          INSERT_MESSAGES,
          messageColumns(chunk),
        );
      }
      report.imported.conversations += insertedIds.size;
      report.imported.messages += messages.length;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Through the Store interface (few rows, and whatever an agent account comes to hold is carried by `createAgent`):
 * an existing account with the same id, name and password is already there; anything else is a conflict.
 */
async function importAgents(pool: pg.Pool, agents: AgentRecord[], report: ImportReport, logger: Logger): Promise<void> {
  const store = new PostgresStore({ pool, logger });
  await store.open();
  try {
    for (const agent of agents) {
      try {
        await store.createAgent(agent);
        report.imported.agents++;
      } catch (error) {
        if (!(error instanceof StoreError && error.code === 'conflict')) throw error;
        const there = await store.getAgent(agent.id);
        if (there?.name === agent.name && there.passwordHash === agent.passwordHash) continue;
        report.conflicts.push(
          there
            ? `agent ${JSON.stringify(agent.name)} (${agent.id}) differs in the database (name or password); left as it is`
            : `agent ${JSON.stringify(agent.name)}: the database has another agent of that name (created by a node started before the import?); left as it is`,
        );
      }
    }
  } finally {
    await store.close();
  }
}

async function insertAttachment(
  pool: pg.Pool,
  attachment: StoredAttachment,
  content: Uint8Array,
  thumbnail: Uint8Array | undefined,
): Promise<number> {
  const { rowCount } = await pool.query(`${INSERT_ATTACHMENT} ON CONFLICT DO NOTHING`, attachmentColumns(attachment, content, thumbnail));
  return rowCount ?? 0;
}

async function insertRecords(pool: pg.Pool, records: RecordDump[]): Promise<number> {
  const { rowCount } = await pool.query(
    `INSERT INTO records (namespace, key, value, expires_at)
     SELECT namespace, key, value::json, expires_at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       AS v (namespace, key, value, expires_at)
     ON CONFLICT (namespace, key) DO NOTHING`,
    [
      records.map((r) => r.namespace),
      records.map((r) => r.key),
      records.map((r) => json(r.value) ?? null),
      records.map((r) => r.expiresAt ?? null),
    ],
  );
  return rowCount ?? 0;
}

async function insertQueueItems(pool: pg.Pool, items: QueueItem[]): Promise<number> {
  const { rowCount } = await pool.query(
    `INSERT INTO queue_items (id, queue, state, due_at, created_at, updated_at, doc)
     SELECT id, queue, state, due_at, created_at, updated_at, doc::json
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
       AS v (id, queue, state, due_at, created_at, updated_at, doc)
     ON CONFLICT (id) DO NOTHING`,
    [
      items.map((i) => i.id),
      items.map((i) => i.queue),
      items.map((i) => i.state),
      items.map((i) => i.dueAt),
      items.map((i) => i.createdAt),
      items.map((i) => i.updatedAt),
      items.map((i) => json(i)),
    ],
  );
  return rowCount ?? 0;
}

/** How much of the data directory the database holds: conversations with equal seq and rev, the rest by id. */
async function countPresent(
  pool: pg.Pool,
  source: {
    conversations: { ids: string[]; lastSeqs: number[]; revs: number[] };
    agentIds: string[];
    attachmentIds: string[];
    records: RecordDump[];
    queueItemIds: string[];
  },
): Promise<ImportCounts> {
  const { rows } = await pool.query<ImportCounts>(
    `SELECT
       (SELECT count(*) FROM conversations c JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS v (id, last_seq, rev)
          ON c.id = v.id AND c.last_seq = v.last_seq AND c.rev = v.rev)::int AS conversations,
       (SELECT count(*) FROM messages WHERE conversation_id = ANY($1::text[]))::int AS messages,
       (SELECT count(*) FROM agents WHERE id = ANY($4::text[]))::int AS agents,
       (SELECT count(*) FROM attachments WHERE id = ANY($8::text[]))::int AS attachments,
       (SELECT count(*) FROM records r JOIN unnest($5::text[], $6::text[]) AS k (namespace, key)
          ON r.namespace = k.namespace AND r.key = k.key)::int AS records,
       (SELECT count(*) FROM queue_items WHERE id = ANY($7::text[]))::int AS "queueItems"`,
    [
      source.conversations.ids,
      source.conversations.lastSeqs,
      source.conversations.revs,
      source.agentIds,
      source.records.map((r) => r.namespace),
      source.records.map((r) => r.key),
      source.queueItemIds,
      source.attachmentIds,
    ],
  );
  return rows[0]!;
}
