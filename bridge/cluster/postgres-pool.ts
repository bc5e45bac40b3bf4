/**
 * The one `pg` pool a PostgreSQL bridge uses for its store and its Socket.IO adapter, opened with a connectivity
 * check whose failures read as one sentence naming the server (never a stack).
 */
import pg from 'pg';
import type { Logger } from 'pino';

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
}

/**
 * Creates the pool and proves the server answers. Connection errors of idle or checked-out clients (a restarted
 * server, a terminated backend) are logged instead of crashing the process: pg emits them as 'error' events, and an
 * 'error' without a listener throws.
 */
export async function openPostgresPool(url: string, logger: Logger, options: PostgresPoolOptions = {}): Promise<pg.Pool> {
  const where = describeDatabase(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    application_name: 'anon-chat',
  });
  pool.on('error', (error) => logger.warn({ err: error, database: where }, 'postgres: idle connection failed'));
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.warn({ err: error, database: where }, 'postgres: connection failed'));
  });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DatabaseStartError(explainConnectError(error, where));
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
