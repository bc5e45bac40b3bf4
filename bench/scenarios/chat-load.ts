/**
 * The chat traffic shared by scenarios 2 and 3: P visitor↔agent conversations, messages offered at a constant
 * rate (alternating visitor→agent and agent→visitor per round), optional delivered + read receipts sent by the
 * receiver the moment a message arrives. Every message is tracked by its clientId: ack latency, peer latency,
 * status-push latency, and lost / duplicated deliveries are counted, never sampled.
 */
import type { Socket } from 'socket.io-client';
import { Histogram, type LatencySummary } from '../lib/histogram.ts';
import { openLoop, cpuShare } from '../lib/open-loop.ts';
import { emitAck, inWaves, openAgent, openVisitor, sleep, type Visitor } from '../lib/clients.ts';
import type { Target, TargetCpu } from '../lib/targets.ts';

/** Connected conversations ready for traffic. */
export interface Pairs {
  target: Target;
  visitors: Visitor[];
  agent: Socket;
  setupMs: number;
}

interface Ack {
  ok: boolean;
  data?: { seq: number; conversationId: string };
  error?: { code: string };
}

interface WireMessage {
  clientId: string;
  conversationId: string;
  seq: number;
  author: { role: string };
}

/** Connects `count` visitors and one agent socket; each visitor sends one warm-up message (creates its conversation). */
export async function connectPairs(target: Target, count: number): Promise<Pairs> {
  const started = performance.now();
  const agent = await openAgent(target.agentUrl, await target.agentToken());
  const visitors = await inWaves(count, 50, async (i) => {
    const visitor = await openVisitor(target.urlFor(i));
    const ack = await emitAck<Ack>(visitor.socket, 'message:send', { clientId: `warmup-${i}`, text: 'hello' });
    if (!ack.ok) throw new Error(`warm-up message refused: ${ack.error?.code}`);
    return visitor;
  });
  return { target, visitors, agent, setupMs: Math.round(performance.now() - started) };
}

/** Closes every socket of `pairs`. */
export function closePairs(pairs: Pairs): void {
  pairs.agent.close();
  for (const v of pairs.visitors) v.socket.close();
}

/** One load step's figures. */
export interface ChatLoadResult {
  offeredRate: number;
  durationMs: number;
  fired: number;
  acked: number;
  /** Acked messages per second, from the first send to the last ack. */
  achievedRate: number;
  ack: LatencySummary;
  peer: LatencySummary;
  /** Receipt emitted by the receiver → status pushed to the sender (scenario 3). */
  statusPush?: LatencySummary;
  /** Send → read tick back at the sender (scenario 3). */
  sendToRead?: LatencySummary;
  /** Never acked within the drain time. */
  unacked: number;
  /** Acked but never delivered to the peer. */
  lost: number;
  /** Delivered to the peer more than once. */
  duplicated: number;
  /** Acked, but the sender never got the read status (scenario 3). */
  statusMissing?: number;
  errors: Record<string, number>;
  generatorCpu: number;
  generatorLagP99: number;
  serverCpu: number;
  /**
   * Server CPU time per offered message (µs) — every bridge process plus the PostgreSQL server's: robust to a busy
   * machine, and 1e6 / it bounds msgs/s per core.
   */
  serverCpuPerMessageUs: number;
  /** The same per process: each bridge node, then PostgreSQL's backends, WAL writer and other processes (µs). */
  cpuPerMessageUs: { nodes: number[]; postgresBackends: number; postgresWalWriter: number; postgresOther: number };
  eventLoopP99: number;
  eventLoopMax: number;
  serverRssMb: number;
}

