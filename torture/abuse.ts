/**
 * Case 8: abuse against a child bridge (so its memory and file descriptors are its own). Normal visitors send
 * steadily while one client floods `message:send` at ~1,000/s, others send oversized frames and bodies, and
 * thousands of half-open connections from one other address try to sit on the port (the per-IP cap refuses all but
 * 256; the header/request timeout closes those). The abuse comes from a separate process in rounds: each round has
 * a quiet window and an abuse window (order alternating), so the normal clients' p95 ack latency under abuse is
 * compared with a baseline taken seconds apart, not minutes apart on a machine whose load drifts. Figures: how the
 * abuse was refused, the per-round p95 ratio and its median, and RSS / fd counts before, during and after.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, type Socket as NetSocket } from 'node:net';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { spawnBridge, type BridgeChild } from './bridge-process.ts';
import { percentile, TortureVisitor } from './visitor-client.ts';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';

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
    let target: string;
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

/** p95 baselines below this count as this much: sub-2 ms latencies on a shared box jitter by more than 2× on their own. */
export const P95_FLOOR_MS = 2;

/** One round's windows: the normal clients' p95 ack latency without and with abuse. */
export interface AbuseRound {
  baselineP95Ms: number;
  abuseP95Ms: number;
  /** abuseP95Ms / max(baselineP95Ms, P95_FLOOR_MS). */
  ratio: number;
  baselineSamples: number;
  abuseSamples: number;
}

/** Figures of an abuse run. */
export interface AbuseFigures {
  /** p95 over all baseline / all abuse windows together. */
  baselineP95Ms: number;
  abuseP95Ms: number;
  rounds: AbuseRound[];
  /** Median of the rounds' ratios: the figure the 2× criterion is judged on. */
  medianRatio: number;
  /** Bridge CPU use (share of one core) in the baseline and the abuse windows. */
  cpuBaseline: number;
  cpuAbuse: number;
  /** The generator's CPU use (share of one core) in the abuse windows: on a shared box it competes with the bridge. */
  cpuGenerator: number;
  flood: { sent: number; ok: number; rateLimited: number; otherErrors: number; unanswered: number; ratePerSecond: number };
  oversizedFrames: { sent: number; disconnected: number };
  oversizedBodies: { sent: number; status413: number; other: string[] };
  /**
   * Half-open connections from one address: refused at once beyond the per-IP cap, answered 408 and closed by the
   * header/request timeout (the slowest after `slowestCloseMs`), otherwise answered, or still open at the end.
   * `openingMs` is how long opening them all took, `spanMs` the time from the first open to the last 408.
   * `atCap`: the bridge's fds counted while it was stopped right after its first refusal (see AtCap).
   */
  halfOpen: AbuseReport['halfOpen'];
  /** The bridge's per-IP connection cap and timeouts in this run. */
  limits: { maxConnectionsPerIp: number; headersTimeoutMs: number; requestTimeoutMs: number };
  usage: { baseline: ProcessUsage; peak: ProcessUsage; after: ProcessUsage };
  normalClientErrors: string[];
  /** Normal visitors' messages still unacknowledged after the run (each outbox drained for up to WAIT_DEADLINE_MS): must be 0. */
  normalUndelivered: number;
  /** Normal visitors' messages acknowledged in the run. */
  normalAcked: number;
  /** Anything the generator could not do (a connect or an answer that did not come in time): must be empty. */
  generatorProblems: string[];
  /** Whether the bridge and the measuring thread ran at nice −10 (see runAbuse). */
  priorityRaised: boolean;
  bridgeAlive: boolean;
}

