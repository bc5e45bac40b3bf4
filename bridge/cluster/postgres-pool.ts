/**
 * The one `pg` pool a PostgreSQL bridge uses for its store and its Socket.IO adapter, opened with a connectivity
 * check whose failures read as one sentence naming the server (never a stack), its connections' open transactions
 * bounded by `idle_in_transaction_session_timeout`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { NODE_APPLICATION_PREFIX } from '../store/postgres/change-feed.ts';

/** Opening the database failed; `message` is meant for the operator as is. */
export class DatabaseStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseStartError';
  }
}

/** `host:port/database` of a PostgreSQL URL, without user or password (for messages and logs). */
export function describeDatabase(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname}`;
}

/** Options of `openPostgresPool`. */
export interface PostgresPoolOptions {
  /** Connections in the pool (default 10; the adapter's LISTEN connection is one of them). */
  max?: number;
  /** How long one connection attempt may take (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * How long a connection may keep a transaction open without sending anything before PostgreSQL ends it
   * (`idle_in_transaction_session_timeout`, default `DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS`; 0 leaves the server's
   * setting). A node frozen inside a transaction (SIGSTOP, a paused VM, a stuck event loop) keeps its connection open,
   * and with it the transaction's conversation row locks and advisory locks: every other node's append or status
   * batch touching those conversations waits behind them, and each node runs one append batch at a time, so one
   * frozen node stops the chat of the whole cluster. The timeout bounds that wait; the frozen node's transaction
   * fails when it resumes (nothing of it committed or acknowledged) and the pool replaces the connection.
   */
  idleInTransactionTimeoutMs?: number;
}

/**
 * Default of `idle_in_transaction_session_timeout` on the bridge's connections. The store's transactions are idle only
 * between their statements, while the node's event loop handles a result (milliseconds), so a live node never comes
 * near it; it is what one frozen node may cost every other node's chat.
 */
export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * Creates the pool, proves the server answers and warns when the idle transaction timeout did not take effect.
 * Connection errors of idle or checked-out clients (a restarted server, a terminated backend) are logged instead of
 * crashing the process: pg emits them as 'error' events, and an 'error' without a listener throws.
 */
export async function openPostgresPool(url: string, logger: Logger, options: PostgresPoolOptions = {}): Promise<pg.Pool> {
  const where = describeDatabase(url);
  const idleInTransactionMs = options.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    // One name per node: other nodes end all connections of a node that froze (store/postgres/change-feed.ts).
    application_name: `${NODE_APPLICATION_PREFIX}${randomBytes(6).toString('base64url')}`,
    // A startup parameter, not a SET: every backend has it from its first statement on, at no round trip. The
    // change feed's LISTEN connection (opened with these settings) and the adapter's are never inside a transaction,
    // so it never ends them.
    ...(idleInTransactionMs > 0 ? { options: `-c idle_in_transaction_session_timeout=${idleInTransactionMs}` } : {}),
  });
  pool.on('error', (error) => logger.warn({ err: error, database: where }, 'postgres: idle connection failed'));
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.warn({ err: error, database: where }, 'postgres: connection failed'));
  });
  let setting: string;
  try {
    const { rows } = await pool.query<{ setting: string }>(
      "SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'",
    );
    setting = rows[0]?.setting ?? '';
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DatabaseStartError(explainConnectError(error, where));
  }
  // pg lets an `options` parameter of the URL replace the pool's own.
  if (idleInTransactionMs > 0 && setting !== String(idleInTransactionMs)) {
    logger.warn(
      { database: where, idleInTransactionSessionTimeout: setting, wanted: idleInTransactionMs },
      "postgres: DATABASE_URL's options replace the bridge's idle_in_transaction_session_timeout; add -c idle_in_transaction_session_timeout=<ms> to them",
    );
  }
  return pool;
}

/** The operator's sentence for a failed first connection. */
function explainConnectError(error: unknown, where: string): string {
  const { code, message } = error as { code?: string; message?: string };
  const database = where.slice(where.indexOf('/') + 1);
  const server = where.slice(0, where.indexOf('/'));
  switch (code) {
    case '3D000':
      return `PostgreSQL at ${server} has no database "${database}" (create it: createdb ${database})`;
    case '28P01':
    case '28000':
      return `PostgreSQL at ${server} refused the user or password in DATABASE_URL`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return `cannot reach PostgreSQL at ${server} (${code}); is it running, and is DATABASE_URL right?`;
    default:
      return `cannot connect to PostgreSQL at ${server}: ${message ?? String(error)}`;
  }
}
