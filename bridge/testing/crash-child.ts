/**
 * A crash-test child process (bridge/testing/lowdb-*-crash-child.ts) run from its bundle, with its output kept: the
 * lowdb crash tests wait for its `ready` line and a number of acknowledgement lines, SIGKILL it, and read back what
 * it printed before they open the store it left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { nodeArgsFor } from './node-bundle.ts';
import { START_DEADLINE_MS, waitUntil } from './wait-until.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A running (or ended) crash child and everything it has printed so far. */
export interface CrashChild {
  readonly process: ChildProcess;
  /** Its stdout so far. */
  readonly out: string;
  /** Its stderr so far (for failure messages). */
  readonly err: string;
  /** Its complete stdout lines so far, `ready` included; an unfinished last line is left out. */
  lines(): string[];
  /** Waits for its `ready` line or its end, whichever comes first. */
  ready(what: string): Promise<void>;
  /** Waits until it has printed `count` lines after `ready`, or has ended. */
  acknowledged(count: number, what: string): Promise<void>;
  /** Resolves once it has ended and its output pipes are drained, so `out` holds every line it printed. */
  closed(what: string): Promise<void>;
  /** SIGKILLs it and waits for `closed`. */
  kill(what: string): Promise<void>;
}

/** Starts `entry` (a path from the repository root) with `args` from its bundle, output piped and kept. */
export function startCrashChild(entry: string, ...args: string[]): CrashChild {
  const proc = spawn(process.execPath, nodeArgsFor(entry, ...args), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let isClosed = false;
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // 'close' comes after the output pipes are drained, unlike 'exit'.
  proc.on('close', () => (isClosed = true));
  const lines = (): string[] => out.split('\n').slice(0, -1);
  const closed = async (what: string): Promise<void> => {
    await waitUntil(`${what} to end (stderr: ${err.slice(-500)})`, () => isClosed, { timeoutMs: START_DEADLINE_MS });
  };
  return {
    process: proc,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    lines,
    async ready(what) {
      await waitUntil(`${what} to print 'ready' (stderr: ${err.slice(-500)})`, () => out.includes('ready\n') || proc.exitCode !== null, {
        timeoutMs: START_DEADLINE_MS,
      });
    },
    async acknowledged(count, what) {
      await waitUntil(`${what} to acknowledge ${count} lines`, () => lines().length - 1 >= count || proc.exitCode !== null);
    },
    closed,
    async kill(what) {
      proc.kill('SIGKILL');
      await closed(what);
    },
  };
}