/** Offers `rate` msgs/s for `durationMs` over `pairs`, then waits (at least `drainMs`, then while progress continues, ≤ 60 s more) for every ack and delivery. */
export async function runChatLoad(
  pairs: Pairs,
  opts: { rate: number; durationMs: number; receipts: boolean; drainMs: number; tag: string },
): Promise<ChatLoadResult> {
  const { visitors, agent, target } = pairs;
  const P = visitors.length;
  const planned = Math.round((opts.rate * opts.durationMs) / 1000);
  const sentAt = new Float64Array(planned);
  const receiptAt = new Float64Array(planned);
  const ackState = new Uint8Array(planned); // 0 pending, 1 ok, 2 error
  const peerCount = new Uint8Array(planned);
  const statusBits = new Uint8Array(planned); // 1 delivered, 2 read
  const bySeq = new Map<string, number>();
  const ackH = new Histogram();
  const peerH = new Histogram();
  const statusH = new Histogram();
  const readH = new Histogram();
  const errors: Record<string, number> = {};
  let acked = 0;
  let ackErrors = 0;
  let peerFirst = 0;
  let readDone = 0;
  let lastAckAt = 0;
  const prefix = `${opts.tag}-`;
  const fromVisitor = (i: number) => Math.floor(i / P) % 2 === 0;
  const indexOf = (clientId: string): number => {
    if (!clientId.startsWith(prefix)) return -1;
    const i = Number(clientId.slice(prefix.length));
    return Number.isInteger(i) && i >= 0 && i < planned ? i : -1;
  };

  const onPeer = (expectRole: string, receipt: (m: WireMessage) => void) => (m: WireMessage) => {
    if (m.author.role !== expectRole) return;
    const i = indexOf(m.clientId);
    if (i < 0) return;
    peerCount[i]! += 1;
    if (peerCount[i] !== 1) return;
    const now = performance.now();
    peerFirst++;
    peerH.record(now - sentAt[i]!);
    if (opts.receipts) {
      receiptAt[i] = now;
      receipt(m);
    }
  };
  // A status can overtake its message's ack on a busy cluster (the sender's node still behind while the reader's node
  // stored the receipt, both pushed on the sender's socket in that order); the widget and console merge either order,
  // so such a status is kept here until the ack names its message, then counted as it arrived.
  const beforeAck = new Map<string, { senderIsVisitor: boolean; status: string; at: number }[]>();
  const recordStatus = (i: number, senderIsVisitor: boolean, status: string, now: number) => {
    if (fromVisitor(i) !== senderIsVisitor) return;
    const bit = status === 'read' ? 3 : status === 'delivered' ? 1 : 0;
    const fresh = bit & ~statusBits[i]!;
    if (!fresh) return;
    statusH.record(now - receiptAt[i]!);
    if (fresh & 2) {
      readH.record(now - sentAt[i]!);
      readDone++;
    }
    statusBits[i]! |= bit;
  };
  const onStatus = (senderIsVisitor: boolean) => (c: { conversationId: string; seq: number; status: string }) => {
    const key = `${c.conversationId}:${c.seq}`;
    const i = bySeq.get(key);
    if (i !== undefined) return recordStatus(i, senderIsVisitor, c.status, performance.now());
    const early = beforeAck.get(key) ?? [];
    early.push({ senderIsVisitor, status: c.status, at: performance.now() });
    beforeAck.set(key, early);
  };

  const detach: (() => void)[] = [];
  const on = <A>(socket: Socket, event: string, fn: (arg: A) => void) => {
    socket.on(event, fn);
    detach.push(() => socket.off(event, fn));
  };
  on(
    agent,
    'message:new',
    onPeer('visitor', (m) => {
      agent.emit('receipt', { conversationId: m.conversationId, upToSeq: m.seq, status: 'delivered' });
      agent.emit('receipt', { conversationId: m.conversationId, upToSeq: m.seq, status: 'read' });
    }),
  );
  on(agent, 'message:status', onStatus(false));
  on(agent, 'chat:error', (e: { code: string }) => void (errors[`chat:${e.code}`] = (errors[`chat:${e.code}`] ?? 0) + 1));
  for (const v of visitors) {
    on(
      v.socket,
      'message:new',
      onPeer('agent', (m) => {
        v.socket.emit('receipt', { upToSeq: m.seq, status: 'delivered' });
        v.socket.emit('receipt', { upToSeq: m.seq, status: 'read' });
      }),
    );
    on(v.socket, 'message:status', onStatus(true));
    on(v.socket, 'chat:error', (e: { code: string }) => void (errors[`chat:${e.code}`] = (errors[`chat:${e.code}`] ?? 0) + 1));
  }

  await target.stats({ reset: true });
  const cpu0 = await target.cpu();
  const gen0 = process.cpuUsage();
  const text = 'Hi! A short chat message from the bench.';
  const loop = await openLoop(opts.rate, opts.durationMs, (i) => {
    const p = i % P;
    const visitor = visitors[p]!;
    const clientId = prefix + i;
    sentAt[i] = performance.now();
    const onAck = (res: Ack) => {
      const now = performance.now();
      if (res.ok && res.data) {
        ackState[i] = 1;
        acked++;
        lastAckAt = now;
        ackH.record(now - sentAt[i]!);
        if (opts.receipts) {
          const key = `${res.data.conversationId}:${res.data.seq}`;
          bySeq.set(key, i);
          for (const early of beforeAck.get(key) ?? []) recordStatus(i, early.senderIsVisitor, early.status, early.at);
          beforeAck.delete(key);
        }
      } else {
        ackState[i] = 2;
        ackErrors++;
        const code = res.error?.code ?? 'unknown';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    };
    if (fromVisitor(i)) visitor.socket.emit('message:send', { clientId, text }, onAck);
    else agent.emit('message:send', { conversationId: visitor.conversationId, clientId, text }, onAck);
  });
  // Drain: wait for every ack, delivery and status. Past `drainMs`, keep waiting only while they still arrive (an
  // overloaded server is late, not lossy), up to a hard bound; what is missing then is counted as lost.
  const drainEnd = performance.now() + opts.drainMs;
  const hardEnd = drainEnd + 60_000;
  let progress = -1;
  let progressAt = performance.now();
  for (;;) {
    const settled = acked + ackErrors === loop.fired && peerFirst >= acked && (!opts.receipts || readDone >= acked);
    const now = performance.now();
    if (settled || now > hardEnd) break;
    const seen = acked + ackErrors + peerFirst + readDone;
    if (seen !== progress) {
      progress = seen;
      progressAt = now;
    }
    if (now > drainEnd && now - progressAt > 10_000) break;
    await sleep(20);
  }
  const wallMs = performance.now() - loop.startedAt;
  const generatorCpu = cpuShare(gen0, wallMs);
  const cpu1 = await target.cpu();
  const serverCpuSeconds = cpu1.total - cpu0.total;
  const serverCpu = Math.round((serverCpuSeconds / (wallMs / 1000)) * 1000) / 1000;
  const stats = await target.stats();
  for (const d of detach) d();

  let lost = 0;
  let duplicated = 0;
  let statusMissing = 0;
  for (let i = 0; i < loop.fired; i++) {
    if (peerCount[i]! > 1) duplicated++;
    if (ackState[i] === 1 && peerCount[i] === 0) lost++;
    if (ackState[i] === 1 && !(statusBits[i]! & 2)) statusMissing++;
  }
  const result: ChatLoadResult = {
    offeredRate: opts.rate,
    durationMs: opts.durationMs,
    fired: loop.fired,
    acked,
    achievedRate: acked ? Math.round(acked / ((lastAckAt - loop.startedAt) / 1000)) : 0,
    ack: ackH.summary(),
    peer: peerH.summary(),
    unacked: loop.fired - acked - ackErrors,
    lost,
    duplicated,
    errors,
    generatorCpu,
    generatorLagP99: Math.round(loop.lag.percentile(0.99) * 1000) / 1000,
    serverCpu,
    serverCpuPerMessageUs: Math.round((serverCpuSeconds * 1e6) / Math.max(1, loop.fired)),
    cpuPerMessageUs: perItemUs(cpu0, cpu1, loop.fired),
    eventLoopP99: stats.eventLoop.p99,
    eventLoopMax: stats.eventLoop.max,
    serverRssMb: Math.round(stats.rss / 1048576),
  };
  if (opts.receipts) {
    result.statusPush = statusH.summary();
    result.sendToRead = readH.summary();
    result.statusMissing = statusMissing;
  }
  return result;
}

/** CPU µs per item between two readings, per process kind. */
export function perItemUs(before: TargetCpu, after: TargetCpu, items: number): ChatLoadResult['cpuPerMessageUs'] {
  const us = (seconds: number): number => Math.round((seconds * 1e6) / Math.max(1, items));
  return {
    nodes: after.nodes.map((n, i) => us(n - (before.nodes[i] ?? 0))),
    postgresBackends: us(after.postgres.backends - before.postgres.backends),
    postgresWalWriter: us(after.postgres.walWriter - before.postgres.walWriter),
    postgresOther: us(after.postgres.other - before.postgres.other),
  };
}
