/**
 * Versioned schema of the PostgreSQL store. `migrate()` applies the missing versions in order, each in its own
 * transaction, under a session advisory lock: nodes starting together wait for the first one instead of racing.
 */
import type pg from 'pg';
import type { Logger } from '../../logger.ts';

/** One schema step; `version` only ever grows, applied steps are never edited. */
interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Arbitrary but fixed: the advisory lock key every anon-chat node takes while migrating. */
const MIGRATION_LOCK_KEY = 0x616e6f6e;

// Documents are stored as `json` (not `jsonb`): it keeps text exactly as given, including `\u0000`, which neither
// `text` nor `jsonb` accept. The columns next to them are what queries filter, sort and lock on.
const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'conversations, messages, agents, records, queue items',
    sql: `
      CREATE TABLE conversations (
        id text PRIMARY KEY,
        doc json NOT NULL,
        channel text NOT NULL,
        external_user_id text,
        state text NOT NULL,
        closed_at text,
        last_seq bigint NOT NULL,
        rev bigint NOT NULL,
        last_activity_at text NOT NULL,
        name_lower text NOT NULL,
        delivered_visitor_seq bigint NOT NULL DEFAULT 0,
        delivered_agent_seq bigint NOT NULL DEFAULT 0,
        external_user_link bigint NOT NULL DEFAULT 0
      );
      -- The newest link wins when two conversations name one external user (as in the embedded store).
      CREATE SEQUENCE conversation_external_user_links;
      CREATE INDEX conversations_external_user ON conversations (channel, external_user_id, external_user_link DESC)
        WHERE external_user_id IS NOT NULL;
      CREATE INDEX conversations_activity ON conversations (last_activity_at DESC, id DESC) WHERE last_seq > 0;
      CREATE INDEX conversations_closed ON conversations (closed_at) WHERE state = 'closed';

      CREATE TABLE messages (
        conversation_id text NOT NULL REFERENCES conversations (id),
        seq bigint NOT NULL,
        id text NOT NULL,
        client_id text NOT NULL,
        rev bigint NOT NULL,
        role text NOT NULL,
        status_rank smallint NOT NULL,
        external_id text,
        text_lower text NOT NULL,
        doc json NOT NULL,
        PRIMARY KEY (conversation_id, seq),
        UNIQUE (conversation_id, client_id)
      );
      CREATE INDEX messages_by_id ON messages (conversation_id, id);
      CREATE INDEX messages_by_rev ON messages (conversation_id, rev);
      CREATE INDEX messages_by_external_id ON messages (external_id) WHERE external_id IS NOT NULL;

      CREATE TABLE agents (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at text NOT NULL
      );

      CREATE TABLE records (
        namespace text NOT NULL,
        key text NOT NULL,
        value json,
        expires_at text,
        PRIMARY KEY (namespace, key)
      );
      CREATE INDEX records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;

      CREATE TABLE queue_items (
        id text PRIMARY KEY,
        queue text NOT NULL,
        state text NOT NULL,
        due_at text NOT NULL,
        created_at text NOT NULL,
        updated_at text NOT NULL,
        lease_owner text,
        lease_until text,
        doc json NOT NULL
      );
      CREATE INDEX queue_items_due ON queue_items (queue, due_at, created_at) WHERE state = 'pending';
      CREATE INDEX queue_items_listing ON queue_items (queue, created_at DESC);
      CREATE INDEX queue_items_settled ON queue_items (updated_at) WHERE state <> 'pending';
    `,
  },
  {
    version: 2,
    name: 'rate-limit buckets and login attempts',
    // UNLOGGED: limits are taken on every REST request and connection; their rows need no WAL (cheap commits), and
    // a database crash forgetting them only lets clients start from full buckets again. Times are ms since the epoch.
    sql: `
      CREATE UNLOGGED TABLE rate_limit_buckets (
        key text PRIMARY KEY,
        tokens double precision NOT NULL,
        updated_at bigint NOT NULL,
        last_ok boolean NOT NULL
      );
      CREATE INDEX rate_limit_buckets_updated ON rate_limit_buckets (updated_at);
      CREATE UNLOGGED TABLE login_attempts (
        account text PRIMARY KEY,
        failures integer NOT NULL,
        locked_until bigint NOT NULL,
        last_attempt_at bigint NOT NULL
      );
      CREATE INDEX login_attempts_last ON login_attempts (last_attempt_at);
    `,
  },
  {
    version: 3,
    name: 'agent display names, roles, deactivation, session epochs',
    // Agents from before roles existed could do everything: they become admins, shown to visitors by their name
    // until an admin gives them a display name.
    sql: `
      ALTER TABLE agents
        ADD COLUMN display_name text,
        ADD COLUMN role text NOT NULL DEFAULT 'admin',
        ADD COLUMN active boolean NOT NULL DEFAULT true,
        ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
      UPDATE agents SET display_name = name;
      ALTER TABLE agents ALTER COLUMN display_name SET NOT NULL;
      ALTER TABLE agents ADD CONSTRAINT agents_role CHECK (role IN ('admin', 'agent'));
    `,
  },
  {
    version: 4,
    name: 'attachments',
    // The bytes live in the row (bytea), not on a node's disk: every node serves every file, they are erased with
    // their conversation in the same transaction, and backups hold them with the messages that refer to them.
    // Large objects would survive a plain DELETE (they need lo_unlink) and files would need shared storage.
    // STORAGE EXTERNAL: out of line without compression (images and PDFs are compressed already).
    sql: `
      CREATE TABLE attachments (
        id text PRIMARY KEY,
        conversation_id text NOT NULL REFERENCES conversations (id),
        uploader text NOT NULL,
        upload_key text NOT NULL,
        size integer NOT NULL,
        thumbnail_size integer,
        doc json NOT NULL,
        content bytea NOT NULL,
        thumbnail bytea,
        UNIQUE (conversation_id, uploader, upload_key)
      );
      ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;
      ALTER TABLE attachments ALTER COLUMN thumbnail SET STORAGE EXTERNAL;
    `,
  },
  {
    version: 5,
    name: 'agent availability',
    // Agents keep taking chats as before the setting existed until they set themselves Away.
    sql: `
      ALTER TABLE agents ADD COLUMN availability text NOT NULL DEFAULT 'online';
      ALTER TABLE agents ADD CONSTRAINT agents_availability CHECK (availability IN ('online', 'away'));
    `,
  },
  {
    version: 6,
    name: 'conversation assignees',
    // The column mirrors `doc.assigneeId` for the inbox filters and for unassigning a deactivated agent's conversations.
    sql: `
      ALTER TABLE conversations ADD COLUMN assignee_id text;
      CREATE INDEX conversations_assignee ON conversations (assignee_id) WHERE assignee_id IS NOT NULL;
    `,
  },
  {
    version: 7,
    name: 'agent e-mail addresses',
    // Where notification mails reach an agent; agents without one get none.
    sql: `ALTER TABLE agents ADD COLUMN email text;`,
  },
  {
    version: 8,
    name: 'queue claims tied to the claiming node',
    // The claim session (an advisory lock its node holds on a connection of its own) that made the claim: a claim
    // whose session is gone belongs to a dead node and is taken over at once, not when its lease runs out.
    sql: `ALTER TABLE queue_items ADD COLUMN lease_session integer;`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database up to `SCHEMA_VERSION`; safe to call from many nodes at once and on every start. */
export async function migrate(pool: pg.Pool, logger: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => row.version));
      const newest = Math.max(0, ...applied);
      if (newest > SCHEMA_VERSION) {
        throw new Error(
          `database schema is at version ${newest}, newer than this bridge knows (${SCHEMA_VERSION}): upgrade the bridge`,
        );
      }
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
        logger.info({ version: migration.version, name: migration.name }, 'database migration applied');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
