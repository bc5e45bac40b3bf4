/**
 * The README's deployment recipe, run: docs/deploy/nginx-anon-chat.conf passes `nginx -t` and fronts a real bridge
 * on loopback (TLS with a certificate made here, WebSocket upgrade for Socket.IO, X-Forwarded-For honoured with
 * TRUST_PROXY and not spoofable by the client), and docs/deploy/anon-chat.service passes `systemd-analyze verify`.
 * Distinct client addresses come from binding 127.0.0.x: Linux routes all of 127/8 to loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectVisitor, START_DEADLINE_MS, startTestBridge, waitUntil, type ClientOptions, type TestBridge } from '../bridge/testing/index.ts';

const DEPLOY = join(import.meta.dirname, '..', 'docs', 'deploy');
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

let dir: string;
let bridge: TestBridge;
let nginx: ChildProcess | undefined;
let cert: string;
let httpsPort: number;
let httpPort: number;

/** A port free on 127.0.0.1 now (nginx cannot be told to pick one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Replaces `from` in `text`, failing loudly when the documented file no longer has it. */
function swap(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`docs/deploy/nginx-anon-chat.conf no longer contains ${String(from)}`);
  return text.replaceAll(from, to);
}

/** The documented site config with only addresses, ports and certificate paths changed for loopback. */
async function siteConfig(): Promise<string> {
  let text = await readFile(join(DEPLOY, 'nginx-anon-chat.conf'), 'utf8');
  text = swap(text, 'server 127.0.0.1:5001;', `server 127.0.0.1:${bridge.port};`);
  text = swap(text, /^\s*listen \[::\]:\d+.*\n/gm, '');
  text = swap(text, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
  text = swap(text, 'listen 443 ssl http2;', `listen 127.0.0.1:${httpsPort} ssl http2;`);
  text = swap(text, '/etc/letsencrypt/live/chat.example.com/fullchain.pem', join(dir, 'cert.pem'));
  text = swap(text, '/etc/letsencrypt/live/chat.example.com/privkey.pem', join(dir, 'key.pem'));
  return text;
}

/** A main nginx.conf that keeps every file nginx writes inside the temp prefix. */
function mainConfig(): string {
  return [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${join(dir, 'access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, `${kind}_temp`)};`),
    `  include ${join(dir, 'anon-chat.conf')};`,
    '}',
    '',
  ].join('\n');
}

function nginxArgs(...extra: string[]): string[] {
  return ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), ...extra];
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** An HTTPS request to nginx from `localAddress`, trusting the test's certificate. */
function get(path: string, localAddress: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: httpsPort, path, localAddress, ca: cert, servername: 'localhost', headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Socket.IO client options for a connection to nginx from `localAddress` (passed through to the ws client). */
function viaNginx(localAddress: string, extra: ClientOptions = {}): ClientOptions {
  return Object.assign({ ca: cert, timeoutMs: 15_000, ...extra }, { localAddress });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anon-chat-nginx-'));
  // nginx's workers may run as another user (nobody when started as root): they must reach the temp paths.
  await chmod(dir, 0o755);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  // TRUST_PROXY as the recipe says; two REST requests a minute per client so the limiter shows whose address it saw.
  bridge = await startTestBridge({ config: { trustProxy: true, rateLimits: { httpPerMinute: 2 } } });
  httpsPort = await freePort();
  httpPort = await freePort();
  await writeFile(join(dir, 'anon-chat.conf'), await siteConfig());
  await writeFile(join(dir, 'nginx.conf'), mainConfig());
}, 60_000);

afterAll(async () => {
  if (nginx?.pid !== undefined && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx?.once('exit', resolve));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await bridge?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nginx in front of the bridge (docs/deploy/nginx-anon-chat.conf)', () => {
  it('passes nginx -t', () => {
    const check = spawnSync(NGINX, nginxArgs('-t'), { encoding: 'utf8' });
    expect(check.stderr).toContain('syntax is ok');
    expect(check.status, check.stderr).toBe(0);
  });

  it('terminates TLS, upgrades Socket.IO to WebSocket and passes the client address the bridge trusts', async () => {
    nginx = spawn(NGINX, nginxArgs('-g', 'daemon off;'), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nginx.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    // Ready once it answers over TLS (or failed if it exited).
    const started = nginx;
    const state = await waitUntil(
      'nginx to answer /health over TLS (or exit)',
      async () => (started.exitCode !== null ? 'exited' : (await get('/health', '127.0.0.1')).status === 200 && 'answering'),
      { timeoutMs: START_DEADLINE_MS },
    );
    if (state === 'exited') throw new Error(`nginx exited ${started.exitCode}: ${stderr}`);

    // TLS: the bridge answers through nginx, with the request id nginx generated (32 hex digits) echoed.
    const health = await get('/health', '127.0.0.1');
    expect(health.status).toBe(200);
    expect(health.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(health.headers['strict-transport-security']).toBeDefined();

    // WebSocket through nginx (transports: ['websocket'] only, so no long-polling fallback can pass instead).
    const visitor = await connectVisitor(`https://127.0.0.1:${httpsPort}`, {}, viaNginx('127.0.0.4'));
    const spoofer = await connectVisitor(
      `https://127.0.0.1:${httpsPort}`,
      {},
      viaNginx('127.0.0.5', { extraHeaders: { 'X-Forwarded-For': '203.0.113.9' } }),
    );
    try {
      const ips = [...bridge.bridge.io.of('/visitor').sockets.values()].map((socket) => (socket.data as { ip: string }).ip);
      // The bridge saw each client's own address (not nginx's 127.0.0.1), and not the one a client made up.
      expect(ips.sort()).toEqual(['127.0.0.4', '127.0.0.5']);
      expect(visitor.io.engine.transport.name).toBe('websocket');
    } finally {
      visitor.close();
      spoofer.close();
    }

    // REST rate limits per client address: 127.0.0.2 uses up its two requests, 127.0.0.3 still has its own.
    expect((await get('/api/conversations', '127.0.0.2')).status).toBe(401);
    expect((await get('/api/conversations', '127.0.0.2')).status).toBe(401);
    expect((await get('/api/conversations', '127.0.0.2')).status).toBe(429);
    expect((await get('/api/conversations', '127.0.0.3')).status).toBe(401);
  }, 60_000);

  it('redirects plain HTTP to HTTPS', async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/demo/`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toMatch(/^https:\/\/127\.0\.0\.1(:\d+)?\/demo\/$/);
  });
});

describe('systemd unit (docs/deploy/anon-chat.service)', () => {
  it('restarts on failure, runs the built bundle, and passes systemd-analyze verify where it exists', async () => {
    const unitDir = await mkdtemp(join(tmpdir(), 'anon-chat-unit-'));
    try {
      const unit = join(unitDir, 'anon-chat.service');
      await copyFile(join(DEPLOY, 'anon-chat.service'), unit);
      const text = await readFile(unit, 'utf8');
      expect(text).toMatch(/^Restart=on-failure$/m);
      expect(text).toMatch(/^ExecStart=\/usr\/bin\/node .*dist\/bridge\/main\.js$/m);
      // The README says the unit is unchecked on machines without systemd-analyze; this project's machines have it.
      if (spawnSync('systemd-analyze', ['--version']).status !== 0) return;
      const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(verify.status, verify.stderr).toBe(0);
      expect(verify.stderr.trim(), 'systemd-analyze warnings').toBe('');
    } finally {
      await rm(unitDir, { recursive: true, force: true });
    }
  });
});
