/**
 * Scenario 1 — latency: one visitor and one agent, messages strictly one after another (the next is sent once the
 * previous one is acked and has reached the peer), alternating direction. send→ack and send→peer distributions.
 */
import { Histogram } from '../lib/histogram.ts';
import { emitAck, openAgent, openVisitor } from '../lib/clients.ts';
import { sharesTarget, Target, type TargetKind } from '../lib/targets.ts';
import { ms, ratio, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';

/** Longest wait for one message's ack and its arrival at the peer. */
const PEER_DEADLINE_MS = 60_000;

interface Ack {
  ok: boolean;
  error?: { code: string };
}

/** Runs the traffic against one target kind (also used by scenario 9). */
export async function measure(kind: TargetKind, count: number, ctx: ScenarioContext) {
  // Each side sends count/2 messages; the per-socket limit is raised just past that (plus the warm-up).
  const target = await Target.start(kind, { limits: { RATE_LIMIT_MESSAGES_PER_MINUTE: Math.ceil(count / 2) + 10 }, shared: sharesTarget(kind, ctx) });
  try {
    const agent = await openAgent(target.agentUrl, await target.agentToken());
    const visitor = await openVisitor(target.urlFor(0));
    const warm = await emitAck<Ack>(visitor.socket, 'message:send', { clientId: 'warmup', text: 'hello' });
    if (!warm.ok) throw new Error(`warm-up refused: ${warm.error?.code}`);
    const ackH = new Histogram();
    const peerH = new Histogram();
    let failures = 0;
    let peerWaiter: ((clientId: string) => void) | undefined;
    const onNew = (role: string) => (m: { clientId: string; author: { role: string } }) => {
      if (m.author.role === role) peerWaiter?.(m.clientId);
    };
    agent.on('message:new', onNew('visitor'));
    visitor.socket.on('message:new', onNew('agent'));
    const deadline = performance.now() + (ctx.mode === 'quick' ? 20_000 : 240_000);
    let done = 0;
    for (let i = 0; i < count && performance.now() < deadline; i++) {
      const clientId = `s1-${i}`;
      const text = 'Hi! A short chat message from the bench.';
      const t0 = performance.now();
      const peer = new Promise<void>((resolve, reject) => {
        // Only a lost message reaches this bound (a slow machine delays, it does not lose); it ends the scenario.
        const timer = setTimeout(() => reject(new Error(`waited ${PEER_DEADLINE_MS / 1000} s for message ${clientId} to reach the peer`)), PEER_DEADLINE_MS);
        peerWaiter = (id) => {
          if (id !== clientId) return;
          clearTimeout(timer);
          peerH.record(performance.now() - t0);
          resolve();
        };
      });
      const ack =
        i % 2 === 0
          ? emitAck<Ack>(visitor.socket, 'message:send', { clientId, text }, PEER_DEADLINE_MS)
          : emitAck<Ack>(agent, 'message:send', { conversationId: visitor.conversationId, clientId, text }, PEER_DEADLINE_MS);
      const res = await ack;
      ackH.record(performance.now() - t0);
      if (!res.ok) {
        failures++;
        peer.catch(() => {});
        continue;
      }
      await peer;
      done++;
    }
    agent.close();
    visitor.socket.close();
    ctx.log(`  ${kind}: ${done} messages, ack p50 ${ms(ackH.percentile(0.5))} p99 ${ms(ackH.percentile(0.99))}`);
    return {
      ack: ackH.summary(),
      peer: peerH.summary(),
      ackDistribution: ackH.distribution(),
      peerDistribution: peerH.distribution(),
      done,
      failures,
      limits: target.limitsNote(),
    };
  } finally {
    await target.stop();
  }
}

/** Scenario 1. */
export const latencyScenario: Scenario = {
  id: 1,
  title: 'Latency: 1 visitor + 1 agent, sequential messages',
  async run(ctx): Promise<ScenarioResult> {
    const count = ctx.mode === 'quick' ? 20 : 20_000;
    const base = await measure('baseline', count, ctx);
    const bridge = await measure('bridge', count, ctx);
    const p50Ratio = ratio(bridge.ack.p50, base.ack.p50);
    return {
      id: 1,
      title: this.title,
      rows: [
        { label: 'send→ack p50', figure: ms(bridge.ack.p50), target: '≤ 3× baseline', met: p50Ratio !== undefined && p50Ratio <= 3, baseline: ms(base.ack.p50), ratio: p50Ratio },
        { label: 'send→ack p99', figure: ms(bridge.ack.p99), target: '≤ 5 ms', met: bridge.ack.p99 <= 5, baseline: ms(base.ack.p99), ratio: ratio(bridge.ack.p99, base.ack.p99) },
        { label: 'send→ack p99.9', figure: ms(bridge.ack.p999), target: '—', met: null, baseline: ms(base.ack.p999), ratio: ratio(bridge.ack.p999, base.ack.p999) },
        { label: 'send→peer p50', figure: ms(bridge.peer.p50), target: '—', met: null, baseline: ms(base.peer.p50), ratio: ratio(bridge.peer.p50, base.peer.p50) },
        { label: 'send→peer p99', figure: ms(bridge.peer.p99), target: '—', met: null, baseline: ms(base.peer.p99), ratio: ratio(bridge.peer.p99, base.peer.p99) },
        { label: 'send→peer p99.9', figure: ms(bridge.peer.p999), target: '—', met: null, baseline: ms(base.peer.p999), ratio: ratio(bridge.peer.p999, base.peer.p999) },
      ],
      failures: bridge.failures ? [`scenario 1: ${bridge.failures} sends refused`] : [],
      notes: [
        `${bridge.done} of ${count} messages${bridge.done < count ? ' (time bound hit)' : ''}, alternating visitor→agent / agent→visitor, each sent after the previous ack + delivery; durable ack (fsync before ack).`,
        `Raised limits: ${bridge.limits}.`,
      ],
      data: { count, baseline: base, bridge },
    };
  },
};
