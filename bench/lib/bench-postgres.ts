/**
 * The bench's PostgreSQL: one durable server per bench run (`fsync`, `synchronous_commit` and full page writes on,
 * unlike the tests' server), started on first use, pinned to the servers' core, with a fresh database per target.
 * Its CPU time is read from /proc for the postmaster and every process it forked (backends, WAL writer, checkpointer…).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createDatabase, startTestPostgres, type TestPostgres } from '../../bridge/testing/postgres.ts';

let cluster: Promise<TestPostgres> | undefined;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The run's server, started (and pinned to `core`) on first call. */
export function benchPostgres(core: number): Promise<TestPostgres> {
  cluster ??= startTestPostgres({ durable: true }).then((server) => {
    // Children forked later (new backends) inherit the postmaster's affinity; the ones already running are pinned too.
    for (const pid of [postmasterPid(server), ...childrenOf(postmasterPid(server))]) {
      spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    }
    return server;
  });
  return cluster;
}

/** Stops the run's server if one was started. */
export async function stopBenchPostgres(): Promise<void> {
  if (!cluster) return;
  const server = await cluster.catch(() => undefined);
  cluster = undefined;
  await server?.stop();
}

/** A fresh database on the run's server. */
export async function benchDatabase(core: number): Promise<string> {
  return createDatabase((await benchPostgres(core)).adminUrl, 'bench');
}

function postmasterPid(server: TestPostgres): number {
  return Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields && Number(fields[1]) === parent) pids.push(Number(name));
  }
  return pids;
}

/** CPU seconds by kind of PostgreSQL process: `backends` serve connections, the rest are the server's own. */
export interface PostgresCpu {
  backends: number;
  walWriter: number;
  other: number;
}

/** CPU seconds used so far by the run's server processes (live ones: a backend that exited takes its time along). */
export async function postgresCpuSeconds(): Promise<PostgresCpu> {
  const cpu: PostgresCpu = { backends: 0, walWriter: 0, other: 0 };
  if (!cluster) return cpu;
  const server = await cluster;
  const postmaster = postmasterPid(server);
  for (const pid of [postmaster, ...childrenOf(postmaster)]) {
    const fields = statFields(pid);
    if (!fields) continue;
    const seconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\u0000', ' ');
    } catch {
      continue;
    }
    // Backends set their title to "postgres: <user> <database> <client> <state>".
    if (pid !== postmaster && /\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]/.test(title)) cpu.backends += seconds;
    else if (title.includes('walwriter')) cpu.walWriter += seconds;
    else cpu.other += seconds;
  }
  return cpu;
}
