/**
 * Case 11: soak. A child bridge under steady load (visitors sending, an agent answering, receipts) with random
 * reconnects; RSS and open fds sampled every second, V8 heap used after a full GC in the bridge measured after
 * warm-up, at the end of the load and after rounds of idle reconnects. The heap figures are the leak check (RSS is
 * reported, not judged: the allocator keeping freed pages, code compiled late and a busy machine's lagging
 * collector move it by several percent with nothing retained); fds stay flat, nothing is lost or duplicated and the
 * bridge logs no unhandled rejection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { io, type Socket } from 'socket.io-client';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import { fdKinds, processUsage, type ProcessUsage } from './abuse.ts';
import { retainedMemory, spawnBridge, type RetainedMemory } from './bridge-process.ts';
import { waitUntil } from '../bridge/testing/wait-until.ts';
import { percentile, TortureVisitor } from './visitor-client.ts';

/**
 * Heap a message may leave behind: the default store keeps every message in memory (with the agent's reply to
 * every fifth). Keeping anything more per message (its packet, an ack closure, a timer) shows as a multiple of what
 * a message needs (docs/performance.md, "Figures behind code").
 */
export const MAX_HEAP_BYTES_PER_MESSAGE = 4096;

/**
 * Heap a reconnect with nothing sent may leave behind: none is needed (under zero when the end of the load still
 * had work in flight). A visitor socket kept after its disconnect (with its handshake, listeners and rooms) retains
 * several times this bound, so a leaked socket fails the check, while a full GC leaves less than it to chance.
 */
export const MAX_HEAP_BYTES_PER_RECONNECT = 2048;

/** Rounds of idle reconnects (every visitor) after the load. */
const IDLE_ROUNDS = 5;

/** The bridge measured at warm-up and at the end of the load. */
interface Measurement {
  /** Heap after a full GC. */
  heap: RetainedMemory;
  /** Messages acked and reconnects so far. */
  acked: number;
  reconnects: number;
  fdKinds: Record<string, number>;
  rssMb: number;
  fds: number;
  /** When (ms since the start of the run). */
  at: number;
}

/** Figures of a soak run. */
export interface SoakFigures {
  durationMs: number;
  messages: number;
  agentReplies: number;
  reconnects: number;
  rssWarmMb: number;
  rssEndMb: number;
  rssGrowthPct: number;
  /** V8 heap used after a full GC in the bridge, after warm-up and at the end (MB). */
  heapWarmMb: number;
  heapEndMb: number;
  /** Messages acked and reconnects between those two measurements. */
  messagesAfterWarm: number;
  reconnectsAfterWarm: number;
  /** Heap growth after warm-up divided by the messages of the same period (bytes; the store keeps every message). */
  heapBytesPerMessage: number;
  /** After the load: reconnects of every visitor with nothing sent, and the heap each left behind (bytes). */
  idleReconnects: number;
  /** The smaller of the two idle sets' heap growth per reconnect (`heapBytesPerIdleReconnectBySet`). */
  heapBytesPerIdleReconnect: number;
  heapBytesPerIdleReconnectBySet: number[];
  fdsWarm: number;
  fdsEnd: number;
  fdsMax: number;
  lost: number;
  duplicates: number;
  unhandledRejections: number;
  p95AckMs: number;
  /** Open fds by kind after warm-up and at the end (what grew, if anything). */
  fdKindsWarm: Record<string, number>;
  fdKindsEnd: Record<string, number>;
  problems: string[];
}

/**
 * How much a soak runs: for a fixed time (`npm run torture soak`: the long run, whatever the machine manages), or a
 * fixed amount of work (`npm test`: the same messages and reconnects on a fast or a loaded machine, so no count
 * depends on speed). Warm-up is the first 30 % of either.
 */
export type SoakSize = { durationMs: number; visitors?: number } | { messages: number; reconnects: number; visitors?: number };

