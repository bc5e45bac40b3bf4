/**
 * `npm run migrate`: applies the PostgreSQL store's schema migrations to `DATABASE_URL` and exits (the same
 * `migrate()` nodes run at start, under the same advisory lock, so it is safe while nodes are running).
 */
import pg from 'pg';
import { createLogger } from '../../logger.ts';
import { SCHEMA_VERSION, migrate } from './migrations.ts';

/** The `DATABASE_URL` to use, or a one-line reason why it cannot be. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv): string {
  const url = env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set (e.g. postgres://user:pass@host:5432/db)');
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new Error('DATABASE_URL is not a URL (expected postgres://user:pass@host:5432/db)');
  }
  if (scheme !== 'postgres:' && scheme !== 'postgresql:') {
    throw new Error(`DATABASE_URL has scheme ${scheme.slice(0, -1)}; expected postgres:// or postgresql://`);
  }
  return url;
}

async function main(): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  const pool = new pg.Pool({ connectionString: databaseUrlFromEnv(process.env), max: 1 });
  try {
    await migrate(pool, logger);
    console.log(`database schema at version ${SCHEMA_VERSION}`);
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(`migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
