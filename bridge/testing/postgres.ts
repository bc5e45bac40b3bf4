/**
 * A throwaway PostgreSQL cluster for tests: Debian's server binaries, `initdb` into a temp dir as the `postgres`
 * user (the server refuses to run as root) and started on a free loopback port. One cluster per test run (see
 * postgres-global-setup.ts); each test file takes a fresh database of its own with `createTestDatabase()`.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { freePort } from './free-port.ts';
import pg from 'pg';

const run = promisify(execFile);

/** A running throwaway cluster. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: superuser, trust authentication, loopback only. */
  adminUrl: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  }
  return join(root, majors[0]!, 'bin');
}

/** Runs a server binary as `postgres` when we are root (initdb and postgres refuse root), else as ourselves. */
async function asPostgres(binary: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  return run(file, argv, { timeout: 120_000 });
}

/** Options of `startTestPostgres`. */
export interface TestPostgresOptions {
  /**
   * Durable commits (`fsync=on`, `synchronous_commit=on`, full page writes), as a production server runs: the bench
   * measures with it. Default false: tests kill bridges, not the server, and PostgreSQL's own crash safety is not
   * what they test.
   */
  durable?: boolean;
}

/** Creates and starts a cluster; durability settings are off unless `settings.durable`. */
export async function startTestPostgres(settings: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'anon-chat-pg-'));
  const dataDir = join(dir, 'data');
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o755);
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  try {
    await asPostgres(join(bin, 'initdb'), [
      '-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`, { cause: error });
  }
  const logFile = join(dir, 'server.log');
  // A port taken between freePort() and the server's bind is retried with another one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses='127.0.0.1'",
      ...(settings.durable
        ? ['-c fsync=on', '-c synchronous_commit=on', '-c full_page_writes=on']
        : ['-c fsync=off', '-c full_page_writes=off']),
      '-c max_connections=400',
      '-c shared_buffers=64MB',
    ].join(' ');
    try {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '120', '-o', options, 'start']);
      const stop = async (): Promise<void> => {
        await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      };
      return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dataDir, stop };
    } catch (error) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (attempt < 3 && /could not bind|already in use/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${(error as Error).message}\n${log.slice(-2000)}`, { cause: error });
    }
  }
}

/** A database URL on the same cluster as `adminUrl`, with another database name. */
export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates a fresh, empty database on the cluster and returns its URL. */
export async function createDatabase(adminUrl: string, prefix = 'test'): Promise<string> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(adminUrl, name);
}
