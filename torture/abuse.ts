/**
 * Case 8: abuse against a child bridge (so its memory and file descriptors are its own). Normal visitors send
 * steadily while one client floods `message:send` at ~1,000/s, others send oversized frames and bodies, and
 * thousands of half-open connections from one other address try to sit on the port (the per-IP cap refuses all but
 * 256; the header/request timeout closes those). Figures: how the abuse was refused, the normal clients'
 * p95 ack latency against a baseline, and RSS / fd counts before, during and after.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, type Socket as NetSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { spawnBridge, type BridgeChild } from './bridge-process.ts';
import { percentile, TortureVisitor } from './visitor-client.ts';

/** Resource use of a process, from /proc. */
export interface ProcessUsage {
  rssMb: number;
  fds: number;
}

/** CPU seconds (user + system) `pid` has used so far. */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Open file descriptors of `pid` by kind (socket, pipe, anon_inode, or the file path), for leak reports. */
export function fdKinds(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = /^(socket|pipe|anon_inode):/.exec(target)?.[1] ?? target;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/** RSS and open file descriptors of `pid`. */
export function processUsage(pid: number): ProcessUsage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: Math.round((rssKb / 1024) * 10) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Figures of an abuse run. */
export interface AbuseFigures {
  baselineP95Ms: number;
  abuseP95Ms: number;
  /** Bridge CPU use (share of one core) in the baseline and the abuse phase. */
  cpuBaseline: number;
  cpuAbuse: number;
  flood: { sent: number; ok: number; rateLimited: number; otherErrors: number; unanswered: number; ratePerSecond: number };
  oversizedFrames: { sent: number; disconnected: number };
  oversizedBodies: { sent: number; status413: number; other: string[] };
  /**
   * Half-open connections from one address: refused at once beyond the per-IP cap, answered 408 and closed by the
   * header/request timeout (the slowest after `slowestCloseMs`), otherwise answered, or still open at the end.
   */
  halfOpen: { opened: number; refused: number; timedOut: number; other: number; stillOpen: number; slowestCloseMs: number };
  /** The bridge's per-IP connection cap and request timeout in this run. */
  limits: { maxConnectionsPerIp: number; requestTimeoutMs: number };
  usage: { baseline: ProcessUsage; peak: ProcessUsage; after: ProcessUsage };
  normalClientErrors: string[];
  bridgeAlive: boolean;
}

/** Options of `runAbuse`. */
export interface AbuseOptions {
  phaseMs: number;
  normalClients?: number;
  halfOpen?: number;
  floodPerSecond?: number;
}

async function phase(visitors: TortureVisitor[], ms: number, everyMs: number): Promise<number[]> {
  for (const v of visitors) v.ackLatenciesMs.length = 0;
  const timer = setInterval(() => {
    for (const v of visitors) v.queue();
  }, everyMs);
  await new Promise((r) => setTimeout(r, ms));
  clearInterval(timer);
  await Promise.all(visitors.map((v) => v.drained(10_000)));
  return visitors.flatMap((v) => v.ackLatenciesMs);
}

/** What the abuse generator reports. */
export interface AbuseReport {
  flood: AbuseFigures['flood'];
  frames: AbuseFigures['oversizedFrames'];
  bodies: AbuseFigures['oversizedBodies'];
  halfOpen: AbuseFigures['halfOpen'];
}

/** The abuse itself (run by torture/abuse-generator.ts in its own process): flood, big frames and bodies, half-open sockets. */
export async function generateAbuse(options: { url: string; port: number; floodPerSecond: number; halfOpen: number; durationMs: number; requestTimeoutMs: number }): Promise<AbuseReport> {
  const url = options.url;
    // ---- abuse ----

    const flood = { sent: 0, ok: 0, rateLimited: 0, otherErrors: 0, unanswered: 0, ratePerSecond: 0 };
    const flooder: Socket = io(`${url}/visitor`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { origin: url } });
    await new Promise((resolve) => flooder.once('session', resolve));
    const floodPerSecond = options.floodPerSecond;
    const floodStart = Date.now();
    // Catch up on every tick: timers run late on a busy machine, the rate must not drop with them.
    const floodTimer = setInterval(() => {
      const due = Math.floor(((Date.now() - floodStart) / 1000) * floodPerSecond) - flood.sent;
      for (let i = 0; i < due; i++) {
        flood.sent++;
        flooder
          .timeout(10_000)
          .emitWithAck('message:send', { clientId: `flood-${flood.sent}`, text: 'flood' })
          .then((res: { ok: boolean; error?: { code: string; retryAfterMs?: number } }) => {
            if (res.ok) flood.ok++;
            else if (res.error?.code === 'rate_limited' && (res.error.retryAfterMs ?? 0) > 0) flood.rateLimited++;
            else flood.otherErrors++;
          })
          .catch(() => flood.unanswered++);
      }
    }, 10);

    // Oversized socket frames: each must cost the sender its connection.
    const frames = { sent: 0, disconnected: 0 };
    const big = 'x'.repeat(1024 * 1024);
    const frameRounds = (async () => {
      for (let i = 0; i < 5; i++) {
        const s: Socket = io(`${url}/visitor`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { origin: url } });
        await new Promise((resolve) => s.once('session', resolve));
        const gone = new Promise<boolean>((resolve) => {
          s.once('disconnect', () => resolve(true));
          setTimeout(() => resolve(false), 5000);
        });
        frames.sent++;
        s.emit('message:send', { clientId: `big-${i}`, text: big });
        if (await gone) frames.disconnected++;
        s.close();
      }
    })();

    // Oversized HTTP bodies: 1 MB JSON and a 20 MB stream to a JSON route → 413 without buffering it all.
    const bodies = { sent: 0, status413: 0, other: [] as string[] };
    const bodyRounds = (async () => {
      for (const [path, size] of [
        ['/api/auth/login', 1024 * 1024],
        ['/api/conversations/x/messages', 1024 * 1024],
        ['/api/auth/login', 20 * 1024 * 1024],
        ['/webhooks/whatsapp', 5 * 1024 * 1024],
      ] as const) {
        bodies.sent++;
        try {
          const res = await fetch(url + path, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
            body: `{"text":"${'y'.repeat(size)}"}`,
          });
          await res.arrayBuffer();
          if (res.status === 413 || (path.startsWith('/api/conversations') && res.status === 401)) bodies.status413++;
          else bodies.other.push(`${path} ${size} → ${res.status}`);
        } catch (error) {
          // The bridge may cut the upload short once it has refused it; that is a refusal too.
          const cause = String((error as Error & { cause?: unknown }).cause ?? error);
          if (/ECONNRESET|EPIPE|other side closed|SocketError/.test(cause)) bodies.status413++;
          else bodies.other.push(`${path} ${size}: ${cause}`);
        }
      }
    })();

    // Half-open connections: a request line and a header (or headers and a partial body), then silence. They come
    // from 127.0.0.2, a client address of their own, so the per-IP cap refuses them and not the normal visitors.
    const halfOpenTarget = options.halfOpen;
    const halfOpen: NetSocket[] = [];
    const held = { refused: 0, timedOut: 0, other: 0, lastOpenedAt: 0, slowestCloseMs: 0 };
    for (let i = 0; i < halfOpenTarget; i++) {
      const s = connect({ port: options.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      const openedAt = Date.now();
      let answer = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      s.on('close', () => {
        // Closed with nothing said: refused at accept. A 408: held until the header or request timeout.
        if (answer === '') held.refused++;
        else if (answer.startsWith('HTTP/1.1 408')) {
          held.timedOut++;
          held.slowestCloseMs = Math.max(held.slowestCloseMs, Date.now() - openedAt);
        } else held.other++;
      });
      s.write(i % 2 === 0 ? 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n' : 'POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na');
      halfOpen.push(s);
      held.lastOpenedAt = Date.now();
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
    }

    await new Promise((r) => setTimeout(r, options.durationMs));
    clearInterval(floodTimer);
    flood.ratePerSecond = Math.round(flood.sent / ((Date.now() - floodStart) / 1000));
    await Promise.all([frameRounds, bodyRounds]);
    await new Promise((r) => setTimeout(r, 500));
    flooder.close();
    // Give the bridge its request timeout plus a few check intervals to close what it held before counting.
    const deadline = held.lastOpenedAt + options.requestTimeoutMs + 3000;
    while (halfOpen.some((s) => !s.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const stillOpen = halfOpen.filter((s) => !s.closed).length;
    for (const s of halfOpen) s.destroy();
    const { refused, timedOut, other, slowestCloseMs } = held;
    return { flood, frames, bodies, halfOpen: { opened: halfOpenTarget, refused, timedOut, other, stillOpen, slowestCloseMs } };
}

/** Runs the abuse case against a fresh child bridge with production-like limits. */
export async function runAbuse(options: AbuseOptions): Promise<AbuseFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-abuse-'));
  // The production per-IP cap; header/request timeouts shortened so the held half-open sockets are closed within
  // the run (production: 10 s / 30 s, the same mechanism).
  const limits = { maxConnectionsPerIp: 256, headersTimeoutMs: 2000, requestTimeoutMs: 4000 };
  // Production-shaped limits, loose enough for the normal clients' 5 msgs/s each.
  const bridge: BridgeChild = await spawnBridge({
    dataDir,
    env: {
      LOG_LEVEL: 'error',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '600',
      RATE_LIMIT_EVENTS_PER_MINUTE: '1200',
      RATE_LIMIT_CONNECTIONS_PER_MINUTE: '100000',
      RATE_LIMIT_HTTP_PER_MINUTE: '100000',
      MAX_CONNECTIONS_PER_IP: String(limits.maxConnectionsPerIp),
      HTTP_HEADERS_TIMEOUT_MS: String(limits.headersTimeoutMs),
      HTTP_REQUEST_TIMEOUT_MS: String(limits.requestTimeoutMs),
    },
  });
  const url = bridge.url;
  const normalCount = options.normalClients ?? 6;
  const visitors = Array.from({ length: normalCount }, (_, i) => new TortureVisitor({ url, name: `n${i}`, ackTimeoutMs: 5000 }));
  try {
    await Promise.all(visitors.map((v) => v.ready()));
    for (const v of visitors) v.pump();
    // Warm-up, then baseline.
    await phase(visitors, 1000, 200);
    const baselineUsage = processUsage(bridge.pid);
    let cpu0 = processCpuSeconds(bridge.pid);
    let t0 = Date.now();
    const baseline = await phase(visitors, options.phaseMs, 200);
    const cpuBaseline = (processCpuSeconds(bridge.pid) - cpu0) / ((Date.now() - t0) / 1000);

    // ---- abuse, from a separate process so its own event loop does not slow the normal clients' measurement ----
    let peak = processUsage(bridge.pid);
    const samplePeak = setInterval(() => {
      try {
        const u = processUsage(bridge.pid);
        peak = { rssMb: Math.max(peak.rssMb, u.rssMb), fds: Math.max(peak.fds, u.fds) };
      } catch {
        // the process is gone: reported as bridgeAlive=false below
      }
    }, 100);
    const generator = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'abuse-generator.ts')], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let generated = '';
    generator.stdout.on('data', (d: Buffer) => (generated += d.toString('utf8')));
    generator.stdin.end(JSON.stringify({ url, port: bridge.port, floodPerSecond: options.floodPerSecond ?? 1000, halfOpen: options.halfOpen ?? 2000, durationMs: options.phaseMs + 1500, requestTimeoutMs: limits.requestTimeoutMs }));
    // Let the abuse ramp up (half-open sockets opened, flood running) before measuring.
    await new Promise((r) => setTimeout(r, 1500));
    cpu0 = processCpuSeconds(bridge.pid);
    t0 = Date.now();
    const abused = await phase(visitors, options.phaseMs, 200);
    const cpuAbuse = (processCpuSeconds(bridge.pid) - cpu0) / ((Date.now() - t0) / 1000);
    await new Promise<void>((resolve) => generator.once('exit', () => resolve()));
    const report = JSON.parse(generated.trim().split('\n').at(-1) ?? '{}') as AbuseReport;
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(samplePeak);

    // Settle: connections closed, buffers released; then measure again.
    let after = processUsage(bridge.pid);
    for (let i = 0; i < 30 && after.fds > baselineUsage.fds + 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = processUsage(bridge.pid);
    }
    const health = await fetch(`${url}/health`).then((r) => r.status).catch(() => 0);
    return {
      baselineP95Ms: Math.round(percentile(baseline, 95) * 10) / 10,
      abuseP95Ms: Math.round(percentile(abused, 95) * 10) / 10,
      cpuBaseline: Math.round(cpuBaseline * 100) / 100,
      cpuAbuse: Math.round(cpuAbuse * 100) / 100,
      flood: report.flood,
      oversizedFrames: report.frames,
      oversizedBodies: report.bodies,
      halfOpen: report.halfOpen,
      limits: { maxConnectionsPerIp: limits.maxConnectionsPerIp, requestTimeoutMs: limits.requestTimeoutMs },
      usage: { baseline: baselineUsage, peak, after },
      normalClientErrors: visitors.flatMap((v) => v.permanentErrors),
      bridgeAlive: health === 200,
    };
  } finally {
    for (const v of visitors) v.close();
    await bridge.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
