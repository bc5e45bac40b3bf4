/**
 * Scenario 4 — idle capacity: widgets (a visitor socket with its session and room, no messages) arrive at a
 * constant rate above the target (open loop), with a bounded number of handshakes in flight, up to the target
 * count. Each is the widget's own wire traffic (lib/wire-visitor.ts: handshake, session, then the history + sync a
 * fresh widget requests). Connect rate = widgets ÷ time from the first arrival to the last widget caught up;
 * memory = server RSS after a full GC with the widgets connected minus before, per widget.
 */
import { cpuShare } from '../lib/open-loop.ts';
import { inWaves, sleep } from '../lib/clients.ts';
import { boundedArrivals } from '../lib/bounded-arrivals.ts';
import { openWireVisitor, type WireVisitor } from '../lib/wire-visitor.ts';
import { sharesTarget, Target, type TargetKind } from '../lib/targets.ts';
import { ratio, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';

const IN_FLIGHT = 200;
/** Offered arrival rate: twice the 3,000/s target, so the figure is the server's, not the schedule's. */
const OFFERED_PER_SECOND = 6000;

async function measure(kind: TargetKind, count: number, ctx: ScenarioContext) {
  // Time for closed sockets and the ramp's garbage to settle before a memory reading; quick figures are not memory figures.
  const settleMs = ctx.mode === 'quick' ? 0 : 1000;
  const target = await Target.start(kind, { limits: { RATE_LIMIT_CONNECTIONS_PER_MINUTE: count + 100 }, shared: sharesTarget(kind, ctx) });
  const sockets: WireVisitor[] = [];
  // Both servers answer `history` and `sync`, so the generator sends the same traffic to each.
  const catchUp = 'history+sync';
  try {
    // Warm the handshake path so JIT compilation is not billed to the first widgets, then measure from a clean GC.
    const warm = await inWaves(Math.min(50, count), 10, () => openWireVisitor(target.url, { catchUp }));
    for (const w of warm) w.visitor.close();
    await sleep(settleMs / 2);
    const before = await target.server.stats({ gc: true });
    const cpu0 = target.server.cpuSeconds();
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    const ramp = await boundedArrivals(OFFERED_PER_SECOND, count, IN_FLIGHT, ctx.mode === 'quick' ? 20_000 : 120_000, async () => {
      sockets.push((await openWireVisitor(target.url, { timeoutMs: 20_000, catchUp })).visitor);
    });
    const wallMs = performance.now() - t0;
    const failed = ramp.failed + ramp.skipped;
    const rampMs = Math.max(1, ramp.lastSuccessAt - ramp.startedAt);
    const serverCpuSeconds = target.server.cpuSeconds() - cpu0;
    const serverCpu = serverCpuSeconds / (wallMs / 1000);
    const generatorCpu = cpuShare(gen0, wallMs);
    await sleep(settleMs);
    const after = await target.server.stats({ gc: true });
    const connected = after.extra.visitorSockets ?? sockets.length;
    const result = {
      widgets: sockets.length,
      serverSeesSockets: connected,
      failed,
      rampMs: Math.round(rampMs),
      connectsPerSecond: Math.round(sockets.length / (rampMs / 1000)),
      rssBeforeMb: Math.round(before.rss / 1048576),
      rssAfterMb: Math.round(after.rss / 1048576),
      heapPerWidgetKiB: Math.round(((after.heapUsed - before.heapUsed) / sockets.length / 1024) * 10) / 10,
      rssPerWidgetKiB: Math.round(((after.rss - before.rss) / sockets.length / 1024) * 10) / 10,
      serverCpu: Math.round(serverCpu * 100) / 100,
      serverCpuPerConnectUs: Math.round((serverCpuSeconds / Math.max(1, sockets.length)) * 1e6),
      generatorCpu,
      generatorCpuPerConnectUs: Math.round(((generatorCpu * wallMs) / 1000 / Math.max(1, sockets.length)) * 1e6),
      connectP50Ms: Math.round(ramp.latency.percentile(0.5) * 10) / 10,
      connectP99Ms: Math.round(ramp.latency.percentile(0.99) * 10) / 10,
      queuedP99Ms: Math.round(ramp.wait.percentile(0.99) * 10) / 10,
      limits: target.limitsNote(),
    };
    ctx.log(`  ${kind}: ${result.widgets} widgets in ${result.rampMs} ms (${result.connectsPerSecond}/s), ${result.rssPerWidgetKiB} KiB RSS each, failed ${failed}, CPU per connect: server ${result.serverCpuPerConnectUs} µs, generator ${result.generatorCpuPerConnectUs} µs`);
    return result;
  } finally {
    for (const s of sockets) s.close();
    await target.stop();
  }
}

/** Scenario 4. */
export const idleScenario: Scenario = {
  id: 4,
  title: 'Idle capacity: widgets connected (socket + session + room)',
  async run(ctx): Promise<ScenarioResult> {
    const count = ctx.mode === 'quick' ? 20 : 15_000;
    const base = await measure('baseline', count, ctx);
    const bridge = await measure('bridge', count, ctx);
    return {
      id: 4,
      title: this.title,
      rows: [
        { label: 'widgets connected', figure: `${bridge.widgets}`, target: `${count}`, met: bridge.widgets === count && bridge.serverSeesSockets === count, baseline: `${base.widgets}` },
        { label: 'RSS per widget (after GC)', figure: `${bridge.rssPerWidgetKiB} KiB`, target: '≤ 25 KiB', met: bridge.rssPerWidgetKiB <= 25, baseline: `${base.rssPerWidgetKiB} KiB`, ratio: ratio(bridge.rssPerWidgetKiB, base.rssPerWidgetKiB) },
        { label: 'heap per widget (after GC)', figure: `${bridge.heapPerWidgetKiB} KiB`, target: '—', met: null, baseline: `${base.heapPerWidgetKiB} KiB`, ratio: ratio(bridge.heapPerWidgetKiB, base.heapPerWidgetKiB) },
        { label: 'connect rate', figure: `${bridge.connectsPerSecond}/s`, target: '≥ 3000/s', met: bridge.connectsPerSecond >= 3000, baseline: `${base.connectsPerSecond}/s`, ratio: ratio(bridge.connectsPerSecond, base.connectsPerSecond) },
        { label: 'server CPU during ramp', figure: `${Math.round(bridge.serverCpu * 100)} %`, target: '—', met: null, baseline: `${Math.round(base.serverCpu * 100)} %` },
        { label: 'connect p50 / p99 (from due time)', figure: `${bridge.connectP50Ms} / ${bridge.connectP99Ms} ms`, target: '—', met: null, baseline: `${base.connectP50Ms} / ${base.connectP99Ms} ms` },
        { label: 'server CPU per connect', figure: `${bridge.serverCpuPerConnectUs} µs`, target: '≤ 333 µs (3000/s on one core)', met: bridge.serverCpuPerConnectUs <= 333, baseline: `${base.serverCpuPerConnectUs} µs`, ratio: ratio(bridge.serverCpuPerConnectUs, base.serverCpuPerConnectUs) },
      ],
      failures: bridge.failed ? [`scenario 4: ${bridge.failed} widgets could not connect`] : [],
      notes: [
        `${count} widgets offered at ${OFFERED_PER_SECOND}/s (open loop), at most ${IN_FLIGHT} in flight (later arrivals queue; p99 queueing ${bridge.queuedP99Ms} ms, baseline ${base.queuedP99Ms} ms). Each speaks the widget's own frames over a raw WebSocket (lib/wire-visitor.ts): handshake with the fresh widget's auth, session, then the history page + sync it requests (baseline: sync alone, it has no history event); a widget counts once its sync is acked. No messages (page views write nothing). Server RSS ${bridge.rssBeforeMb} → ${bridge.rssAfterMb} MB (baseline ${base.rssBeforeMb} → ${base.rssAfterMb} MB).`,
        `Generator CPU during ramp: baseline ${base.generatorCpu}, bridge ${bridge.generatorCpu} of one core (${base.generatorCpuPerConnectUs} / ${bridge.generatorCpuPerConnectUs} µs per connect)${Math.max(base.generatorCpu, bridge.generatorCpu) > 0.9 ? ' — the generator was saturated, so connect rates are a lower bound' : ''}.`,
        `Raised limits: ${bridge.limits}.`,
      ],
      data: { count, baseline: base, bridge },
    };
  },
};
