/**
 * Scenario 6 — webhook ingestion: signed WhatsApp Cloud API status webhooks (one status per POST, as Meta usually
 * sends them, `X-Hub-Signature-256` over the raw body) offered at rising constant rates against messages that
 * exist in storage (agent replies in WhatsApp conversations with their wamid). Figures: webhooks/s answered 200,
 * webhook → agent-socket `message:status` push latency, and the highest rate that was sustained.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { pino } from 'pino';
import pg from 'pg';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';
import { PostgresStore } from '../../bridge/store/postgres/postgres-store.ts';
import { migrate } from '../../bridge/store/postgres/migrations.ts';
import type { Store } from '../../bridge/store/store.ts';
import { benchDatabase } from '../lib/bench-postgres.ts';
import { perItemUs } from './chat-load.ts';
import { Histogram, type LatencySummary } from '../lib/histogram.ts';
import { openLoop, cpuShare } from '../lib/open-loop.ts';
import { inWaves, openAgent, sleep } from '../lib/clients.ts';
import { SERVER_CORE, Target, onPostgres, type TargetKind } from '../lib/targets.ts';
import { ms, ratio, type Row, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const APP_SECRET = 'bench-whatsapp-app-secret';
const CONVERSATIONS = 1000;
/** Conversations the `total` replies of a run spread over: CONVERSATIONS, fewer only when there are fewer replies (quick). */
const conversationsFor = (total: number): number => Math.min(CONVERSATIONS, total);
/**
 * Keep-alive connections the generator may open. HTTP/1.1 has one request in flight per connection, so a small pool
 * would turn the open loop into a closed one (throughput = pool ÷ latency, with latency ≥ one fsync).
 */
const MAX_CONNECTIONS = 256;

/** Sizes of a webhook run. */
export interface Plan {
  rates: number[];
  durationMs: number;
  drainMs: number;
  /** An unreported first step: JIT, connection pool and the server's start-up work are not billed to the first rate. */
  warmup: { rate: number; durationMs: number };
}

/** Agent replies with wamids, written straight into a store the bridge then opens; returns messageId per index. */
async function prefill(store: Store, count: number): Promise<string[]> {
  await store.open();
  const conversations = (
    await Promise.all(
      Array.from({ length: conversationsFor(count) }, (_, c) =>
        store.createConversation({ channel: 'whatsapp', name: `+1555000${c}`, externalUserId: `1555000${c}` }),
      ),
    )
  ).map((conversation) => conversation.id);
  const ids = await inWaves(count, conversations.length, async (n) => {
    const r = await store.appendMessage({
      conversationId: conversations[n % conversations.length]!,
      clientId: `s6-${n}`,
      author: { role: 'agent', name: 'Bench' },
      text: 'Your order has shipped.',
      externalId: `wamid.BENCH${n}`,
    });
    return r.message.id;
  });
  await store.close();
  return ids;
}

function webhookBody(n: number, conversations: number): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
              statuses: [{ id: `wamid.BENCH${n}`, status: 'delivered', timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: `1555000${n % conversations}` }],
            },
          },
        ],
      },
    ],
  });
}

