/**
 * Starts a server under test (the bridge wrapper or the baseline) as its own process, pinned to its own core
 * with `taskset` when available, and talks to it over the Node IPC channel: readiness, event-loop delay,
 * memory after GC. CPU time is read from /proc/<pid>/stat so the figure does not depend on the child's honesty.
 * Servers run as plain `node` on an esbuild bundle of their script, built once per bench run — the form
 * `npm start` runs the bridge in — so start-up time (scenario 7) measures what users run, not tsx's loader.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { basename, resolve } from 'node:path';
import { bundleNodeEntry } from '../../scripts/build-bridge.ts';
import { START_DEADLINE_MS } from '../../bridge/testing/wait-until.ts';

/** Figures a server process reports about itself over IPC. */
export interface ProbeStats {
  /** Event-loop delay since the last reset, in ms (perf_hooks.monitorEventLoopDelay, 10 ms resolution timer). */
  eventLoop: { p50: number; p99: number; max: number };
  rss: number;
  heapUsed: number;
  /** Process-specific figures (connected sockets, …). */
  extra: Record<string, number>;
}

type Reply = { type: 'ready'; port: number; info?: Record<string, unknown> } | ({ type: 'stats'; id: number } & ProbeStats);

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * Longest wait for a server's answer to a stats request: an answer takes milliseconds, but a pinned server sharing its
 * core with a whole test suite (and a full GC first) can wait for the CPU far longer; only a hung one waits a minute.
 */
const STATS_DEADLINE_MS = 60_000;

/** Bundles already built in this run, by script; a restart reuses its bundle, so the restart time excludes the build. */
const bundles = new Map<string, string>();

/** The runnable bundle of `script` (relative to the root): dist/bench/<name>.js, built on first use in this run. */
export function bundleFor(script: string): string {
  let bundle = bundles.get(script);
  if (bundle === undefined) {
    bundle = resolve(ROOT, 'dist', 'bench', `${basename(script).replace(/\.ts$/, '')}.js`);
    bundleNodeEntry(script, bundle);
    bundles.set(script, bundle);
  }
  return bundle;
}

/** True when processes can be pinned to cores on this machine. */
export const canPin = TASKSET;

/** Pins the calling process (all threads) to `core` when taskset is available. */
export function pinSelf(core: number): boolean {
  if (!TASKSET) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Options for `startServer`. */
export interface ServerOptions {
  /** Script path relative to the repository root. */
  script: string;
  env?: Record<string, string>;
  /** Core to pin to. */
  core?: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
}

/** A running server process. */
export class ServerProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (stats: ProbeStats) => void>();
  private stderrTail = '';
  private exited: Promise<number | null>;
  port = 0;
  info: Record<string, unknown> = {};

  private constructor(
    readonly child: ChildProcess,
    /** The script it runs, for error messages. */
    readonly script: string,
  ) {
    this.exited = new Promise((done) => child.once('exit', (code) => done(code)));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    child.stdout?.on('data', () => {});
    child.on('message', (raw) => {
      const msg = raw as Reply;
      if (msg.type === 'stats') {
        const done = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        done?.(msg);
      }
    });
  }

  /** Spawns the server and resolves once it reports the port it listens on. */
  static async start(options: ServerOptions): Promise<ServerProcess> {
    const nodeArgs = ['--enable-source-maps', '--expose-gc', ...(options.nodeFlags ?? []), bundleFor(options.script)];
    const [cmd, args] =
      TASKSET && options.core !== undefined
        ? ['taskset', ['-c', String(options.core), process.execPath, ...nodeArgs]]
        : [process.execPath, nodeArgs];
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const server = new ServerProcess(child, options.script);
    const timeout = options.readyTimeoutMs ?? START_DEADLINE_MS;
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`waited ${timeout} ms for ${options.script} (pid ${child.pid}) to report 'ready' over IPC; 1-min load average ${loadavg()[0]!.toFixed(1)}\n${server.stderrTail}`)),
        timeout,
      );
      child.on('message', (raw) => {
        const msg = raw as Reply;
        if (msg.type !== 'ready') return;
        clearTimeout(timer);
        server.port = msg.port;
        server.info = msg.info ?? {};
        ok();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`${options.script} exited with ${code} before ready\n${server.stderrTail}`));
      });
    });
    return server;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** CPU seconds (user + system) the process has used so far, from /proc. */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      return Number.NaN;
    }
  }

  /** Asks the process for its figures; `reset` starts a new event-loop window, `gc` collects garbage first. */
  stats(opts: { reset?: boolean; gc?: boolean } = {}): Promise<ProbeStats> {
    const id = this.nextId++;
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        fail(
          new Error(
            `waited ${STATS_DEADLINE_MS / 1000} s for ${this.script} (pid ${this.pid}) to answer a stats request${opts.gc ? ' (after a full GC)' : ''} over IPC; ` +
              `1-min load average ${loadavg()[0]!.toFixed(1)}; stderr ${this.stderrTail.slice(-500)}`,
          ),
        );
      }, STATS_DEADLINE_MS);
      this.waiting.set(id, (stats) => {
        clearTimeout(timer);
        ok(stats);
      });
      this.child.send({ type: 'stats', id, ...opts });
    });
  }

  /** Stops the process (SIGTERM, then SIGKILL after 15 s: the bridge flushes its store first); SIGKILL simulates a crash. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.child.kill('SIGKILL');
    }, 15_000);
    const code = await this.exited;
    clearTimeout(timer);
    if (forced) process.stderr.write(`bench: pid ${this.pid} did not stop within 15 s of ${signal}; killed\n${this.stderrTail.slice(-1000)}\n`);
    return code;
  }
}
