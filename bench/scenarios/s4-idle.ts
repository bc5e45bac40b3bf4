/**
 * Scenario 4 — idle capacity: widgets (a visitor socket with its session and room, no messages) are connected
 * as fast as the server accepts them, up to the target count, with a bounded number of handshakes in flight.
 * Connect rate = widgets ÷ ramp time; memory = server RSS after a full GC with the widgets connected minus
 * before, per widget.
 */
import type { Socket } from 'socket.io-client';
import { cpuShare } from '../lib/open-loop.ts';
import { inWaves, openVisitor, sleep } from '../lib/clients.ts';
import { Target, type TargetKind } from '../lib/targets.ts';
import { ratio, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';

const IN_FLIGHT = 200;

async function measure(kind: TargetKind, count: number, ctx: ScenarioContext) {
  const target = await Target.start(kind, { limits: { RATE_LIMIT_CONNECTIONS_PER_MINUTE: count + 100 } });
  const sockets: Socket[] = [];
  try {
    // Warm the handshake path so JIT compilation is not billed to the first widgets, then measure from a clean GC.
    const warm = await inWaves(50, 10, () => openVisitor(target.url));
    for (const w of warm) w.socket.close();
    await sleep(500);
    const before = await target.server.stats({ gc: true });
    const cpu0 = target.server.cpuSeconds();
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    let failed = 0;
    const deadline = t0 + (ctx.mode === 'quick' ? 20_000 : 120_000);
    await inWaves(count, IN_FLIGHT, async () => {
      if (performance.now() > deadline) return;
      try {
        sockets.push((await openVisitor(target.url, {}, 20_000)).socket);
      } catch {
        failed++;
      }
    });
    const rampMs = performance.now() - t0;
    const serverCpu = (target.server.cpuSeconds() - cpu0) / (rampMs / 1000);
    const generatorCpu = cpuShare(gen0, rampMs);
    await sleep(1000);
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
      serverCpuPerConnectUs: Math.round(((serverCpu * rampMs) / 1000 / Math.max(1, sockets.length)) * 1e6),
      generatorCpu,
      limits: target.limitsNote(),
    };
    ctx.log(`  ${kind}: ${result.widgets} widgets in ${result.rampMs} ms (${result.connectsPerSecond}/s), ${result.rssPerWidgetKiB} KiB RSS each, failed ${failed}`);
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
    const count = ctx.mode === 'quick' ? 500 : 15_000;
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
        { label: 'server CPU per connect', figure: `${bridge.serverCpuPerConnectUs} µs`, target: '≤ 333 µs (3000/s on one core)', met: bridge.serverCpuPerConnectUs <= 333, baseline: `${base.serverCpuPerConnectUs} µs`, ratio: ratio(bridge.serverCpuPerConnectUs, base.serverCpuPerConnectUs) },
      ],
      failures: bridge.failed ? [`scenario 4: ${bridge.failed} widgets could not connect`] : [],
      notes: [
        `${count} visitor sockets over WebSocket (as the widget connects), ${IN_FLIGHT} handshakes in flight, no messages (page views write nothing). Server RSS ${bridge.rssBeforeMb} → ${bridge.rssAfterMb} MB (baseline ${base.rssBeforeMb} → ${base.rssAfterMb} MB).`,
        `Generator CPU during ramp: baseline ${base.generatorCpu}, bridge ${bridge.generatorCpu} of one core${Math.max(base.generatorCpu, bridge.generatorCpu) > 0.9 ? ' — the generator was saturated, so connect rates are a lower bound' : ''}.`,
        `Raised limits: ${bridge.limits}.`,
      ],
      data: { count, baseline: base, bridge },
    };
  },
};