/** Runs the plan against one target kind (also used by scenarios 9 and 10); `env` reaches the bridge processes. */
export async function measure(kind: TargetKind, plan: Plan, ctx: ScenarioContext, env: Record<string, string> = {}) {
  const total =
    Math.round((plan.warmup.rate * plan.warmup.durationMs) / 1000) +
    plan.rates.reduce((s, r) => s + Math.round((r * plan.durationMs) / 1000), 0);
  let dataDir: string | undefined;
  let databaseUrl: string | undefined;
  const index = new Map<string, number>();
  if (kind !== 'baseline') {
    const t0 = performance.now();
    const logger = pino({ level: 'silent' });
    let ids: string[];
    if (onPostgres(kind)) {
      databaseUrl = await benchDatabase(SERVER_CORE);
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
      try {
        await migrate(pool, logger);
        ids = await prefill(new PostgresStore({ pool, logger }), total);
      } finally {
        await pool.end();
      }
    } else {
      dataDir = mkdtempSync(join(tmpdir(), 'anon-chat-bench-wa-'));
      ids = await prefill(new LowdbStore({ dataDir, logger }), total);
    }
    ids.forEach((id, n) => index.set(id, n));
    ctx.log(`  prefilled ${total} WhatsApp agent replies in ${Math.round(performance.now() - t0)} ms`);
  } else {
    for (let n = 0; n < total; n++) index.set(`wamid.BENCH${n}`, n);
  }
  const target = await Target.start(kind, {
    ...(dataDir ? { dataDir } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    env: { WHATSAPP_APP_SECRET: APP_SECRET, ...env },
  });
  const agentSocket = await openAgent(target.agentUrl, await target.agentToken());
  // A socket timeout makes Node's agent honour the server's `Keep-Alive: timeout=5` hint (it drops an idle socket 1 s
  // before the server would); without one it keeps idle sockets forever and may reuse one just as the server closes
  // it ("socket hang up", seen once at load 17). The 60 s applies only where no hint is sent; on a socket with a request
  // in flight it merely emits an unhandled 'timeout' event (no abort).
  const httpAgent = new Agent({ keepAlive: true, maxSockets: MAX_CONNECTIONS, timeout: 60_000 });
  const postedAt = new Float64Array(total);
  const pushed = new Uint8Array(total);
  let pushCount = 0;
  let pushH = new Histogram();
  agentSocket.on('message:status', (c: { messageId: string }) => {
    const n = index.get(c.messageId);
    if (n === undefined || pushed[n]) return;
    pushed[n] = 1;
    pushCount++;
    pushH.record(performance.now() - postedAt[n]!);
  });
  const steps: WebhookStep[] = [];
  let offset = 0;
  try {
    const stepAt = async (rate: number, durationMs: number): Promise<WebhookStep> => {
      const httpH = new Histogram();
      pushH = new Histogram();
      const codes: Record<string, number> = {};
      let answered = 0;
      let ok = 0;
      let lastOkAt = 0;
      const base = offset;
      offset += Math.round((rate * durationMs) / 1000);
      const pushBefore = pushCount;
      await target.stats({ reset: true });
      const cpu0 = await target.cpu();
      const gen0 = process.cpuUsage();
      const loop = await openLoop(rate, durationMs, (i) => {
        const n = base + i;
        const body = webhookBody(n, conversationsFor(total));
        const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
        const t0 = performance.now();
        postedAt[n] = t0;
        const req = request(
          {
            agent: httpAgent,
            host: '127.0.0.1',
            port: target.servers[n % target.servers.length]!.port,
            method: 'POST',
            path: '/webhooks/whatsapp',
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature, 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              answered++;
              const code = String(res.statusCode ?? 0);
              codes[code] = (codes[code] ?? 0) + 1;
              if (res.statusCode === 200) {
                ok++;
                lastOkAt = performance.now();
                httpH.record(lastOkAt - t0);
              }
            });
          },
        );
        req.on('error', (e) => {
          answered++;
          codes[e.message] = (codes[e.message] ?? 0) + 1;
        });
        req.end(body);
      });
      // As in chat-load: past drainMs, wait only while answers and pushes still arrive, ≤ 60 s more.
      const drainEnd = performance.now() + plan.drainMs;
      let progress = -1;
      let progressAt = performance.now();
      while (answered < loop.fired || pushCount - pushBefore < ok) {
        const now = performance.now();
        if (now > drainEnd + 60_000) break;
        if (answered + pushCount !== progress) {
          progress = answered + pushCount;
          progressAt = now;
        }
        if (now > drainEnd && now - progressAt > 10_000) break;
        await sleep(20);
      }
      const wallMs = performance.now() - loop.startedAt;
      const stats = await target.stats();
      const cpu1 = await target.cpu();
      const step: WebhookStep = {
        offeredRate: rate,
        fired: loop.fired,
        accepted: ok,
        unanswered: loop.fired - answered,
        // A copy: requests still queued when the drain bound ends fail later, when the server stops.
        codes: { ...codes },
        acceptedRate: ok ? Math.round(ok / ((lastOkAt - loop.startedAt) / 1000)) : 0,
        http: httpH.summary(),
        pushed: pushCount - pushBefore,
        push: pushH.summary(),
        serverCpu: Math.round(((cpu1.total - cpu0.total) / (wallMs / 1000)) * 1000) / 1000,
        serverCpuPerWebhookUs: Math.round(((cpu1.total - cpu0.total) * 1e6) / Math.max(1, loop.fired)),
        cpuPerWebhookUs: perItemUs(cpu0, cpu1, loop.fired),
        generatorCpu: cpuShare(gen0, wallMs),
        eventLoopP99: stats.eventLoop.p99,
      };
      return step;
    };
    const warm = await stepAt(plan.warmup.rate, plan.warmup.durationMs);
    ctx.log(`  ${kind} warm-up @ ${plan.warmup.rate}/s for ${plan.warmup.durationMs} ms (not reported): ${warm.accepted}/${warm.fired} accepted, ${warm.serverCpuPerWebhookUs} µs/webhook`);
    await sleep(300);
    for (const rate of plan.rates) {
      const step = await stepAt(rate, plan.durationMs);
      ctx.log(`  ${kind} @ ${rate}/s: accepted ${step.acceptedRate}/s (${step.accepted}/${step.fired}, unanswered ${step.unanswered}), http p99 ${ms(step.http.p99)}, push p99 ${ms(step.push.p99)}, pushed ${step.pushed}, server cpu ${step.serverCpu} (${step.serverCpuPerWebhookUs} µs/webhook), gen cpu ${step.generatorCpu}`);
      steps.push(step);
      await sleep(300);
    }
  } finally {
    agentSocket.close();
    httpAgent.destroy();
    await target.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  return { steps, prefilled: total };
}