/** Options of `runAbuse`. */
export interface AbuseOptions {
  /** Length of each measured window (one baseline and one abuse window per round). */
  windowMs: number;
  /** Rounds (default 5). */
  rounds?: number;
  normalClients?: number;
  /** Every normal client queues one message per this many ms (default 150). */
  sendEveryMs?: number;
  halfOpen?: number;
  floodPerSecond?: number;
  /** Which abuses to run (default all). */
  parts?: AbusePart[];
  /**
   * Run the bridge and the measuring thread at nice −10 (default true): for the latency figures. `npm test` measures
   * none and leaves the machine's other work its share.
   */
  raisePriority?: boolean;
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

/** The median of `values` (0 when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The fewest half-open sockets the per-IP cap must have refused. A slot's holders follow one another, each held
 * until the bridge timed it out (≥ the header timeout), so within `spanMs` (first open to last 408) a slot served
 * at most max(1, ⌊spanMs / headersTimeoutMs⌋) of them. (On a starved machine the bridge accepts late and the span
 * stretches; the bound loosens with it, while the fd peak still shows the cap held at any one time.)
 */
export function minimumRefused(opened: number, cap: number, spanMs: number, headersTimeoutMs: number): number {
  return Math.max(0, opened - cap * Math.max(1, Math.floor(spanMs / headersTimeoutMs)));
}

/**
 * The bridge at its per-IP cap: a refusal at accept means it held exactly the cap from that address then. At the
 * first refusal the generator sees, it stops the bridge (SIGSTOP), takes in every close the bridge made before
 * stopping, counts the bridge's open fds and lets it go on (SIGCONT). So `fds` includes at least the cap minus
 * `releasedBefore` (held sockets the bridge had closed by then), whatever the machine's load.
 */
export interface AtCap {
  fds: number;
  releasedBefore: number;
}

/** What the abuse generator reports. */
export interface AbuseReport {
  flood: AbuseFigures['flood'];
  frames: AbuseFigures['oversizedFrames'];
  bodies: AbuseFigures['oversizedBodies'];
  halfOpen: { opened: number; refused: number; timedOut: number; other: number; stillOpen: number; slowestCloseMs: number; openingMs: number; spanMs: number; atCap?: AtCap };
  problems: string[];
}

/** Options of the abuse generator. */
export interface GeneratorOptions {
  url: string;
  port: number;
  floodPerSecond: number;
  halfOpen: number;
  requestTimeoutMs: number;
  /** The bridge's pid: the half-open abuse counts its fds at the cap (AtCap); without it there is no such count. */
  bridgePid?: number;
  /** The frames and bodies are spread over this many abuse windows. */
  rounds: number;
  /** Which abuses to run (default all): one at a time shows what costs the normal clients what. */
  parts?: AbusePart[];
}

/** The kinds of abuse. */
export type AbusePart = 'flood' | 'frames' | 'bodies' | 'half-open';

const FRAMES = 5;
const BODIES = [
  ['/api/auth/login', 1024 * 1024],
  ['/api/conversations/x/messages', 1024 * 1024],
  ['/api/auth/login', 20 * 1024 * 1024],
  ['/webhooks/whatsapp', 5 * 1024 * 1024],
] as const;
/** Longest wait for one step of the generator child (start, a window's abuse under way, its answers settled, the report). */
const GENERATOR_STEP_DEADLINE_MS = 180_000;
/** Longest wait for anything the generator expects from the bridge; beyond it the generator reports a problem instead of waiting. */
const ANSWER_TIMEOUT_MS = WAIT_DEADLINE_MS;

/**
 * The abuse itself (run by torture/abuse-generator.ts in its own process), switched on and off by window: a
 * flood, 1 MB frames, oversized bodies, and (in the first window) half-open sockets. Every wait has a deadline;
 * what did not happen in time is a `problem`, never a hang.
 */
export class AbuseGenerator {
  private readonly flood = { sent: 0, ok: 0, rateLimited: 0, otherErrors: 0, unanswered: 0, ratePerSecond: 0 };
  private readonly frames = { sent: 0, disconnected: 0 };
  private readonly bodies = { sent: 0, status413: 0, other: [] as string[] };
  private readonly problems: string[] = [];
  private readonly held = { refused: 0, timedOut: 0, other: 0, slowestCloseMs: 0, openingMs: 0, spanMs: 0 };
  private readonly halfOpen: NetSocket[] = [];
  private flooder: Socket | undefined;
  private floodTimer: NodeJS.Timeout | undefined;
  private floodOnMs = 0;
  private floodSince = 0;
  private readonly floodAcks = new Set<Promise<void>>();
  private round = 0;
  private tasks: Promise<void>[] = [];
  private atCap: Promise<AtCap> | undefined;
  private atCapCounted: AtCap | undefined;

  constructor(
    private readonly options: GeneratorOptions,
    /** Progress lines (stderr): what the generator was doing when something went wrong. */
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /**
   * Connects a visitor socket and resolves once it has its session, trying again after a connect error as the widget
   * does: while the bridge works through the half-open sockets on a busy machine, a handshake whose headers it reads
   * late is answered 408 by the (shortened) header timeout. Rejects after ANSWER_TIMEOUT_MS, with the last error.
   */
  private async connectVisitor(): Promise<Socket> {
    const url = this.options.url;
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    let last = 'none';
    while (Date.now() < deadline) {
      const s: Socket = io(`${url}/visitor`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: deadline - Date.now(), extraHeaders: { origin: url } });
      const outcome = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve('no answer'), Math.max(0, deadline - Date.now()));
        s.once('connect_error', (error) => {
          clearTimeout(timer);
          resolve(`connect error: ${error.message}`);
        });
        s.once('session', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      if (outcome === undefined) return s;
      s.close();
      last = outcome;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`waited ${ANSWER_TIMEOUT_MS} ms for a visitor session (last attempt: ${last})`);
  }

