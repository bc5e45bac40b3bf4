/**
 * `npm run import-lowdb -- --data-dir <DATA_DIR>`: imports an embedded store's data directory into the PostgreSQL
 * database of `DATABASE_URL` (migrating it first), prints the counts of both sides and exits 1 when they differ or
 * something conflicted. Safe to run again: a second run writes nothing. Every failure is one sentence, never a stack.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { createLogger } from '../../logger.ts';
import { SECRETS_FILE } from '../../auth/secrets.ts';
import { DatabaseStartError, describeDatabase, openPostgresPool } from '../../cluster/postgres-pool.ts';
import { LowdbStore } from '../lowdb/lowdb-store.ts';
import { databaseUrlFromEnv } from './migrate-main.ts';
import { migrate } from './migrations.ts';
import { importLowdb, importSucceeded, type ImportCounts, type ImportReport } from './import-lowdb.ts';

const USAGE = `usage: DATABASE_URL=postgres://user:pass@host:5432/db npm run import-lowdb -- --data-dir <DATA_DIR>

Imports the bridge's lowdb data directory (stop that bridge first) into PostgreSQL: conversations, messages with
their statuses, seq and rev, attachments, agents, records and queue items. Rows already in the database are left as they are,
so running it again changes nothing. Prints the counts of both sides; exits 1 when they differ.

  --data-dir <dir>   the data directory (default: $DATA_DIR)
  -h, --help         this text`;

/** A failure the operator can act on; printed as is. */
class ImportError extends Error {}

const ROWS: [keyof ImportCounts, string][] = [
  ['conversations', 'conversations'],
  ['messages', 'messages'],
  ['attachments', 'attachments'],
  ['queueItems', 'queue items'],
  ['agents', 'agents'],
  ['records', 'records'],
];

/** The counts as a table: DATA_DIR, PostgreSQL (of those), written by this run. */
export function formatReport(report: ImportReport): string {
  const cell = (n: number): string => n.toLocaleString('en-US').padStart(12);
  const lines = [`${''.padEnd(14)}${'DATA_DIR'.padStart(12)}${'PostgreSQL'.padStart(12)}${'imported now'.padStart(14)}`];
  for (const [name, label] of ROWS) {
    const mark = report.source[name] === report.destination[name] ? '' : '   ← differs';
    lines.push(`${label.padEnd(14)}${cell(report.source[name])}${cell(report.destination[name])}  ${cell(report.imported[name])}${mark}`);
  }
  return lines.join('\n');
}

function dataDirOf(value: string | undefined): string {
  if (!value) throw new ImportError('no data directory: pass --data-dir <DATA_DIR> (or set DATA_DIR)');
  const dir = resolve(value);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImportError(`data directory ${dir} does not exist`);
  if (!existsSync(join(dir, 'manifest.json'))) {
    throw new ImportError(`${dir} holds no anon-chat lowdb data (no manifest.json); is it the bridge's DATA_DIR?`);
  }
  return dir;
}

/** Where the command writes: the report to `out`, a failure's one sentence to `err`. */
export interface CommandOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The command: arguments and environment in, exit code out (0 imported and verified, 1 anything else). */
export async function importLowdbCommand(argv: string[], env: NodeJS.ProcessEnv, output: CommandOutput): Promise<number> {
  try {
    return await run(argv, env, output.out);
  } catch (error) {
    output.err(`import-lowdb: ${error instanceof ImportError ? error.message : String(error)}`);
    return 1;
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ImportError(`${(error as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    print(USAGE);
    return 0;
  }
  const dataDir = dataDirOf(args['data-dir'] ?? env.DATA_DIR);
  let url: string;
  try {
    url = databaseUrlFromEnv(env);
  } catch (error) {
    throw new ImportError((error as Error).message);
  }
  const logger = createLogger(env.LOG_LEVEL ?? 'warn');
  const where = describeDatabase(url);

  let pool: pg.Pool;
  try {
    pool = await openPostgresPool(url, logger, { max: 2 });
  } catch (error) {
    throw new ImportError(error instanceof DatabaseStartError ? error.message : `cannot connect to PostgreSQL at ${where}`);
  }
  try {
    await migrate(pool, logger);
    const source = new LowdbStore({ dataDir, logger });
    try {
      await source.open();
    } catch (error) {
      // A held lock names the running bridge's pid; a damaged file is named too.
      throw new ImportError(`cannot open ${dataDir}: ${(error as Error).message}`);
    }
    let report: ImportReport;
    try {
      print(`importing ${dataDir} into PostgreSQL at ${where}`);
      report = await importLowdb(source, pool, {
        logger,
        onProgress: (n) => print(`  … ${n.conversations.toLocaleString('en-US')} conversations, ${n.messages.toLocaleString('en-US')} messages`),
      });
    } finally {
      await source.close();
    }
    print(formatReport(report));
    for (const conflict of report.conflicts.slice(0, 20)) print(`conflict: ${conflict}`);
    if (report.conflicts.length > 20) print(`… and ${report.conflicts.length - 20} more conflicts`);
    if (existsSync(join(dataDir, SECRETS_FILE))) {
      print(
        `note: ${join(dataDir, SECRETS_FILE)} holds this bridge's generated secrets; give every PostgreSQL node its ` +
          'values as VISITOR_TOKEN_SECRET (visitorToken), AGENT_TOKEN_SECRET (agentToken) and SITE_SECRET (site), or ' +
          'visitors lose their conversations and agents must log in again',
      );
    }
    if (!importSucceeded(report)) {
      print('import incomplete: the database does not hold everything DATA_DIR holds (see above)');
      return 1;
    }
    print('every conversation (same seq and rev), message, attachment, agent, record and queue item of DATA_DIR is in PostgreSQL');
    return 0;
  } catch (error) {
    if (error instanceof ImportError) throw error;
    throw new ImportError(`import into PostgreSQL at ${where} failed: ${(error as Error).message}`);
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await importLowdbCommand(process.argv.slice(2), process.env, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
}
