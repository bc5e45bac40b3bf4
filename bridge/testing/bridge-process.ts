/**
 * `startBridgeProcess`: the real `bridge/main.ts` in a child process (for kill -9, restart and shutdown tests, and
 * for browser tests that need a bridge to outlive a page), run from its bundle (node-bundle.ts). Resolves once it
 * prints its listening line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { nodeArgsFor } from './node-bundle.ts';
import { START_DEADLINE_MS } from './wait-until.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const LISTENING = /anon-chat listening on (http:\/\/[^\s]+:(\d+))/;

/** Options of `startBridgeProcess`. */
export interface BridgeProcessOptions {
  dataDir: string;
  /** Port to listen on; pass the previous run's port on a restart so clients reconnect. Default 0. */
  port?: number;
  /** Extra environment (HOST is always 127.0.0.1; LOG_LEVEL defaults to `error`). */
  env?: Record<string, string>;
  /** How long to wait for the listening line (default START_DEADLINE_MS). */
  timeoutMs?: number;
}

/** A running bridge process. */
export interface BridgeProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal) once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGTERM, then waits for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Password of the bootstrap agent the helper gives every bridge process (name `admin`). */
export const PROCESS_ADMIN = { name: 'admin', password: 'process-admin-password' } as const;

/** Spawns `node <bundle of bridge/main.ts>` and waits for `anon-chat listening on http://127.0.0.1:<port>`. */
export function startBridgeProcess(options: BridgeProcessOptions): Promise<BridgeProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'error',
    AGENT_BOOTSTRAP_PASSWORD: PROCESS_ADMIN.password,
    ...options.env,
    HOST: '127.0.0.1',
    PORT: String(options.port ?? 0),
    DATA_DIR: options.dataDir,
  };
  const child = spawn(process.execPath, nodeArgsFor('bridge/main.ts'), {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };

  const timeoutMs = options.timeoutMs ?? START_DEADLINE_MS;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill('SIGKILL');
      reject(
        new Error(
          `waited ${timeoutMs} ms for bridge/main.ts (DATA_DIR ${options.dataDir}, PORT ${env.PORT}) to print "anon-chat listening on"; ` +
            `1-min load average ${loadavg()[0]!.toFixed(1)}; its output so far:\n${output}`,
        ),
      );
    }, timeoutMs);
    const onData = (): void => {
      const match = LISTENING.exec(output);
      if (!match?.[1] || !match[2]) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({
        url: match[1],
        port: Number(match[2]),
        child,
        output: () => output,
        kill,
        stop: () => kill('SIGTERM'),
      });
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bridge process exited with ${code} before listening:\n${output}`));
    });
  });
}