  /** Connects the flooder. */
  async start(): Promise<void> {
    this.flooder = await this.connectVisitor();
    this.log('flooder connected');
  }

  /** Starts an abuse window: flood on, this window's frames and bodies under way, half-open sockets opened in the first. */
  async abuse(): Promise<void> {
    const r = this.round++;
    const on = (part: AbusePart) => !this.options.parts || this.options.parts.includes(part);
    // The half-open sockets first: opened while this process also floods, a starved generator took over a minute.
    if (r === 0 && on('half-open')) await this.openHalfOpen();
    this.floodSince = Date.now();
    // Catch up on every tick: timers run late on a busy machine, the rate must not drop with them.
    if (on('flood')) this.floodTimer = setInterval(() => this.floodTick(), 10);
    for (let i = r; i < FRAMES && on('frames'); i += this.options.rounds) this.tasks.push(this.frame(i));
    for (let i = r; i < BODIES.length && on('bodies'); i += this.options.rounds) this.tasks.push(this.body(BODIES[i]![0], BODIES[i]![1]));
    this.log(`window ${r}: abusing`);
  }

  /** Ends an abuse window; resolves once the bridge has answered or dropped everything sent in it. */
  async quiet(): Promise<void> {
    clearInterval(this.floodTimer);
    this.floodTimer = undefined;
    this.floodOnMs += Date.now() - this.floodSince;
    this.log(`window ${this.round - 1}: flood off after ${this.flood.sent} sends, waiting for ${this.floodAcks.size} acks and ${this.tasks.length} tasks`);
    await Promise.all([...this.floodAcks, ...this.tasks.splice(0)]);
    if (this.round === 1) await this.halfOpenSettled();
    this.log(`window ${this.round - 1}: quiet`);
  }

  /** Closes the flooder and reports. */
  finish(): AbuseReport {
    this.flooder?.close();
    for (const s of this.halfOpen) s.destroy();
    const stillOpen = this.halfOpen.filter((s) => !s.closed).length;
    this.flood.ratePerSecond = this.floodOnMs > 0 ? Math.round(this.flood.sent / (this.floodOnMs / 1000)) : 0;
    return {
      flood: this.flood,
      frames: this.frames,
      bodies: this.bodies,
      halfOpen: { opened: this.halfOpen.length, stillOpen: this.stillOpenAtSettle ?? stillOpen, ...this.held, ...(this.atCapCounted ? { atCap: this.atCapCounted } : {}) },
      problems: this.problems,
    };
  }

  private stillOpenAtSettle: number | undefined;

  private floodTick(): void {
    const flooder = this.flooder;
    if (!flooder) return;
    const due = Math.floor(((this.floodOnMs + Date.now() - this.floodSince) / 1000) * this.options.floodPerSecond) - this.flood.sent;
    for (let i = 0; i < due; i++) {
      this.flood.sent++;
      const ack: Promise<void> = flooder
        .timeout(10_000)
        .emitWithAck('message:send', { clientId: `flood-${this.flood.sent}`, text: 'flood' })
        .then((res: { ok: boolean; error?: { code: string; retryAfterMs?: number } }) => {
          if (res.ok) this.flood.ok++;
          else if (res.error?.code === 'rate_limited' && (res.error.retryAfterMs ?? 0) > 0) this.flood.rateLimited++;
          else this.flood.otherErrors++;
        })
        .catch(() => {
          this.flood.unanswered++;
        })
        .finally(() => this.floodAcks.delete(ack));
      this.floodAcks.add(ack);
    }
  }

  /** An oversized socket frame: it must cost the sender its connection. */
  private async frame(i: number): Promise<void> {
    let s: Socket;
    try {
      s = await this.connectVisitor();
    } catch (error) {
      this.problems.push(`frame ${i}: ${(error as Error).message}`);
      return;
    }
    const gone = new Promise<boolean>((resolve) => {
      s.once('disconnect', () => resolve(true));
      setTimeout(() => resolve(false), ANSWER_TIMEOUT_MS);
    });
    this.frames.sent++;
    s.emit('message:send', { clientId: `big-${i}`, text: 'x'.repeat(1024 * 1024) });
    if (await gone) this.frames.disconnected++;
    s.close();
    this.log(`frame ${i} done`);
  }

