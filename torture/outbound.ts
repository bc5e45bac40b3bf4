/**
 * Case 10: outbound event webhooks against hostile receivers, with a child bridge. Part A: receivers on loopback
 * reached through every spelling of a private address while private targets are forbidden → not one request
 * arrives. Part B (private allowed, so loopback receivers can stand in for the internet): receivers that time
 * out, reset, answer 429/5xx, or stream an endless body → attempts per delivery bounded, every endless body closed
 * by the bridge after no more bytes than the kernel buffers of one loopback connection hold (it is not read); a
 * receiver that is down while the bridge is SIGKILLed gets every event after the restart.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processUsage } from './abuse.ts';
import { spawnBridge, TORTURE_SECRETS, type BridgeChild } from './bridge-process.ts';
import { waitUntil } from '../bridge/testing/wait-until.ts';
import { TortureVisitor } from './visitor-client.ts';

type Behaviour = 'ok' | 'timeout' | 'reset' | '429' | '500' | '503' | 'huge-body' | 'hang-body' | 'down-then-ok';

/** A loopback receiver with a fixed bad behaviour that counts what it got. */
interface Receiver {
  behaviour: Behaviour;
  url: string;
  port: number;
  requests: number;
  /** Attempts per delivery id. */
  attempts: Map<string, number>;
  /** Event ids received with a 2xx answer. */
  delivered: Set<string>;
  /** Endless bodies (huge-body): responses started, closed by the other end, most bytes written into one before its close. */
  endless: EndlessBodies;
  setHealthy(healthy: boolean): void;
  close(): Promise<void>;
}

/** What became of the endless bodies one receiver offered. */
export interface EndlessBodies {
  started: number;
  closed: number;
  maxBytesBeforeClose: number;
}

/**
 * Most bytes a sender can write into a loopback connection whose reader reads nothing: the sender's send buffer
 * plus the reader's receive buffer, each at most its kernel autotuning maximum (tcp_wmem / tcp_rmem), plus the
 * response's own write buffer. A client that read the body would keep the writes going without end.
 */
export function unreadBodyBound(): number {
  const max = (file: string, fallback: number) => {
    try {
      return Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2]) || fallback;
    } catch {
      return fallback;
    }
  };
  return max('/proc/sys/net/ipv4/tcp_wmem', 4 << 20) + max('/proc/sys/net/ipv4/tcp_rmem', 32 << 20) + (1 << 20);
}

