/**
 * `startHaproxy`: Debian's haproxy running the shipped docs/haproxy.cfg in front of bridge processes, its listen
 * address and server lines generated for the test, as the one URL that widgets and consoles of a cluster use.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from './free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { START_DEADLINE_MS, waitUntil } from './wait-until.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A running haproxy. */
export interface Haproxy {
  /** The front URL (http://127.0.0.1:<port>). */
  url: string;
  /** The generated configuration, as written. */
  config: string;
  /** Ends haproxy and removes its configuration directory. */
  close(): Promise<void>;
}

/**
 * The shipped docs/haproxy.cfg with its listen address set to `port` and one server line per bridge port. The
 * health check interval is the shipped one unless `checkIntervalMs` is given.
 */
export async function haproxyConfig(port: number, backendPorts: readonly number[], checkIntervalMs?: number): Promise<string> {
  const shipped = await readFile(join(ROOT, 'docs', 'haproxy.cfg'), 'utf8');
  const servers = backendPorts
    .map((backend, i) => {
      const line = shipped.match(/^ {4}server \S+ \S+( .*)$/m)?.[1] ?? ' check';
      const options = line.replace(/cookie \S+/, `cookie n${i}`).replace(/ inter \d+\w*/, '');
      const inter = checkIntervalMs !== undefined ? ` inter ${checkIntervalMs}` : '';
      return `    server n${i} 127.0.0.1:${backend}${options.replace(/ check\b/, ` check${inter}`)}`;
    })
    .join('\n');
  return shipped.replace(/bind 127\.0\.0\.1:\d+/, `bind 127.0.0.1:${port}`).replace(/( {4}server .*\n?)+/, `${servers}\n`);
}

/**
 * Starts `/usr/sbin/haproxy -db` with `haproxyConfig(…)` and resolves once `/health` answers 200 through it.
 * Bridges on `backendPorts` that are down are fine as long as one answers.
 */
export async function startHaproxy(backendPorts: readonly number[], options: { checkIntervalMs?: number } = {}): Promise<Haproxy> {
  const port = await freePort();
  const config = await haproxyConfig(port, backendPorts, options.checkIntervalMs);
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-haproxy-'));
  await writeFile(join(dir, 'haproxy.cfg'), config);
  const child = spawn('/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(`haproxy on ${url} to answer /health with 200`, async () => child.exitCode === null && (await fetch(`${url}/health`)).status === 200, {
      timeoutMs: START_DEADLINE_MS,
      intervalMs: 100,
    });
  } catch (error) {
    await close();
    throw new Error(`${(error as Error).message}; haproxy printed: ${output || 'nothing'}`, { cause: error });
  }
  return { url, config, close };
}
