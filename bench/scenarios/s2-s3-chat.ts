/**
 * Scenarios 2 (sustained chat at 1k/5k/10k msgs/s offered) and 3 (the same with delivered + read receipts pushed
 * back to senders). Both run the same constant-arrival-rate traffic against the baseline and the bridge.
 */
import { sharesTarget, Target, type TargetKind } from '../lib/targets.ts';
import { ms, ratio, type Row, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';
import { closePairs, connectPairs, runChatLoad, type ChatLoadResult } from './chat-load.ts';

/** Sizes of a chat load run. */
export interface Plan {
  pairs: number;
  rates: number[];
  durationMs: number;
  drainMs: number;
  receipts: boolean;
}

/** Runs the plan against one target kind (also used by scenarios 9 and 10); `env` reaches the bridge processes. */
export async function measure(kind: TargetKind, plan: Plan, ctx: ScenarioContext, env: Record<string, string> = {}) {
  const top = Math.max(...plan.rates);
  // One agent socket carries the agent half of the traffic (rate/2 sends/s) and, with receipts, two receipts per
  // visitor message; each limit is raised to that socket's per-minute volume plus 10 %, nothing else.
  const limits = {
    RATE_LIMIT_MESSAGES_PER_MINUTE: Math.ceil((top / 2) * 60 * 1.1),
    RATE_LIMIT_CONNECTIONS_PER_MINUTE: plan.pairs + 10,
    ...(plan.receipts ? { RATE_LIMIT_EVENTS_PER_MINUTE: Math.ceil(top * 60 * 1.1) } : {}),
  };
  const target = await Target.start(kind, { limits, env, shared: sharesTarget(kind, ctx) && Object.keys(env).length === 0 });
  try {
    const pairs = await connectPairs(target, plan.pairs);
    const steps: ChatLoadResult[] = [];
    for (const rate of plan.rates) {
      const step = await runChatLoad(pairs, { ...plan, rate, tag: `r${rate}` });
      ctx.log(
        `  ${kind} @ ${rate}/s: achieved ${step.achievedRate}/s, ack p99 ${ms(step.ack.p99)}, peer p99 ${ms(step.peer.p99)}` +
          (step.statusPush ? `, status p99 ${ms(step.statusPush.p99)}` : '') +
          `, server cpu ${step.serverCpu} (${step.serverCpuPerMessageUs} µs/msg), gen cpu ${step.generatorCpu}, lost ${step.lost}, dup ${step.duplicated}, unacked ${step.unacked}`,
      );
      steps.push(step);
      await new Promise((r) => setTimeout(r, 300));
    }
    closePairs(pairs);
    return { steps, setupMs: pairs.setupMs, limits: target.limitsNote() };
  } finally {
    await target.stop();
  }
}

function correctness(label: string, steps: ChatLoadResult[]): string[] {
  const out: string[] = [];
  for (const s of steps) {
    if (s.lost) out.push(`${label} @ ${s.offeredRate}/s: ${s.lost} acked messages never reached the peer`);
    if (s.duplicated) out.push(`${label} @ ${s.offeredRate}/s: ${s.duplicated} messages delivered twice`);
  }
  return out;
}

const errorsNote = (steps: ChatLoadResult[]) =>
  steps
    .filter((s) => Object.keys(s.errors).length || s.unacked)
    .map((s) => `@${s.offeredRate}/s errors ${JSON.stringify(s.errors)} unacked ${s.unacked}`)
    .join('; ');

/** Scenario 2. */
export const sustainedScenario: Scenario = {
  id: 2,
  title: 'Sustained chat: 1,000 conversations at 1k / 5k / 10k msgs/s offered',
  async run(ctx): Promise<ScenarioResult> {
    const plan: Plan =
      ctx.mode === 'quick'
        ? { pairs: 10, rates: [1000], durationMs: 200, drainMs: 3000, receipts: false }
        : { pairs: 1000, rates: [1000, 5000, 10000], durationMs: 10_000, drainMs: 20_000, receipts: false };
    const base = await measure('baseline', plan, ctx);
    const bridge = await measure('bridge', plan, ctx);
    const rows: Row[] = [];
    plan.rates.forEach((rate, k) => {
      const b = bridge.steps[k]!;
      const o = base.steps[k]!;
      const top = rate === Math.max(...plan.rates);
      rows.push(
        { label: `@${rate}/s achieved (acked+persisted)`, figure: `${b.achievedRate}/s`, target: top ? '≥ 10000/s, ≥ 0.5× baseline' : '—', met: top ? b.achievedRate >= rate * 0.98 && (ratio(b.achievedRate, o.achievedRate) ?? 0) >= 0.5 : null, baseline: `${o.achievedRate}/s`, ratio: ratio(b.achievedRate, o.achievedRate) },
        { label: `@${rate}/s ack p99`, figure: ms(b.ack.p99), target: top ? '≤ 10 ms' : '—', met: top ? b.ack.p99 <= 10 : null, baseline: ms(o.ack.p99), ratio: ratio(b.ack.p99, o.ack.p99) },
        { label: `@${rate}/s peer p99`, figure: ms(b.peer.p99), target: '—', met: null, baseline: ms(o.peer.p99), ratio: ratio(b.peer.p99, o.peer.p99) },
        { label: `@${rate}/s server CPU / loop p99`, figure: `${Math.round(b.serverCpu * 100)} % / ${ms(b.eventLoopP99)}`, target: '—', met: null, baseline: `${Math.round(o.serverCpu * 100)} % / ${ms(o.eventLoopP99)}` },
        { label: `@${rate}/s server CPU per message`, figure: `${b.serverCpuPerMessageUs} µs`, target: '—', met: null, baseline: `${o.serverCpuPerMessageUs} µs`, ratio: ratio(b.serverCpuPerMessageUs, o.serverCpuPerMessageUs) },
        { label: `@${rate}/s lost / duplicated`, figure: `${b.lost} / ${b.duplicated}`, target: '0 / 0', met: b.lost === 0 && b.duplicated === 0, baseline: `${o.lost} / ${o.duplicated}` },
      );
    });
    return {
      id: 2,
      title: this.title,
      rows,
      failures: [...correctness('scenario 2 bridge', bridge.steps)],
      notes: [
        `${plan.pairs} conversations (each one visitor socket); the agent side is one agent-console socket, because the bridge sends every conversation to every agent socket (N agent sockets would multiply the fan-out by N). Directions alternate per round. ${plan.durationMs / 1000} s per step, drain ≥ ${plan.drainMs / 1000} s, then while replies still arrive (≤ 60 s more).`,
        `Generator CPU (share of one core) per step — baseline: ${base.steps.map((s) => s.generatorCpu).join(', ')}; bridge: ${bridge.steps.map((s) => s.generatorCpu).join(', ')}; generator lag p99 (ms): ${bridge.steps.map((s) => s.generatorLagP99).join(', ')}.`,
        `Raised limits: ${bridge.limits}.`,
        ...(errorsNote(bridge.steps) ? [`Bridge errors: ${errorsNote(bridge.steps)}`] : []),
      ],
      data: { plan, baseline: base, bridge },
    };
  },
};

/** Scenario 3. */
export const lifecycleScenario: Scenario = {
  id: 3,
  title: 'Full status lifecycle: sustained chat + delivered and read receipts',
  async run(ctx): Promise<ScenarioResult> {
    const plan: Plan =
      ctx.mode === 'quick'
        ? { pairs: 10, rates: [1000], durationMs: 200, drainMs: 3000, receipts: true }
        : { pairs: 1000, rates: [1000, 5000], durationMs: 10_000, drainMs: 20_000, receipts: true };
    const base = await measure('baseline', plan, ctx);
    const bridge = await measure('bridge', plan, ctx);
    const rows: Row[] = [];
    plan.rates.forEach((rate, k) => {
      const b = bridge.steps[k]!;
      const o = base.steps[k]!;
      const top = rate === 5000;
      rows.push(
        { label: `@${rate}/s achieved`, figure: `${b.achievedRate}/s`, target: top ? '≥ 5000/s' : '—', met: top ? b.achievedRate >= rate * 0.98 : null, baseline: `${o.achievedRate}/s`, ratio: ratio(b.achievedRate, o.achievedRate) },
        { label: `@${rate}/s status push p99`, figure: ms(b.statusPush?.p99), target: top ? '≤ 10 ms' : '—', met: top ? (b.statusPush?.p99 ?? Infinity) <= 10 : null, baseline: ms(o.statusPush?.p99), ratio: ratio(b.statusPush?.p99 ?? NaN, o.statusPush?.p99 ?? NaN) },
        { label: `@${rate}/s ack p99 / send→read p99`, figure: `${ms(b.ack.p99)} / ${ms(b.sendToRead?.p99)}`, target: '—', met: null, baseline: `${ms(o.ack.p99)} / ${ms(o.sendToRead?.p99)}` },
        { label: `@${rate}/s server CPU / loop p99`, figure: `${Math.round(b.serverCpu * 100)} % / ${ms(b.eventLoopP99)}`, target: '—', met: null, baseline: `${Math.round(o.serverCpu * 100)} % / ${ms(o.eventLoopP99)}` },
        { label: `@${rate}/s server CPU per message`, figure: `${b.serverCpuPerMessageUs} µs`, target: '—', met: null, baseline: `${o.serverCpuPerMessageUs} µs`, ratio: ratio(b.serverCpuPerMessageUs, o.serverCpuPerMessageUs) },
        { label: `@${rate}/s lost / dup / status missing`, figure: `${b.lost} / ${b.duplicated} / ${b.statusMissing}`, target: '0 / 0 / 0', met: b.lost === 0 && b.duplicated === 0 && b.statusMissing === 0, baseline: `${o.lost} / ${o.duplicated} / ${o.statusMissing}` },
      );
    });
    const failures = correctness('scenario 3 bridge', bridge.steps);
    for (const s of bridge.steps) if (s.statusMissing) failures.push(`scenario 3 bridge @ ${s.offeredRate}/s: ${s.statusMissing} read statuses never reached the sender`);
    return {
      id: 3,
      title: this.title,
      rows,
      failures,
      notes: [
        `As scenario 2 (${plan.pairs} conversations, ${plan.durationMs / 1000} s per step); the receiver sends a delivered and a read receipt the moment each message arrives: 3 durable writes per message. Status push = receipt emitted by the receiver → status event at the sender.`,
        `Generator CPU per step — baseline: ${base.steps.map((s) => s.generatorCpu).join(', ')}; bridge: ${bridge.steps.map((s) => s.generatorCpu).join(', ')}.`,
        `Raised limits: ${bridge.limits}.`,
        ...(errorsNote(bridge.steps) ? [`Bridge errors: ${errorsNote(bridge.steps)}`] : []),
      ],
      data: { plan, baseline: base, bridge },
    };
  },
};
