/**
 * A real bridge in a child process (`node` on the bundle of bridge/main.ts, bridge/testing/node-bundle.ts) for the cases that kill, restart, starve or corrupt
 * it: readiness is a TCP accept on its port, stdout/stderr are kept (bounded) for the checks, and an early exit
 * is reported with its output instead of hanging.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundledEntry, nodeArgsFor, startArgsFor } from '../bridge/testing/node-bundle.ts';
import { START_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { killPointEnv, type KillPoint } from './kill-point.ts';

const root = join(import.meta.dirname, '..');

/** Secrets fixed per run so tokens minted before a kill stay valid after the restart. */
export const TORTURE_SECRETS = {
  VISITOR_TOKEN_SECRET: 'torture-visitor-secret-0123456789abcdef',
  AGENT_TOKEN_SECRET: 'torture-agent-secret-0123456789abcdef',
  SITE_SECRET: 'torture-site-secret-0123456789abcdef',
  API_KEY: 'torture-api-key-0123456789abcdef01234567',
  AGENT_BOOTSTRAP_PASSWORD: 'torture-admin-password',
} as const;

/** How a child bridge ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running child bridge. */
export interface BridgeChild {
  url: string;
  port: number;
  pid: number;
  /** Resolves when the process has exited (for any reason). */
  exited: Promise<ChildExit>;
  output(): { stdout: string; stderr: string };
  /** Resolves true as soon as stdout receives a chunk containing `text`, false after `timeoutMs` or at exit. */
  waitForStdout(text: string, timeoutMs: number): Promise<boolean>;
  kill(signal?: NodeJS.Signals): Promise<ChildExit>;
}

/** Options for `spawnBridge`. */
export interface SpawnBridgeOptions {
  dataDir: string;
  /**
   * Fixed port (restarts reuse it so clients reconnect to the same URL); a free one when omitted. Between a kill and
   * the restart another process may take it: the start waits for it to come free again, up to the ready deadline.
   */
  port?: number;
  env?: Record<string, string>;
  /** Run the child as this uid/gid (permission cases: root ignores file modes). */
  uid?: number;
  gid?: number;
  readyTimeoutMs?: number;
  /**
   * Run the bundle as `npm start` does, without source maps (stack traces then point into the bundle). For a case
   * whose memory baseline is taken before the bridge formats its first stack trace: with source maps that first
   * trace decodes the bundle's whole map and keeps it (tens of MB) for the life of the process.
   */
  asStarted?: boolean;
  /** Freeze the child at this named point (torture/kill-point.ts), the `after`-th time it gets there. */
  killPoint?: { point: KillPoint; after?: number };
  /** Preload torture/memory-probe.ts (with --expose-gc) so `retainedMemory` can ask for heap used after a full GC. */
  memoryProbe?: boolean;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Whether process `pid` holds a socket listening on `port`, from /proc/net/tcp{,6} and /proc/<pid>/fd: a TCP accept
 * alone could come from another process that took the port while this child failed to bind it. True where /proc
 * cannot tell (not Linux).
 */
function listensOn(pid: number, port: number): boolean {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const listening = new Set<string>();
  try {
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
        if (local?.endsWith(hexPort) && state === '0A' && inode) listening.add(`socket:[${inode}]`);
      }
    }
  } catch {
    return true;
  }
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // Another uid's process (the permission cases) without the rights to look: cannot tell.
    return true;
  }
  return fds.some((fd) => {
    try {
      return listening.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  });
}

/** The child could not bind its port: another process holds it. */
class PortTaken extends Error {}

const KEEP = 64 * 1024;

/** Starts `bridge/main.ts` in a child; without `expectReady:false` rejects with its output if it exits first. */
function startChild(
  options: SpawnBridgeOptions,
  port: number,
): { child: ChildProcess; exited: Promise<ChildExit>; out: { stdout: string; stderr: string }; waitForStdout: BridgeChild['waitForStdout'] } {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: options.dataDir,
    LOG_LEVEL: 'warn',
    ...TORTURE_SECRETS,
    ...options.env,
    ...(options.killPoint ? killPointEnv(options.killPoint.point, options.killPoint.after) : {}),
  };
  const args = options.asStarted ? startArgsFor('bridge/main.ts') : nodeArgsFor('bridge/main.ts');
  if (options.killPoint) args.unshift('--import', pathToFileURL(bundledEntry('torture/kill-point.ts')).href);
  if (options.memoryProbe) args.unshift('--expose-gc', '--import', pathToFileURL(bundledEntry('torture/memory-probe.ts')).href);
  // Plain `node` on the bundle: SIGKILL reaches the bridge itself (the tsx CLI would run it in a grandchild).
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  const out = { stdout: '', stderr: '' };
  const watchers = new Set<(chunk: string) => void>();
  child.stdout?.on('data', (d: Buffer) => {
    const chunk = d.toString('utf8');
    out.stdout = (out.stdout + chunk).slice(-KEEP);
    for (const watch of watchers) watch(chunk);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr = (out.stderr + d.toString('utf8')).slice(-KEEP);
  });
  const exited = new Promise<ChildExit>((resolve) => {
    // 'close', not 'exit': it comes once the output pipes are drained too, so the last lines (the error naming the
    // file) are in `out`.
    child.once('close', (code, signal) => resolve({ code, signal, ...out }));
  });
  const waitForStdout = (text: string, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      const finish = (found: boolean) => {
        watchers.delete(watch);
        clearTimeout(timer);
        resolve(found);
      };
      const watch = (chunk: string) => {
        if (chunk.includes(text)) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      watchers.add(watch);
      void exited.then(() => finish(false));
    });
  return { child, exited, out, waitForStdout };
}

