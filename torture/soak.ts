/**
 * Case 11: soak. A child bridge under steady load (visitors sending, an agent answering, receipts) with random
 * reconnects; RSS and open fds sampled every second. After warm-up, RSS may grow at most 5 %, fds stay flat,
 * nothing is lost or duplicated and the bridge logs no unhandled rejection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { io, type Socket } from 'socket.io-client';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import { fdKinds, processUsage, type ProcessUsage } from './abuse.ts';
import { spawnBridge } from './bridge-process.ts';
import { percentile, TortureVisitor } from './visitor-client.ts';

/** Figures of a soak run. */
export interface SoakFigures {
  durationMs: number;
  messages: number;
  agentReplies: number;
  reconnects: number;
  rssWarmMb: number;
  rssEndMb: number;
  rssGrowthPct: number;
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

/** Runs the soak for `durationMs` (warm-up is the first 30 % of it). */
export async function runSoak(options: { durationMs: number; visitors?: number }): Promise<SoakFigures> {
  const started = Date.now();
  const problems: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-soak-'));
  const bridge = await spawnBridge({
    dataDir,
    env: { LOG_LEVEL: 'error', RATE_LIMIT_MESSAGES_PER_MINUTE: '100000', RATE_LIMIT_EVENTS_PER_MINUTE: '100000', RATE_LIMIT_CONNECTIONS_PER_MINUTE: '100000' },
  });
  const url = bridge.url;
  const count = options.visitors ?? 20;
  const visitors = Array.from({ length: count }, (_, i) => new TortureVisitor({ url, name: `s${i}`, ackTimeoutMs: 3000 }));
  const samples: { at: number; usage: ProcessUsage }[] = [];
  let reconnects = 0;
  let agentReplies = 0;
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
      agent.emit('message:send', { conversationId: m.conversationId, clientId: `reply-${m.conversationId}-${m.seq}`, text: 'ok' }, () => undefined);
      agent.emit('receipt', { conversationId: m.conversationId, upToSeq: m.seq, status: 'read' }, () => undefined);
    });
    const sendTimer = setInterval(() => {
      for (const v of visitors) if (v.outbox.length < 50) v.queue();
    }, 250);
    const reconnectTimer = setInterval(() => {
      const v = visitors[Math.floor(Math.random() * visitors.length)]!;
      reconnects++;
      v.socket.disconnect();
      setTimeout(() => v.socket.connect(), 50 + Math.random() * 300);
    }, 500);
    let fdKindsWarm: Record<string, number> = {};
    const warmAt = started + options.durationMs * 0.3;
    const sampleTimer = setInterval(() => {
      try {
        if (Object.keys(fdKindsWarm).length === 0 && Date.now() >= warmAt) fdKindsWarm = fdKinds(bridge.pid);
        samples.push({ at: Date.now() - started, usage: processUsage(bridge.pid) });
      } catch {
        problems.push('bridge process vanished');
      }
    }, 1000);
    await new Promise((r) => setTimeout(r, options.durationMs));
    clearInterval(sendTimer);
    clearInterval(reconnectTimer);
    await Promise.all(visitors.map((v) => (v.socket.connected ? undefined : v.socket.connect())));
    const drained = await Promise.all(visitors.map((v) => v.drained(20_000)));
    if (drained.some((d) => !d)) problems.push('some outboxes did not drain');
    clearInterval(sampleTimer);
    // Settled state: every visitor connected again, nothing in flight.
    await new Promise((r) => setTimeout(r, 1000));
    samples.push({ at: Date.now() - started, usage: processUsage(bridge.pid) });
    const fdKindsEnd = fdKinds(bridge.pid);
    agent.close();
    for (const v of visitors) v.close();
    const warmIndex = Math.floor(samples.length * 0.3);
    const window = Math.max(1, Math.floor(samples.length * 0.1));
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const warm = samples.slice(warmIndex, warmIndex + window);
    const end = samples.slice(-window);
    const rssWarm = avg(warm.map((s) => s.usage.rssMb));
    const rssEnd = avg(end.map((s) => s.usage.rssMb));
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
      fdsWarm: warm[0]?.usage.fds ?? 0,
      fdsEnd: end.at(-1)?.usage.fds ?? 0,
      fdsMax: Math.max(...samples.slice(warmIndex).map((s) => s.usage.fds)),
      lost,
      duplicates,
      unhandledRejections: unhandled,
      p95AckMs: Math.round(percentile(latencies, 95) * 10) / 10,
      fdKindsWarm,
      fdKindsEnd,
      problems,
    };
  } finally {
    for (const v of visitors) v.close();
    await bridge.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