export interface WebhookStep {
  offeredRate: number;
  fired: number;
  accepted: number;
  unanswered: number;
  codes: Record<string, number>;
  acceptedRate: number;
  http: LatencySummary;
  pushed: number;
  push: LatencySummary;
  serverCpu: number;
  serverCpuPerWebhookUs: number;
  /** Per process: each bridge node, then PostgreSQL's backends, WAL writer and other processes (µs). */
  cpuPerWebhookUs: ReturnType<typeof perItemUs>;
  generatorCpu: number;
  eventLoopP99: number;
}

/** A step is sustained when every webhook got its 200 at the offered pace and every status reached the agent in time. */
export const sustained = (s: WebhookStep) => s.accepted === s.fired && s.acceptedRate >= s.offeredRate * 0.97 && s.pushed === s.accepted && s.push.p99 <= 20;

/** Scenario 6. */
export const webhookScenario: Scenario = {
  id: 6,
  title: 'Webhook ingestion: signed WhatsApp status webhooks → agent socket',
  async run(ctx): Promise<ScenarioResult> {
    const plan: Plan =
      ctx.mode === 'quick'
        ? { rates: [1000], durationMs: 100, drainMs: 3000, warmup: { rate: 1000, durationMs: 50 } }
        : { rates: [1000, 2500, 5000, 7500], durationMs: 5000, drainMs: 15_000, warmup: { rate: 1000, durationMs: 2000 } };
    const base = await measure('baseline', plan, ctx);
    const bridge = await measure('bridge', plan, ctx);
    const best = [...bridge.steps].reverse().find(sustained);
    const bestBase = [...base.steps].reverse().find(sustained);
    const rows: Row[] = [
      { label: 'highest sustained rate (statuses/s)', figure: best ? `${best.acceptedRate}/s` : 'none', target: '≥ 5000/s', met: (best?.offeredRate ?? 0) >= 5000, baseline: bestBase ? `${bestBase.acceptedRate}/s` : 'none', ratio: ratio(best?.acceptedRate ?? 0, bestBase?.acceptedRate ?? 0) },
    ];
    plan.rates.forEach((rate, k) => {
      const b = bridge.steps[k]!;
      const o = base.steps[k]!;
      rows.push(
        { label: `@${rate}/s accepted (200)`, figure: `${b.acceptedRate}/s`, target: '—', met: null, baseline: `${o.acceptedRate}/s`, ratio: ratio(b.acceptedRate, o.acceptedRate) },
        { label: `@${rate}/s webhook→agent push p99`, figure: ms(b.push.p99), target: rate === 5000 ? '≤ 20 ms' : '—', met: rate === 5000 ? b.push.p99 <= 20 : null, baseline: ms(o.push.p99), ratio: ratio(b.push.p99, o.push.p99) },
        { label: `@${rate}/s HTTP p99 / server CPU`, figure: `${ms(b.http.p99)} / ${Math.round(b.serverCpu * 100)} %`, target: '—', met: null, baseline: `${ms(o.http.p99)} / ${Math.round(o.serverCpu * 100)} %` },
        { label: `@${rate}/s server CPU per webhook`, figure: `${b.serverCpuPerWebhookUs} µs`, target: '—', met: null, baseline: `${o.serverCpuPerWebhookUs} µs`, ratio: ratio(b.serverCpuPerWebhookUs, o.serverCpuPerWebhookUs) },
      );
    });
    const failures: string[] = [];
    for (const s of bridge.steps) if (s.pushed < s.accepted) failures.push(`scenario 6 @ ${s.offeredRate}/s: ${s.accepted - s.pushed} accepted statuses never reached the agent socket`);
    return {
      id: 6,
      title: this.title,
      rows,
      failures,
      notes: [
        `${bridge.prefilled} WhatsApp agent replies (${conversationsFor(bridge.prefilled)} conversations) written to the store before the bridge starts; each webhook carries one 'delivered' status for a different message, signed with WHATSAPP_APP_SECRET; the bridge answers 200 only after the status is durable. HTTP/1.1 keep-alive, ≤ ${MAX_CONNECTIONS} connections. ${plan.durationMs / 1000} s per step, after an unreported warm-up of ${plan.warmup.durationMs / 1000} s at ${plan.warmup.rate}/s (both servers). Sustained = every webhook answered 200 at ≥ 97 % of the offered pace and every status pushed with p99 ≤ 20 ms.`,
        `Answers per step — bridge: ${bridge.steps.map((s) => `${JSON.stringify(s.codes)} unanswered ${s.unanswered}`).join('; ')}. Generator CPU — bridge: ${bridge.steps.map((s) => s.generatorCpu).join(', ')}.`,
        'Raised limits: none (the webhook route has no rate limit).',
      ],
      data: { plan, baseline: base, bridge },
    };
  },
};