  /** An oversized HTTP body → 413 (or the upload cut off) without the bridge buffering it all. */
  private async body(path: string, size: number): Promise<void> {
    this.bodies.sent++;
    try {
      const res = await fetch(this.options.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
        body: `{"text":"${'y'.repeat(size)}"}`,
        signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      // A 408 is a refusal too: with the bridge busy under the flood, the (shortened) request timeout can close the
      // request before the route's 413 is written; either way the body was never read in full.
      if (res.status === 413 || res.status === 408 || (path.startsWith('/api/conversations') && res.status === 401)) this.bodies.status413++;
      else this.bodies.other.push(`${path} ${size} → ${res.status}`);
    } catch (error) {
      // The bridge may cut the upload short once it has refused it; that is a refusal too.
      const cause = String((error as Error & { cause?: unknown }).cause ?? error);
      if (/ECONNRESET|EPIPE|other side closed|SocketError/.test(cause)) this.bodies.status413++;
      else this.bodies.other.push(`${path} ${size}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${ANSWER_TIMEOUT_MS} ms` : cause}`);
    }
    this.log(`body ${path} ${size} done`);
  }

  /**
   * Half-open connections: a request line and a header (or headers and a partial body), then silence. They come
   * from 127.0.0.2, a client address of their own, so the per-IP cap refuses them and not the normal visitors.
   */
  private async openHalfOpen(): Promise<void> {
    const started = Date.now();
    for (let i = 0; i < this.options.halfOpen; i++) {
      const s = connect({ port: this.options.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      const openedAt = Date.now();
      let answer = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      s.on('close', () => {
        // Closed with nothing said: refused at accept. A 408: held until the header or request timeout.
        if (answer === '') {
          this.held.refused++;
          if (this.options.bridgePid !== undefined) this.atCap ??= this.countAtCap(this.options.bridgePid);
        } else if (answer.startsWith('HTTP/1.1 408')) {
          this.held.timedOut++;
          this.held.slowestCloseMs = Math.max(this.held.slowestCloseMs, Date.now() - openedAt);
          this.held.spanMs = Date.now() - started;
        } else this.held.other++;
      });
      s.write(i % 2 === 0 ? 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n' : 'POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na');
      this.halfOpen.push(s);
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
    }
    this.held.openingMs = Date.now() - started;
    this.log(`${this.options.halfOpen} half-open sockets opened in ${this.held.openingMs} ms`);
    if (this.options.bridgePid === undefined) return;
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (!this.atCap && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!this.atCap) {
      this.problems.push(`waited ${ANSWER_TIMEOUT_MS} ms for the bridge to refuse one of ${this.options.halfOpen} half-open sockets (per-IP cap never reached)`);
      return;
    }
    try {
      this.atCapCounted = await this.atCap;
      this.log(`at the cap: bridge fds ${this.atCapCounted.fds}, held sockets released before ${this.atCapCounted.releasedBefore}`);
    } catch (error) {
      this.problems.push(`counting the bridge's fds at the cap: ${(error as Error).message}`);
    }
  }

  /** AtCap: stops the bridge, takes in the closes it made before, counts its fds, lets it go on. */
  private async countAtCap(pid: number): Promise<AtCap> {
    process.kill(pid, 'SIGSTOP');
    try {
      const deadline = Date.now() + ANSWER_TIMEOUT_MS;
      // /proc/<pid>/stat field 3 is T once the stop has taken effect.
      while (!/^T/i.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '')) {
        if (Date.now() > deadline) throw new Error(`waited ${ANSWER_TIMEOUT_MS} ms for pid ${pid} to stop`);
        await new Promise((r) => setImmediate(r));
      }
      // Closes the bridge made before it stopped are already in this process's socket buffers; a few turns of the
      // event loop with no new close take them all in (nothing new can come while the bridge is stopped).
      const closes = () => this.held.refused + this.held.timedOut + this.held.other;
      for (let unchanged = 0, last = closes(); unchanged < 5; ) {
        await new Promise((r) => setImmediate(r));
        const now = closes();
        unchanged = now === last ? unchanged + 1 : 0;
        last = now;
      }
      return { fds: readdirSync(`/proc/${pid}/fd`).length, releasedBefore: this.held.timedOut + this.held.other };
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  /** Waits until the bridge has closed every half-open socket (its request timeout plus slack for a loaded machine). */
  private async halfOpenSettled(): Promise<void> {
    const deadline = Date.now() + this.options.requestTimeoutMs + ANSWER_TIMEOUT_MS;
    while (this.halfOpen.some((s) => !s.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    this.stillOpenAtSettle = this.halfOpen.filter((s) => !s.closed).length;
    this.log(`half-open settled: ${this.held.refused} refused, ${this.held.timedOut} timed out, ${this.stillOpenAtSettle} still open`);
  }
}

/** The generator child seen from the parent: commands in, JSON events out, stderr kept for error messages. */
class GeneratorChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffered = '';
  private readonly events: { event: string; report?: AbuseReport }[] = [];
  private stderr = '';
  private exited = false;

  constructor(options: GeneratorOptions) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'abuse-generator.ts')], { cwd: join(import.meta.dirname, '..'), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buffered += d.toString('utf8');
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop()!;
      for (const line of lines) if (line.trim()) this.events.push(JSON.parse(line) as { event: string; report?: AbuseReport });
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString('utf8')).slice(-4000)));
    this.child.once('exit', () => (this.exited = true));
    this.child.stdin.on('error', () => undefined);
    this.child.stdin.write(`${JSON.stringify(options)}\n`);
  }

  send(command: 'abuse' | 'quiet' | 'end'): void {
    this.child.stdin.write(`${command}\n`);
  }

  /** The next event named `name`; throws with the generator's stderr if it exits or `timeoutMs` passes first. */
  async next(name: string, timeoutMs: number): Promise<{ event: string; report?: AbuseReport }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.event === name);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (this.exited || Date.now() > deadline) {
        throw new Error(`abuse generator: no '${name}' ${this.exited ? 'before it exited' : `within ${timeoutMs} ms`}; its log:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** CPU seconds the generator has used so far. */
  cpuSeconds(): number {
    return this.exited || this.child.pid === undefined ? 0 : processCpuSeconds(this.child.pid);
  }
}

/** Runs the abuse case against a fresh child bridge with production-like limits. */
export async function runAbuse(options: AbuseOptions): Promise<AbuseFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-abuse-'));
  const rounds = options.rounds ?? 5;
  const everyMs = options.sendEveryMs ?? 150;
  // The production per-IP cap; header/request timeouts shortened so the held half-open sockets are closed within
  // the run (production: 10 s / 30 s, the same mechanism).
  const limits = { maxConnectionsPerIp: 256, headersTimeoutMs: 2000, requestTimeoutMs: 4000 };
  // Production-shaped limits, loose enough for the normal clients' ~7 msgs/s each.
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
  // The measured side (the bridge, and this thread, whose event loop times the normal clients' acks) runs at a raised
  // priority where the OS allows it; the generator does not. On a shared 2-core box a dozen unrelated processes
  // otherwise decide the latencies: measured at load 17, a bridge at 8 % of a core waited 3–4× longer for the CPU
  // while flooded than while quiet, whatever the bridge did. The figure is meant to judge the bridge's handling of abuse.
  const ownPriority = getPriority(0);
  const priorityRaised = (options.raisePriority ?? true) && raisePriority(bridge.pid) && raisePriority(0);
  const normalCount = options.normalClients ?? 12;
  const visitors = Array.from({ length: normalCount }, (_, i) => new TortureVisitor({ url, name: `n${i}`, ackTimeoutMs: 5000 }));
  // From a separate process, so its own event loop does not slow the normal clients' measurement.
  const generator = new GeneratorChild({ url, port: bridge.port, bridgePid: bridge.pid, floodPerSecond: options.floodPerSecond ?? 1000, halfOpen: options.halfOpen ?? 2000, requestTimeoutMs: limits.requestTimeoutMs, rounds, ...(options.parts ? { parts: options.parts } : {}) });
  let samplePeak: NodeJS.Timeout | undefined;
  try {
    await Promise.all(visitors.map((v) => v.ready()));
    for (const v of visitors) v.pump();
    await generator.next('ready', GENERATOR_STEP_DEADLINE_MS);
    // Warm-up (JIT, first segment files), then the rounds.
    await phase(visitors, 1000, everyMs);
    const baselineUsage = processUsage(bridge.pid);
    let peak = baselineUsage;
    samplePeak = setInterval(() => {
      try {
        const u = processUsage(bridge.pid);
        peak = { rssMb: Math.max(peak.rssMb, u.rssMb), fds: Math.max(peak.fds, u.fds) };
      } catch {
        // the process is gone: reported as bridgeAlive=false below
      }
    }, 100);
    const all = { baseline: [] as number[], abuse: [] as number[] };
    const cpu = { baseline: 0, abuse: 0 };
    let cpuGenerator = 0;
    const wall = { baseline: 0, abuse: 0 };
    const roundFigures: AbuseRound[] = [];
    for (let r = 0; r < rounds; r++) {
      const p95 = { baseline: 0, abuse: 0 };
      const samples = { baseline: 0, abuse: 0 };
      // Alternate the order (B A, A B, …) so a load trend on the machine does not favour either window.
      for (const kind of r % 2 === 0 ? (['baseline', 'abuse'] as const) : (['abuse', 'baseline'] as const)) {
        if (kind === 'abuse') {
          generator.send('abuse');
          await generator.next('abusing', GENERATOR_STEP_DEADLINE_MS);
        }
        const cpu0 = processCpuSeconds(bridge.pid);
        const gen0 = generator.cpuSeconds();
        const t0 = Date.now();
        const latencies = await phase(visitors, options.windowMs, everyMs);
        cpu[kind] += processCpuSeconds(bridge.pid) - cpu0;
        if (kind === 'abuse') cpuGenerator += generator.cpuSeconds() - gen0;
        wall[kind] += (Date.now() - t0) / 1000;
        if (kind === 'abuse') {
          generator.send('quiet');
          await generator.next('quiet', GENERATOR_STEP_DEADLINE_MS);
        }
        all[kind].push(...latencies);
        p95[kind] = percentile(latencies, 95);
        samples[kind] = latencies.length;
      }
      roundFigures.push({
        baselineP95Ms: round1(p95.baseline),
        abuseP95Ms: round1(p95.abuse),
        ratio: Math.round((p95.abuse / Math.max(p95.baseline, P95_FLOOR_MS)) * 100) / 100,
        baselineSamples: samples.baseline,
        abuseSamples: samples.abuse,
      });
    }
    generator.send('end');
    const report = (await generator.next('report', GENERATOR_STEP_DEADLINE_MS)).report!;
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(samplePeak);

    // Nobody else's message lost: every normal visitor's outbox empties (acked), however slowly a loaded machine goes.
    await Promise.all(visitors.map((v) => v.drained(WAIT_DEADLINE_MS)));
    const normalUndelivered = visitors.reduce((n, v) => n + v.outbox.length, 0);
    const normalAcked = visitors.reduce((n, v) => n + v.acked.size, 0);
    // Settle: connections closed, buffers released; then measure again (waiting for the state, up to WAIT_DEADLINE_MS).
    let after = processUsage(bridge.pid);
    for (const deadline = Date.now() + WAIT_DEADLINE_MS; after.fds > baselineUsage.fds + 2 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 200));
      after = processUsage(bridge.pid);
    }
    const health = await fetch(`${url}/health`).then((r) => r.status).catch(() => 0);
    return {
      baselineP95Ms: round1(percentile(all.baseline, 95)),
      abuseP95Ms: round1(percentile(all.abuse, 95)),
      rounds: roundFigures,
      medianRatio: median(roundFigures.map((r) => r.ratio)),
      cpuBaseline: Math.round((cpu.baseline / wall.baseline) * 100) / 100,
      cpuAbuse: Math.round((cpu.abuse / wall.abuse) * 100) / 100,
      cpuGenerator: Math.round((cpuGenerator / wall.abuse) * 100) / 100,
      flood: report.flood,
      oversizedFrames: report.frames,
      oversizedBodies: report.bodies,
      halfOpen: report.halfOpen,
      limits,
      usage: { baseline: baselineUsage, peak, after },
      normalClientErrors: visitors.flatMap((v) => v.permanentErrors),
      normalUndelivered,
      normalAcked,
      generatorProblems: report.problems,
      priorityRaised,
      bridgeAlive: health === 200,
    };
  } finally {
    if (priorityRaised) setPriority(0, ownPriority);
    clearInterval(samplePeak);
    generator.kill();
    for (const v of visitors) v.close();
    await bridge.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Nice −10 for `pid` (0: the calling thread); false where the OS refuses (no CAP_SYS_NICE). */
function raisePriority(pid: number): boolean {
  try {
    setPriority(pid, -10);
    return true;
  } catch {
    return false;
  }
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