/**
 * Spawns a bridge and resolves once it accepts TCP connections on its own listening socket; rejects (with its
 * output) if it exits first. A port another process took in the meantime (a free port is only free until someone
 * binds it) is tried again until the ready deadline: a fixed one as it is, otherwise a fresh free one.
 */
export async function spawnBridge(options: SpawnBridgeOptions): Promise<BridgeChild> {
  const timeoutMs = options.readyTimeoutMs ?? START_DEADLINE_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const port = options.port ?? (await freePort());
    try {
      return await startOnPort(options, port, deadline, timeoutMs);
    } catch (error) {
      if (!(error instanceof PortTaken)) throw error;
      if (Date.now() > deadline) {
        throw new Error(`waited ${timeoutMs} ms for port ${port} to be free for bridge/main.ts (DATA_DIR ${options.dataDir}); another process holds it: ${error.message}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function startOnPort(options: SpawnBridgeOptions, port: number, deadline: number, timeoutMs: number): Promise<BridgeChild> {
  const { child, exited, out, waitForStdout } = startChild(options, port);
  let done: ChildExit | undefined;
  void exited.then((e) => {
    done = e;
  });
  for (;;) {
    if (done) {
      const output = done.stderr || done.stdout;
      if (/EADDRINUSE/.test(output)) throw new PortTaken(output.trim().split('\n').slice(-1).join('').slice(0, 500));
      throw new Error(`bridge exited before ready (code ${done.code}, signal ${done.signal}): ${output}`);
    }
    const accepted = await tryConnect(port);
    if (accepted && listensOn(child.pid ?? -1, port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `waited ${timeoutMs} ms for bridge/main.ts (DATA_DIR ${options.dataDir}) to accept TCP connections on port ${port}` +
          `${accepted ? ' (something accepts there, but not this child)' : ''}; ` +
          `1-min load average ${loadavg()[0]!.toFixed(1)}; stderr ${out.stderr.slice(-1000)} stdout ${out.stdout.slice(-1000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? -1,
    exited,
    output: () => ({ ...out }),
    waitForStdout,
    kill: async (signal = 'SIGKILL') => {
      if (!done) child.kill(signal);
      return exited;
    },
  };
}

/** What a child bridge spawned with `memoryProbe` still holds after a full garbage collection, in bytes. */
export interface RetainedMemory {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

/** Asks a bridge spawned with `memoryProbe` to collect garbage and report its memory (torture/memory-probe.ts). */
export async function retainedMemory(bridge: BridgeChild, timeoutMs = 30_000): Promise<RetainedMemory> {
  const answered = bridge.waitForStdout('memory {', timeoutMs);
  process.kill(bridge.pid, 'SIGUSR2');
  if (!(await answered)) throw new Error(`waited ${timeoutMs} ms for the bridge's memory probe to answer SIGUSR2 (was it spawned with memoryProbe?)`);
  const lines = [...bridge.output().stdout.matchAll(/^memory (\{.*\})$/gm)];
  if (lines.length === 0) throw new Error('memory probe line not found in the bridge output');
  return JSON.parse(lines.at(-1)![1]!) as RetainedMemory;
}

/** Starts a bridge without waiting for it (to kill it mid-start, e.g. frozen at a kill point while it replays its journal). */
export function spawnBridgeUnready(options: SpawnBridgeOptions & { port: number }): Pick<BridgeChild, 'waitForStdout' | 'kill'> {
  const { child, exited, waitForStdout } = startChild(options, options.port);
  return {
    waitForStdout,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Outcome of a start that is expected to fail: its exit and output, or `ready` when it started anyway. */
export type StartOutcome = { ready: false; exit: ChildExit } | { ready: true; child: BridgeChild };

/** Spawns a bridge that should refuse to start; reports whether it became ready or how it exited. */
export async function spawnBridgeOutcome(options: SpawnBridgeOptions): Promise<StartOutcome> {
  const port = options.port ?? (await freePort());
  const { child, exited, waitForStdout } = startChild(options, port);
  let done: ChildExit | undefined;
  void exited.then((e) => {
    done = e;
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? START_DEADLINE_MS);
  for (;;) {
    if (done) return { ready: false, exit: done };
    if (await tryConnect(port)) {
      return {
        ready: true,
        child: {
          url: `http://127.0.0.1:${port}`,
          port,
          pid: child.pid ?? -1,
          exited,
          output: () => ({ stdout: '', stderr: '' }),
          waitForStdout,
          kill: async (signal = 'SIGKILL') => {
            if (!done) child.kill(signal);
            return exited;
          },
        },
      };
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      return { ready: false, exit: await exited };
    }
    await new Promise((r) => setTimeout(r, 15));
  }
}