/** Runs the soak for `durationMs` or for `messages` and `reconnects` (warm-up is the first 30 % of it). */
export async function runSoak(options: SoakSize): Promise<SoakFigures> {
  const started = Date.now();
  const problems: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-soak-'));
  const bridge = await spawnBridge({
    dataDir,
    memoryProbe: true,
    // Without source maps: the first stack trace the bridge formats would otherwise decode the bundle's whole map
    // and keep it (tens of MB of heap and RSS), a one-time step that lands before or after warm-up by chance.
    asStarted: true,
    env: { LOG_LEVEL: 'error', RATE_LIMIT_MESSAGES_PER_MINUTE: '100000', RATE_LIMIT_EVENTS_PER_MINUTE: '100000', RATE_LIMIT_CONNECTIONS_PER_MINUTE: '100000' },
  });
  const url = bridge.url;
  const count = options.visitors ?? 20;
  const visitors = Array.from({ length: count }, (_, i) => new TortureVisitor({ url, name: `s${i}`, ackTimeoutMs: 3000 }));
  const samples: { at: number; usage: ProcessUsage }[] = [];
  let reconnects = 0;
  let agentReplies = 0;
  let agentPending = 0;
  try {
    await Promise.all(visitors.map((v) => v.ready()));
    for (const v of visitors) v.pump();
    const login = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password: 'torture-admin-password' }),
    });
    const { token } = (await login.json()) as { token: string };
    const agent: Socket = io(`${url}/agent`, { transports: ['websocket'], forceNew: true, auth: { token } });
    agent.on('message:new', (m: { conversationId: string; seq: number; author: { role: string } }) => {
      if (m.author.role !== 'visitor' || m.seq % 5 !== 0) return;
      agentReplies++;
      agentPending += 2;
      const answered = () => void agentPending--;
      agent.emit('message:send', { conversationId: m.conversationId, clientId: `reply-${m.conversationId}-${m.seq}`, text: 'ok' }, answered);
      agent.emit('receipt', { conversationId: m.conversationId, upToSeq: m.seq, status: 'read' }, answered);
    });
    await waitUntil('the soak agent connected', () => agent.connected);
    const acked = () => visitors.reduce((n, v) => n + v.acked.size, 0);
    const sample = () => {
      try {
        const s = { at: Date.now() - started, usage: processUsage(bridge.pid) };
        samples.push(s);
        return s;
      } catch {
        problems.push('bridge process vanished');
        return undefined;
      }
    };
    /** Disconnects every visitor and reconnects it (with its session), `rounds` times, nothing sent meanwhile. */
    const reconnectAll = async (rounds: number) => {
      for (let round = 0; round < rounds; round++) {
        for (const v of visitors) v.socket.disconnect();
        await waitUntil('every soak visitor disconnected', () => visitors.every((v) => !v.socket.connected));
        for (const v of visitors) v.socket.connect();
        await waitUntil('every soak visitor reconnected with its session', () => visitors.every((v) => v.socket.connected));
      }
    };
    /** Reconnects one visitor (its sends in flight are cut off and retried after it is back). */
    const reconnect = (v: TortureVisitor, delayMs: number) => {
      reconnects++;
      v.socket.disconnect();
      setTimeout(() => v.socket.connect(), delayMs);
    };
    let warm: Measurement;
    let end: Measurement;
    if ('durationMs' in options) {
      ({ warm, end } = await timedLoad(options.durationMs));
    } else {
      ({ warm, end } = await workLoad(options.messages, options.reconnects));
    }

    /** Steady load for `durationMs`: every visitor queues 4 messages a second, a random one reconnects twice a second. */
    async function timedLoad(durationMs: number): Promise<{ warm: Measurement; end: Measurement }> {
      const sendTimer = setInterval(() => {
        for (const v of visitors) if (v.outbox.length < 50) v.queue();
      }, 250);
      const reconnectTimer = setInterval(() => reconnect(visitors[Math.floor(Math.random() * visitors.length)]!, 50 + Math.random() * 300), 500);
      let fdKindsWarm: Record<string, number> = {};
      // Measured from the start of the load: a first start that builds its bundle must not eat the warm-up.
      const loadStarted = Date.now();
      const warmAt = loadStarted + durationMs * 0.3;
      const sampleTimer = setInterval(() => {
        if (Object.keys(fdKindsWarm).length === 0 && Date.now() >= warmAt) fdKindsWarm = fdKinds(bridge.pid);
        sample();
      }, 1000);
      await new Promise((r) => setTimeout(r, Math.max(0, warmAt - Date.now())));
      const heapWarm = await retainedMemory(bridge);
      const ackedWarm = acked();
      const reconnectsWarm = reconnects;
      await new Promise((r) => setTimeout(r, Math.max(0, loadStarted + durationMs - Date.now())));
      clearInterval(sendTimer);
      clearInterval(reconnectTimer);
      for (const v of visitors) if (!v.socket.connected) v.socket.connect();
      const drained = await Promise.all(visitors.map((v) => v.drained(20_000)));
      if (drained.some((d) => !d)) problems.push('some outboxes did not drain');
      clearInterval(sampleTimer);
      // Settled state: every visitor connected again, nothing in flight.
      await new Promise((r) => setTimeout(r, 1000));
      sample();
      const fdKindsEnd = fdKinds(bridge.pid);
      const heapEnd = await retainedMemory(bridge);
      const warmIndex = Math.floor(samples.length * 0.3);
      const window = Math.max(1, Math.floor(samples.length * 0.1));
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const warmSamples = samples.slice(warmIndex, warmIndex + window);
      const endSamples = samples.slice(-window);
      return {
        warm: { at: warmAt - started, heap: heapWarm, acked: ackedWarm, reconnects: reconnectsWarm, fdKinds: fdKindsWarm, rssMb: avg(warmSamples.map((s) => s.usage.rssMb)), fds: warmSamples[0]?.usage.fds ?? 0 },
        end: { at: Date.now() - started, heap: heapEnd, acked: acked(), reconnects, fdKinds: fdKindsEnd, rssMb: avg(endSamples.map((s) => s.usage.rssMb)), fds: endSamples.at(-1)?.usage.fds ?? 0 },
      };
    }

    /**
     * A fixed amount of work: `messages` queued evenly over the visitors, sent as fast as their acks come back, and
     * one visitor reconnected (in turn) each time `messages / reconnects` more have been acked, so reconnects cut
     * into sends in flight. Warm-up is the first 30 % of both; warm and end are measured in a settled state (every
     * visitor connected, every outbox empty, every agent reply and receipt answered).
     */
    async function workLoad(messages: number, reconnectsWanted: number): Promise<{ warm: Measurement; end: Measurement }> {
      const warmMessages = Math.round(messages * 0.3);
      const warmReconnects = Math.round(reconnectsWanted * 0.3);
      const sampleTimer = setInterval(sample, 250);
      try {
        await phase('warm-up', warmMessages, warmReconnects);
        // The idle reconnects below run once in warm-up too: the first rounds compile and size what a reconnect
        // uses (code, feedback, maps reaching their size), a one-time cost that is no leak, and that the
        // long timed run's hundreds of random reconnects pay before its warm-up ends.
        await reconnectAll(IDLE_ROUNDS);
        const warm = await measure();
        await phase('load', messages - warmMessages, reconnectsWanted - warmReconnects);
        return { warm, end: await measure() };
      } finally {
        clearInterval(sampleTimer);
      }

      async function phase(name: string, n: number, r: number): Promise<void> {
        const from = acked();
        const reconnectsFrom = reconnects;
        for (let i = 0; i < n; i++) visitors[i % visitors.length]!.queue();
        const every = n / Math.max(1, r);
        await waitUntil(
          `the soak's ${name} (${n} messages acked, ${r} reconnects, every visitor connected, every agent reply answered)`,
          () => {
            // The probe drives the reconnects too: it sees every step of the acked count.
            const done = reconnects - reconnectsFrom;
            if (done < r && acked() - from >= done * every) reconnect(visitors[reconnects % visitors.length]!, 50 + (reconnects % 4) * 100);
            return (
              reconnects - reconnectsFrom === r &&
              acked() - from === n &&
              visitors.every((v) => v.outbox.length === 0 && v.socket.connected) &&
              agentPending === 0
            );
          },
          { timeoutMs: 120_000, intervalMs: 10 },
        );
      }

      async function measure(): Promise<Measurement> {
        const s = sample();
        return {
          at: s?.at ?? Date.now() - started,
          heap: await retainedMemory(bridge),
          acked: acked(),
          reconnects,
          fdKinds: fdKinds(bridge.pid),
          rssMb: s?.usage.rssMb ?? 0,
          fds: s?.usage.fds ?? 0,
        };
      }
    }

    const heapWarm = warm.heap;
    const heapEnd = end.heap;
    const messagesAfterWarm = end.acked - warm.acked;
    const reconnectsAfterWarm = end.reconnects - warm.reconnects;
    const heapGrowth = heapEnd.heapUsed - heapWarm.heapUsed;
    // Reconnects alone, nothing stored meanwhile: whatever a connection leaves behind (listeners, presence,
    // rooms, rate buckets, typing state) is all that can grow the heap here. Two equal sets, each measured: what
    // every connection leaves grows the heap in both, while a one-time step (a table doubling its capacity, a late
    // compilation) lands in one of them, so the smaller growth is the figure.
    await reconnectAll(IDLE_ROUNDS);
    const heapIdleFirst = await retainedMemory(bridge);
    await reconnectAll(IDLE_ROUNDS);
    const heapIdleSecond = await retainedMemory(bridge);
    const idleReconnects = IDLE_ROUNDS * visitors.length;
    const idleGrowth = Math.min(heapIdleFirst.heapUsed - heapEnd.heapUsed, heapIdleSecond.heapUsed - heapIdleFirst.heapUsed);
    agent.close();
    for (const v of visitors) v.close();
    const rssWarm = warm.rssMb;
    const rssEnd = end.rssMb;
    const output = bridge.output();
    const unhandled = (output.stdout + output.stderr).match(/unhandled rejection/gi)?.length ?? 0;
    await bridge.kill('SIGTERM');

    const store = new LowdbStore({ dataDir, logger: pino({ level: 'silent' }) });
    await store.open();
    let lost = 0;
    let duplicates = 0;
    let messages = 0;
    try {
      for (const v of visitors) {
        const conversationId = v.session?.conversationId;
        if (!conversationId) continue;
        const seen = new Map<string, number>();
        let beforeSeq: number | undefined;
        for (;;) {
          const page = await store.getMessages(conversationId, beforeSeq === undefined ? { limit: 100 } : { beforeSeq, limit: 100 });
          for (const m of page) seen.set(m.clientId, (seen.get(m.clientId) ?? 0) + 1);
          if (page.length < 100) break;
          beforeSeq = page[0]!.seq;
        }
        for (const id of v.acked.keys()) if (!seen.has(id)) lost++;
        for (const n of seen.values()) if (n > 1) duplicates += n - 1;
        messages += v.acked.size;
      }
    } finally {
      await store.close();
    }
    const latencies = visitors.flatMap((v) => v.ackLatenciesMs);
    return {
      durationMs: Date.now() - started,
      messages,
      agentReplies,
      reconnects,
      rssWarmMb: Math.round(rssWarm * 10) / 10,
      rssEndMb: Math.round(rssEnd * 10) / 10,
      rssGrowthPct: Math.round(((rssEnd - rssWarm) / rssWarm) * 1000) / 10,
      heapWarmMb: Math.round((heapWarm.heapUsed / 1048576) * 10) / 10,
      heapEndMb: Math.round((heapEnd.heapUsed / 1048576) * 10) / 10,
      messagesAfterWarm,
      reconnectsAfterWarm,
      heapBytesPerMessage: Math.round(heapGrowth / Math.max(1, messagesAfterWarm)),
      idleReconnects,
      heapBytesPerIdleReconnect: Math.round(idleGrowth / idleReconnects),
      heapBytesPerIdleReconnectBySet: [heapIdleFirst.heapUsed - heapEnd.heapUsed, heapIdleSecond.heapUsed - heapIdleFirst.heapUsed].map((g) =>
        Math.round(g / idleReconnects),
      ),
      fdsWarm: warm.fds,
      fdsEnd: end.fds,
      fdsMax: Math.max(warm.fds, end.fds, ...samples.filter((s) => s.at >= warm.at).map((s) => s.usage.fds)),
      lost,
      duplicates,
      unhandledRejections: unhandled,
      p95AckMs: Math.round(percentile(latencies, 95) * 10) / 10,
      fdKindsWarm: warm.fdKinds,
      fdKindsEnd: end.fdKinds,
      problems,
    };
  } finally {
    for (const v of visitors) v.close();
    await bridge.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
