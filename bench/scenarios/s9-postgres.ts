/**
 * Scenario 9 — the PostgreSQL engine: the traffic of scenarios 1, 2, 3 and 6 against the bridge on PostgreSQL as one
 * node and as two nodes (Socket.IO's PostgreSQL adapter; visitors alternate between the nodes, the agent console and
 * every other webhook sit on the second), side by side with the lowdb node and the bare Socket.IO baseline in the same
 * run. The PostgreSQL server is durable (fsync, synchronous_commit, full page writes on) and pinned to the servers'
 * core with the bridges: CPU per message counts every bridge process and every PostgreSQL process.
 */
import { measure as latency } from './s1-latency.ts';
import { measure as chat, type Plan as ChatPlan } from './s2-s3-chat.ts';
import { measure as webhooks, sustained, type Plan as WebhookPlan, type WebhookStep } from './s6-webhooks.ts';
import type { ChatLoadResult } from './chat-load.ts';
import type { TargetKind } from '../lib/targets.ts';
import { ms, ratio, type Row, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';

/** The bridge engines compared, in print order. */
const ENGINES = [
  { kind: 'bridge', label: 'lowdb ×1' },
  { kind: 'bridge-pg', label: 'PostgreSQL ×1' },
  { kind: 'bridge-pg2', label: 'PostgreSQL ×2' },
] as const satisfies readonly { kind: TargetKind; label: string }[];

type EngineKind = (typeof ENGINES)[number]['kind'];

interface Sizes {
  s1: number;
  s2: ChatPlan;
  s3: ChatPlan;
  s6: WebhookPlan;
}

const SIZES: Record<'quick' | 'full', Sizes> = {
  quick: {
    s1: 100,
    s2: { pairs: 50, rates: [1000], durationMs: 500, drainMs: 3000, receipts: false },
    s3: { pairs: 50, rates: [1000], durationMs: 500, drainMs: 3000, receipts: true },
    s6: { rates: [1000], durationMs: 300, drainMs: 3000, warmup: { rate: 500, durationMs: 300 } },
  },
  full: {
    s1: 2000,
    s2: { pairs: 200, rates: [1000, 2000, 5000], durationMs: 5000, drainMs: 10_000, receipts: false },
    s3: { pairs: 200, rates: [1000, 2000], durationMs: 5000, drainMs: 10_000, receipts: true },
    // The three engines × four traffics start 16 server sets: a loaded machine needs the scenario's 40-minute bound.
    s6: { rates: [1000, 2500], durationMs: 3000, drainMs: 10_000, warmup: { rate: 1000, durationMs: 1000 } },
  },
};

/** Per-process CPU of a step, for the notes: "A 61 + B 58 + pg backends 40 + wal 3 + other 2 µs". */
function cpuSplit(c: ChatLoadResult['cpuPerMessageUs']): string {
  const nodes = c.nodes.map((n, i) => `${String.fromCharCode(65 + i)} ${n}`).join(' + ');
  const pg = c.postgresBackends + c.postgresWalWriter + c.postgresOther;
  return pg > 0 ? `${nodes} + PostgreSQL ${pg} (backends ${c.postgresBackends}, WAL writer ${c.postgresWalWriter}, other ${c.postgresOther})` : nodes;
}

async function runAll<T>(ctx: ScenarioContext, label: string, run: (kind: TargetKind) => Promise<T>): Promise<{ baseline: T } & Record<EngineKind, T>> {
  ctx.log(`  — ${label}`);
  const baseline = await run('baseline');
  const out = { baseline } as { baseline: T } & Record<EngineKind, T>;
  for (const engine of ENGINES) out[engine.kind] = await run(engine.kind);
  return out;
}

/** Scenario 9. */
export const postgresScenario: Scenario = {
  id: 9,
  fullTimeLimitMs: 2_400_000,
  title: 'PostgreSQL engine, 1 and 2 nodes, vs the lowdb node: traffic of scenarios 1, 2, 3 and 6',
  async run(ctx): Promise<ScenarioResult> {
    const sizes = SIZES[ctx.mode];
    const rows: Row[] = [];
    const notes: string[] = [];
    const failures: string[] = [];
    const chatData: Record<string, unknown> = {};

    const s1 = await runAll(ctx, `scenario 1 traffic, ${sizes.s1} sequential messages`, (kind) => latency(kind, sizes.s1, ctx));
    for (const e of ENGINES) {
      const r = s1[e.kind];
      const lowdb = s1.bridge;
      rows.push(
        { label: `S1 ${e.label} send→ack p50 / p99`, figure: `${ms(r.ack.p50)} / ${ms(r.ack.p99)}`, target: '—', met: null, baseline: `${ms(s1.baseline.ack.p50)} / ${ms(s1.baseline.ack.p99)}`, ratio: ratio(r.ack.p99, s1.baseline.ack.p99), vsLowdb: ratio(r.ack.p99, lowdb.ack.p99) },
        { label: `S1 ${e.label} send→peer p50 / p99`, figure: `${ms(r.peer.p50)} / ${ms(r.peer.p99)}`, target: '—', met: null, baseline: `${ms(s1.baseline.peer.p50)} / ${ms(s1.baseline.peer.p99)}`, ratio: ratio(r.peer.p99, s1.baseline.peer.p99), vsLowdb: ratio(r.peer.p99, lowdb.peer.p99) },
      );
      if (r.failures) failures.push(`scenario 9 S1 ${e.label}: ${r.failures} sends refused`);
    }

    for (const [name, plan] of [['S2', sizes.s2], ['S3', sizes.s3]] as const) {
      const all = await runAll(ctx, `scenario ${name === 'S2' ? 2 : 3} traffic, ${plan.pairs} conversations at ${plan.rates.join(', ')} msgs/s`, (kind) => chat(kind, plan, ctx));
      chatData[name] = all;
      plan.rates.forEach((rate, k) => {
        const base = all.baseline.steps[k]!;
        const lowdb = all.bridge.steps[k]!;
        for (const e of ENGINES) {
          const s = all[e.kind].steps[k]!;
          const at = `${name} ${e.label} @${rate}/s`;
          const pg1 = all['bridge-pg'].steps[k]!;
          const clean = s.lost === 0 && s.duplicated === 0 && (s.statusMissing ?? 0) === 0;
          rows.push(
            {
              label: `${at} durable msgs/s`,
              figure: `${s.achievedRate}/s`,
              target:
                e.kind === 'bridge-pg' && name === 'S2' && rate === 5000 ? '≥ 5000/s, 0 lost / 0 dup'
                : e.kind === 'bridge-pg2' ? '≥ PostgreSQL ×1' : '—',
              met:
                e.kind === 'bridge-pg' && name === 'S2' && rate === 5000 ? s.achievedRate >= 4900 && clean
                : e.kind === 'bridge-pg2' ? s.achievedRate >= pg1.achievedRate * 0.98 && s.ack.p99 <= Math.max(pg1.ack.p99 * 1.1, 25) && clean : null,
              baseline: `${base.achievedRate}/s`,
              ratio: ratio(s.achievedRate, base.achievedRate),
              vsLowdb: ratio(s.achievedRate, lowdb.achievedRate),
            },
            { label: `${at} ack p50 / p99`, figure: `${ms(s.ack.p50)} / ${ms(s.ack.p99)}`, target: rate === 2000 && e.kind !== 'bridge' ? 'p99 ≤ 25 ms' : '—', met: rate === 2000 && e.kind !== 'bridge' ? s.ack.p99 <= 25 : null, baseline: `${ms(base.ack.p50)} / ${ms(base.ack.p99)}`, ratio: ratio(s.ack.p99, base.ack.p99), vsLowdb: ratio(s.ack.p99, lowdb.ack.p99) },
            { label: `${at} peer p50 / p99`, figure: `${ms(s.peer.p50)} / ${ms(s.peer.p99)}`, target: '—', met: null, baseline: `${ms(base.peer.p50)} / ${ms(base.peer.p99)}`, ratio: ratio(s.peer.p99, base.peer.p99), vsLowdb: ratio(s.peer.p99, lowdb.peer.p99) },
            ...(s.statusPush ? [{ label: `${at} status push p99`, figure: ms(s.statusPush.p99), target: '—', met: null, baseline: ms(base.statusPush?.p99), ratio: ratio(s.statusPush.p99, base.statusPush?.p99 ?? NaN), vsLowdb: ratio(s.statusPush.p99, lowdb.statusPush?.p99 ?? NaN) }] : []),
            { label: `${at} CPU per message (all processes)`, figure: `${s.serverCpuPerMessageUs} µs`, target: '—', met: null, baseline: `${base.serverCpuPerMessageUs} µs`, ratio: ratio(s.serverCpuPerMessageUs, base.serverCpuPerMessageUs), vsLowdb: ratio(s.serverCpuPerMessageUs, lowdb.serverCpuPerMessageUs) },
            { label: `${at} lost / dup${s.statusMissing !== undefined ? ' / status missing' : ''}`, figure: `${s.lost} / ${s.duplicated}${s.statusMissing !== undefined ? ` / ${s.statusMissing}` : ''}`, target: '0 / 0', met: clean, baseline: `${base.lost} / ${base.duplicated}` },
          );
          notes.push(`${at}: CPU µs per message by process — ${cpuSplit(s.cpuPerMessageUs)}; server-side CPU ${Math.round(s.serverCpu * 100)} % of one core; unacked ${s.unacked}; errors ${JSON.stringify(s.errors)}; generator CPU ${s.generatorCpu}.`);
          if (s.lost) failures.push(`scenario 9 ${at}: ${s.lost} acked messages never reached the peer`);
          if (s.duplicated) failures.push(`scenario 9 ${at}: ${s.duplicated} messages delivered twice`);
          if (s.statusMissing) failures.push(`scenario 9 ${at}: ${s.statusMissing} read statuses never reached the sender`);
        }
      });
    }

    const s6 = await runAll(ctx, `scenario 6 traffic at ${sizes.s6.rates.join(', ')} webhooks/s`, (kind) => webhooks(kind, sizes.s6, ctx));
    sizes.s6.rates.forEach((rate, k) => {
      const base: WebhookStep = s6.baseline.steps[k]!;
      const lowdb: WebhookStep = s6.bridge.steps[k]!;
      for (const e of ENGINES) {
        const s: WebhookStep = s6[e.kind].steps[k]!;
        const at = `S6 ${e.label} @${rate}/s`;
        rows.push(
          { label: `${at} accepted (200) / sustained`, figure: `${s.acceptedRate}/s ${sustained(s) ? '✓' : '✗'}`, target: '—', met: null, baseline: `${base.acceptedRate}/s`, ratio: ratio(s.acceptedRate, base.acceptedRate), vsLowdb: ratio(s.acceptedRate, lowdb.acceptedRate) },
          { label: `${at} HTTP p99 / push p99`, figure: `${ms(s.http.p99)} / ${ms(s.push.p99)}`, target: '—', met: null, baseline: `${ms(base.http.p99)} / ${ms(base.push.p99)}`, ratio: ratio(s.push.p99, base.push.p99), vsLowdb: ratio(s.push.p99, lowdb.push.p99) },
          { label: `${at} CPU per webhook (all processes)`, figure: `${s.serverCpuPerWebhookUs} µs`, target: '—', met: null, baseline: `${base.serverCpuPerWebhookUs} µs`, ratio: ratio(s.serverCpuPerWebhookUs, base.serverCpuPerWebhookUs), vsLowdb: ratio(s.serverCpuPerWebhookUs, lowdb.serverCpuPerWebhookUs) },
        );
        notes.push(`${at}: CPU µs per webhook by process — ${cpuSplit(s.cpuPerWebhookUs)}; answers ${JSON.stringify(s.codes)}, unanswered ${s.unanswered}, pushed ${s.pushed}/${s.accepted}.`);
        if (s.pushed < s.accepted) failures.push(`scenario 9 ${at}: ${s.accepted - s.pushed} accepted statuses never reached the agent socket`);
      }
    });

    notes.unshift(
      'Ratios: "÷ baseline" and "÷ lowdb node" divide this engine\'s figure by the bare Socket.IO server\'s and by the lowdb node\'s for the same traffic in this run (throughput: higher is better; latency and CPU: lower is better; latency rows divide p99s).',
      'Every server process (bridges, PostgreSQL) is pinned to core 0, the load generator to core 1: on this 2-core machine two nodes share one core, so the 2-node figures show the adapter\'s cost, not a second core\'s gain. PostgreSQL runs durable: fsync, synchronous_commit and full_page_writes on.',
      `Sizes: S1 ${sizes.s1} messages; S2 ${sizes.s2.pairs} conversations, ${sizes.s2.durationMs / 1000} s per rate; S3 the same with receipts; S6 ${sizes.s6.durationMs / 1000} s per rate after a ${sizes.s6.warmup.durationMs / 1000} s warm-up at ${sizes.s6.warmup.rate}/s. Two nodes: visitors alternate between node A and node B, the agent console is on B, webhooks alternate.`,
    );
    return { id: 9, title: this.title, rows, failures, notes, data: { sizes, s1, ...chatData, s6 } };
  },
};
