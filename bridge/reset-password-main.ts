/**
 * `npm run reset-password -- [--name <login name>]`: the recovery of a lost password on the server. Gives the agent
 * (default: AGENT_BOOTSTRAP_NAME, i.e. the first admin) a new generated password, prints it, ends every session of
 * theirs and reactivates the account. Reads the same environment as the bridge (DATA_DIR or DATABASE_URL and the
 * secrets). The embedded store allows one process per data directory: stop the bridge first. On PostgreSQL it runs
 * beside live nodes; their REST answers 401 to the old sessions at once and their sockets fail on reconnect.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { resetAgentPassword } from './auth/agent-accounts.ts';
import { LowdbStore } from './store/lowdb/lowdb-store.ts';
import { PostgresStore } from './store/postgres/postgres-store.ts';
import { migrate } from './store/postgres/migrations.ts';
import { describeDatabase, openPostgresPool } from './cluster/postgres-pool.ts';
import type { Store } from './store/store.ts';

const USAGE = `usage: npm run reset-password -- [--name <login name>]

Sets a new generated password for the agent (default: AGENT_BOOTSTRAP_NAME, "admin" unless set), prints it once,
signs the agent out everywhere and reactivates the account. Run it with the bridge's environment (DATA_DIR or
DATABASE_URL). With the embedded store (DATA_DIR), stop the bridge first.
`;

function fail(message: string): never {
  process.stderr.write(`reset-password: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values: { name?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { name: { type: 'string', short: 'n' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
    }));
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    fail((error as Error).message);
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const name = values.name ?? config.agentBootstrap.name;
  let store: Store;
  let pool: pg.Pool | undefined;
  let where: string;
  try {
    if (config.databaseUrl) {
      where = `PostgreSQL at ${describeDatabase(config.databaseUrl)}`;
      pool = await openPostgresPool(config.databaseUrl, logger, { idleInTransactionTimeoutMs: config.databaseIdleInTransactionTimeoutMs });
      await migrate(pool, logger);
      store = new PostgresStore({ pool, logger });
    } else {
      where = config.dataDir;
      store = new LowdbStore({ dataDir: config.dataDir, logger, ...config.storage });
    }
    await store.open();
  } catch (error) {
    await pool?.end().catch(() => undefined);
    fail(`cannot open storage: ${(error as Error).message}`);
  }
  let problem: string | undefined;
  try {
    const { agent, password } = await resetAgentPassword(store, name);
    process.stdout.write(
      [
        `New password for "${agent.name}" (${agent.role}) in ${where}:`,
        `  password: ${password}`,
        '  (shown only this once; every session of this agent has ended)',
        '',
      ].join('\n'),
    );
  } catch (error) {
    problem = (error as Error).message;
  }
  // Closed before exiting either way: the embedded store releases its lock, the new password is on disk.
  await store.close();
  await pool?.end();
  if (problem !== undefined) fail(problem);
}

await main();