async function startReceiver(behaviour: Behaviour): Promise<Receiver> {
  let healthy = behaviour !== 'down-then-ok';
  const sockets = new Set<NetSocket>();
  const endless: EndlessBodies = { started: 0, closed: 0, maxBytesBeforeClose: 0 };
  const r = { behaviour, requests: 0, attempts: new Map<string, number>(), delivered: new Set<string>(), endless };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      r.requests++;
      const delivery = String(req.headers['x-anonchat-delivery'] ?? '');
      r.attempts.set(delivery, (r.attempts.get(delivery) ?? 0) + 1);
      const ok = () => {
        try {
          r.delivered.add((JSON.parse(body) as { id: string }).id);
        } catch {
          // not an event body
        }
        res.writeHead(204).end();
      };
      switch (behaviour) {
        case 'ok':
          return ok();
        case 'down-then-ok':
          // "Down for maintenance, come back in 5 s": fewer attempts than the budget before the restart.
          return healthy ? ok() : void res.writeHead(503, { 'retry-after': '5' }).end();
        case 'timeout':
          return; // never answers
        case 'reset':
          return void req.socket.destroy();
        case '429':
          return void res.writeHead(429, { 'retry-after': '1' }).end();
        case '500':
          return void res.writeHead(500).end('boom');
        case '503':
          return void res.writeHead(503).end();
        case 'huge-body': {
          // 200 with an endless body as fast as the socket takes it: a client that reads it would fill its memory.
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 0x41);
          let written = 0;
          endless.started++;
          // This end never ends the response: a close is the bridge hanging up (or its SIGKILL, which the case
          // snapshots these figures before).
          res.once('close', () => {
            endless.closed++;
            endless.maxBytesBeforeClose = Math.max(endless.maxBytesBeforeClose, written);
          });
          const pump = () => {
            while (!res.destroyed) {
              written += chunk.length;
              if (!res.write(chunk)) break;
            }
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
          return;
        }
        case 'hang-body':
          res.writeHead(200, { 'content-length': '1000000' });
          res.write('partial');
          return;
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    setHealthy: (h: boolean) => void (healthy = h),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/** Figures of the outbound case. */
export interface OutboundFigures {
  forbidden: { urls: number; requestsReceived: number };
  hostile: Record<string, { requests: number; maxAttemptsPerDelivery: number }>;
  maxAttemptsAllowed: number;
  /** The endless 200 bodies as the receiver saw them when every event had been offered, and the bound they must keep. */
  endlessBody: EndlessBodies & { boundBytes: number };
  /** Bridge RSS at listen and its peak sampled meanwhile: reported, not asserted (a loaded machine collects late). */
  rss: { baselineMb: number; peakMb: number };
  restart: { events: number; deliveredAfterRestart: number; missing: number; secondsToDeliverAll: number };
  problems: string[];
}

async function sendMessages(url: string, n: number, name: string): Promise<TortureVisitor> {
  const v = new TortureVisitor({ url, name });
  await v.ready();
  v.pump();
  for (let i = 0; i < n; i++) v.queue();
  if (!(await v.drained(15_000))) throw new Error('messages not acked');
  return v;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** Runs the outbound case. */
export async function runOutbound(options: { messages?: number; deliverTimeoutMs?: number } = {}): Promise<OutboundFigures> {
  const problems: string[] = [];
  const messages = options.messages ?? 5;
  const maxAttempts = 4;
  const base = {
    LOG_LEVEL: 'error',
    WEBHOOK_SECRET: 'torture-webhook-secret-0123456789',
    WEBHOOK_MAX_ATTEMPTS: String(maxAttempts),
    WEBHOOK_RETRY_BASE_MS: '200',
    WEBHOOK_RETRY_MAX_MS: '800',
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_POLL_MS: '100',
    RATE_LIMIT_MESSAGES_PER_MINUTE: '100000',
  };

  // ---- A: forbidden targets, every spelling of loopback ----
  const sink = await startReceiver('ok');
  const p = sink.port;
  const forbiddenUrls = [
    `http://127.0.0.1:${p}/a`,
    `http://localhost:${p}/b`,
    `http://[::1]:${p}/c`,
    `http://0x7f000001:${p}/d`,
    `http://2130706433:${p}/e`,
    `http://127.1:${p}/f`,
    `http://[::ffff:127.0.0.1]:${p}/g`,
    `http://[::ffff:7f00:1]:${p}/h`,
    `http://0.0.0.0:${p}/i`,
    `http://127.0.0.1.nip.invalid:${p}/j`,
    `http://169.254.169.254:${p}/latest/meta-data`,
    `http://10.0.0.1:${p}/k`,
    `http://192.168.1.1:${p}/l`,
  ];
  const dirA = mkdtempSync(join(tmpdir(), 'torture-outbound-a-'));
  let bridge: BridgeChild | undefined = await spawnBridge({ dataDir: dirA, env: { ...base, WEBHOOK_URLS: forbiddenUrls.join(','), WEBHOOK_ALLOW_PRIVATE: 'false' } });
  try {
    const v = await sendMessages(bridge.url, messages, 'fa');
    v.close();
    // Every delivery to a forbidden address is given up, at once or after its few retries (a name that does not
    // resolve): once all of them are dead, nothing can reach the sink any more.
    const url = bridge.url;
    await waitUntil(
      `every event delivery to a forbidden address (${messages} messages × ${forbiddenUrls.length} URLs) to be given up`,
      async () => {
        const res = await fetch(`${url}/api/webhooks/deliveries?limit=500`, { headers: { authorization: `Bearer ${TORTURE_SECRETS.API_KEY}` } });
        const { deliveries } = (await res.json()) as { deliveries: { state: string }[] };
        return deliveries.length >= messages * forbiddenUrls.length && deliveries.every((d) => d.state === 'dead');
      },
      // The deliveries API shares the HTTP rate limit (600 a minute).
      { intervalMs: 250 },
    );
  } finally {
    await bridge.kill('SIGKILL');
    rmSync(dirA, { recursive: true, force: true });
  }
  const forbidden = { urls: forbiddenUrls.length, requestsReceived: sink.requests };
  await sink.close();

  // ---- B: hostile receivers (private allowed), bounded retries and memory; C: restart with a down receiver ----
  const behaviours: Behaviour[] = ['timeout', 'reset', '429', '500', '503', 'huge-body', 'hang-body', 'down-then-ok'];
  const receivers = await Promise.all(behaviours.map((b) => startReceiver(b)));
  const dirB = mkdtempSync(join(tmpdir(), 'torture-outbound-b-'));
  const env = { ...base, WEBHOOK_URLS: receivers.map((r) => r.url).join(','), WEBHOOK_ALLOW_PRIVATE: 'true' };
  let peakMb = 0;
  let baselineMb: number;
  const flaky = receivers.find((r) => r.behaviour === 'down-then-ok')!;
  const huge = receivers.find((r) => r.behaviour === 'huge-body')!;
  let endlessBody: EndlessBodies = { started: 0, closed: 0, maxBytesBeforeClose: 0 };
  let events = 0;
  let secondsToDeliverAll = -1;
  try {
    // As under `npm start`: the baseline is taken at listen, before any stack trace a source map would be decoded for.
    bridge = await spawnBridge({ dataDir: dirB, env, asStarted: true });
    baselineMb = processUsage(bridge.pid).rssMb;
    const pid = bridge.pid;
    const sampler = setInterval(() => {
      try {
        peakMb = Math.max(peakMb, processUsage(pid).rssMb);
      } catch {
        // killed below
      }
    }, 100);
    const v = await sendMessages(bridge.url, messages, 'ob');
    v.close();
    // Kill once every receiver has had what the figures judge: each failing one retried, each endless or hanging
    // body offered for every event (every endless one hung up on by the bridge), the down receiver refused every
    // event at least once.
    const byBehaviour = new Map(receivers.map((r) => [r.behaviour, r]));
    const owed = () =>
      behaviours.flatMap((b) => {
        const r = byBehaviour.get(b)!;
        const retried = ['timeout', 'reset', '429', '500', '503'].includes(b);
        const hungUp = b !== 'huge-body' || r.endless.closed === r.endless.started;
        return (retried ? Math.max(0, ...r.attempts.values()) > 1 : r.attempts.size >= messages && hungUp)
          ? []
          : [`${b}: ${r.attempts.size} events, attempts ${JSON.stringify([...r.attempts.values()])}${b === 'huge-body' ? `, endless bodies ${JSON.stringify(r.endless)}` : ''}`];
      });
    await waitUntil(
      `every failing receiver retried and every other one offered all ${messages} events before the SIGKILL`,
      () => {
        const missing = owed();
        // Thrown, so an expired deadline names the receivers still owed something.
        if (missing.length) throw new Error(missing.join('; '));
        endlessBody = { ...huge.endless };
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    clearInterval(sampler);
    await bridge.kill('SIGKILL');
    flaky.setHealthy(true);
    // A new port is fine: nothing reconnects, the receivers are what the restart is judged by.
    bridge = await spawnBridge({ dataDir: dirB, env });
    events = messages;
    // Deliveries go out in batches that wait for their slowest receiver (the timeouts), so allow for that.
    const restarted = Date.now();
    if (await until(() => flaky.delivered.size >= events, options.deliverTimeoutMs ?? 30_000)) {
      secondsToDeliverAll = Math.round((Date.now() - restarted) / 100) / 10;
    }
    await bridge.kill('SIGTERM');
    bridge = undefined;
  } finally {
    await bridge?.kill('SIGKILL');
    for (const r of receivers) await r.close();
    rmSync(dirB, { recursive: true, force: true });
  }
  const hostile = Object.fromEntries(
    receivers.map((r) => [r.behaviour, { requests: r.requests, maxAttemptsPerDelivery: Math.max(0, ...r.attempts.values()) }]),
  );
  return {
    forbidden,
    hostile,
    maxAttemptsAllowed: maxAttempts,
    endlessBody: { ...endlessBody, boundBytes: unreadBodyBound() },
    rss: { baselineMb, peakMb },
    restart: { events, deliveredAfterRestart: flaky.delivered.size, missing: Math.max(0, events - flaky.delivered.size), secondsToDeliverAll },
    problems,
  };
}
