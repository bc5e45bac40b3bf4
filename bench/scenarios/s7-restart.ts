/**
 * Scenario 7 — restart storm: N widgets connected (each with a conversation and an agent reply it must not
 * lose), the server is killed with SIGKILL right after the last reply is acked, and restarted on the same port
 * and data dir. Clients reconnect on the widget's own schedule (WebSocket; `RECONNECT_BACKOFF` of
 * widget/transports/socket-transport.ts), carrying their token and last revision; each then syncs. A widget counts as caught up when its
 * post-restart sync has completed and it holds the agent's reply.
 */
import { rmSync } from 'node:fs';
import { emitAck, inWaves, openAgent, sleep } from '../lib/clients.ts';
import { WireVisitor } from '../lib/wire-visitor.ts';
import { backoffDelay } from '../../protocol/backoff.ts';
import { RECONNECT_BACKOFF } from '../../widget/transports/socket-transport.ts';
import { Target, type TargetKind } from '../lib/targets.ts';
import { Histogram } from '../lib/histogram.ts';
import { ratio, type Scenario, type ScenarioContext, type ScenarioResult } from '../lib/scenario.ts';

interface Widget {
  /** The widget's own wire traffic over a raw WebSocket (lib/wire-visitor.ts); the agent stays on socket.io-client. */
  socket: WireVisitor;
  conversationId: string;
  token: string;
  rev: number;
  hasReply: boolean;
  replyViaSync: boolean;
  reconnectedAt: number;
  caughtUpAt: number;
  duplicates: number;
  /** Cancels any scheduled retry and closes the socket for good. */
  close: () => void;
}

interface SyncPage {
  messages: { clientId: string; rev: number }[];
  rev: number;
  hasMore: boolean;
}

interface SyncAck {
  ok: boolean;
  data?: SyncPage;
}

/** The `session` fields the bench reads; `catchUp` only when the bridge sends the first sync page with it. */
interface Session {
  token: string;
  conversationId: string;
  catchUp?: SyncPage & { afterRev: number };
}

// The widget's own retry schedule (RECONNECT_BACKOFF): socket.io-client's backoff is slower than the widget's, so
// the bench schedules retries itself.

function openWidget(url: string, i: number): Promise<Widget> {
  const w: Widget = { socket: undefined as unknown as WireVisitor, conversationId: '', token: '', rev: 0, hasReply: false, replyViaSync: false, reconnectedAt: 0, caughtUpAt: 0, duplicates: 0, close: () => {} };
  const replyId = `s7-reply-${i}`;
  let killedAt = 0;
  let attempt = 0;
  let closed = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  const retry = (): void => {
    clearTimeout(retryTimer);
    if (closed) return;
    retryTimer = setTimeout(() => w.socket.connect(), backoffDelay(RECONNECT_BACKOFF, ++attempt));
  };
  w.close = () => {
    closed = true;
    clearTimeout(retryTimer);
    w.socket.close();
  };
  let onSession: (session: Session) => Promise<void> | void = () => {};
  // The widget's handshake: its token and last revision once it has them (the bridge replays from there).
  w.socket = new WireVisitor(url, () => (w.token ? { token: w.token, afterRev: w.rev } : {}), {
    // Like the widget: a lost connection and a refused attempt both schedule the next try; `session` resets the count.
    onDrop: retry,
    onEvent: (name, payload) => {
      if (name === 'message:new') {
        const m = payload as { clientId: string; rev: number };
        if (m.clientId === replyId) w.hasReply = true;
        w.rev = Math.max(w.rev, m.rev);
      } else if (name === 'session') {
        void onSession(payload as Session);
      }
    },
  });
  (w as Widget & { arm: (t: number) => void }).arm = (t: number) => (killedAt = t);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.close();
      reject(new Error('widget: no session'));
    }, 20_000);
    onSession = async (session) => {
      attempt = 0;
      w.token = session.token;
      if (!w.conversationId) {
        w.conversationId = session.conversationId;
        clearTimeout(timer);
        resolve(w);
        return;
      }
      if (!killedAt) return;
      if (session.conversationId !== w.conversationId) w.duplicates++;
      w.reconnectedAt = performance.now();
      // Catch up like the widget: page through `sync` from the last revision it holds — starting from the page a
      // `session` may carry (protocol/events.ts `catchUp`) when it was read from that same revision.
      let first: SyncAck | undefined = session.catchUp?.afterRev === w.rev ? { ok: true, data: session.catchUp } : undefined;
      for (let page = 0; page < 20; page++) {
        let res: SyncAck;
        try {
          res = first ?? (await w.socket.emitAck<SyncAck>('sync', { afterRev: w.rev }, 10_000));
          first = undefined;
        } catch {
          return;
        }
        if (!res.ok || !res.data) return;
        for (const m of res.data.messages) {
          if (m.clientId === replyId && !w.hasReply) {
            w.hasReply = true;
            w.replyViaSync = true;
          }
        }
        w.rev = Math.max(w.rev, res.data.rev);
        if (!res.data.hasMore) break;
      }
      if (w.hasReply) w.caughtUpAt = performance.now();
    };
    w.socket.connect();
  });
}

async function measure(kind: TargetKind, count: number, ctx: ScenarioContext) {
  const limits = { RATE_LIMIT_CONNECTIONS_PER_MINUTE: 2 * count + 100, RATE_LIMIT_MESSAGES_PER_MINUTE: count + 10 };
  let target = await Target.start(kind, { limits });
  const port = target.server.port;
  const dataDir = target.dataDir;
  const widgets: Widget[] = [];
  try {
    const agent = await openAgent(target.url, await target.agentToken());
    widgets.push(...(await inWaves(count, 100, (i) => openWidget(target.url, i))));
    await inWaves(count, 100, async (i) => {
      const w = widgets[i]!;
      const ack = await w.socket.emitAck<{ ok: boolean }>('message:send', { clientId: `s7-hello-${i}`, text: 'hello' });
      if (!ack.ok) throw new Error('scenario 7: first message refused');
    });
    // Every reply is acked (durable) before the kill; whether its push reached the widget is left to chance.
    await inWaves(count, 200, async (i) => {
      const ack = await emitAck<{ ok: boolean }>(agent, 'message:send', { conversationId: widgets[i]!.conversationId, clientId: `s7-reply-${i}`, text: 'we are here' });
      if (!ack.ok) throw new Error('scenario 7: reply refused');
    });
    agent.close();
    const killedAt = performance.now();
    const pushedBeforeKill = widgets.filter((w) => w.hasReply).length;
    for (const w of widgets) (w as Widget & { arm: (t: number) => void }).arm(killedAt);
    await target.stop('SIGKILL', true);
    const restartStart = performance.now();
    target = await Target.start(kind, { limits, port, ...(dataDir ? { dataDir } : {}) });
    const restartMs = performance.now() - restartStart;
    // Server CPU (from /proc) separates the server's own cost from scheduling on a shared machine: to start, and
    // for taking the widgets back (from listening until every widget is back or the bound).
    const startCpu = target.server.cpuSeconds();
    const gen0 = process.cpuUsage();
    // A wait for the state (every widget back), left as soon as it holds: quick mode's bound is only for a hung
    // bridge, since a missing widget is a correctness failure there and a loaded 2-core machine can be slow.
    const deadline = performance.now() + (ctx.mode === 'quick' ? 180_000 : 60_000);
    const done = (w: Widget) => (kind === 'bridge' ? w.caughtUpAt > 0 : w.reconnectedAt > 0);
    while (performance.now() < deadline && !widgets.every(done)) await sleep(50);
    const takeBackCpu = target.server.cpuSeconds() - startCpu;
    const genUsage = process.cpuUsage(gen0);
    const generatorCpuMs = (genUsage.user + genUsage.system) / 1000;
    const reconnect = new Histogram();
    const caughtUp = new Histogram();
    for (const w of widgets) {
      if (w.reconnectedAt) reconnect.record(w.reconnectedAt - killedAt);
      if (w.caughtUpAt) caughtUp.record(w.caughtUpAt - killedAt);
    }
    // Durability check apart from the timing: every acked reply must be in storage after the SIGKILL, whether or
    // not its push had arrived before (a sync from revision 0 reads it back from the restarted bridge).
    let stored = 0;
    if (kind === 'bridge') {
      await inWaves(count, 100, async (i) => {
        const w = widgets[i]!;
        if (!w.socket.connected) return;
        try {
          const res = await w.socket.emitAck<SyncAck>('sync', { afterRev: 0 }, 10_000);
          if (res.ok && res.data?.messages.some((m) => m.clientId === `s7-reply-${i}`)) stored++;
        } catch {
          // Counted as missing below.
        }
      });
    }
    const measureOf = kind === 'bridge' ? caughtUp : reconnect;
    const result = {
      widgets: count,
      restartMs: Math.round(restartMs),
      startCpuMs: Math.round(startCpu * 1000),
      cpuPerReconnectUs: Math.round((takeBackCpu * 1e6) / Math.max(1, widgets.filter(done).length)),
      generatorCpuPerWidgetUs: Math.round((generatorCpuMs * 1000) / Math.max(1, widgets.filter(done).length)),
      storeOpenMs: target.server.info.storeOpenMs as number | undefined,
      reconnected: reconnect.count,
      caughtUp: caughtUp.count,
      p95Ms: Math.round(measureOf.percentile(0.95)),
      p100Ms: measureOf.count === count ? Math.round(measureOf.percentile(1)) : Number.NaN,
      reconnectP95Ms: Math.round(reconnect.percentile(0.95)),
      pushedBeforeKill,
      repliesViaSync: widgets.filter((w) => w.replyViaSync).length,
      lost: kind === 'bridge' ? count - stored : 0,
      notCaughtUp: kind === 'bridge' ? widgets.filter((w) => !w.caughtUpAt).length : widgets.filter((w) => !w.reconnectedAt).length,
      conversationChanged: widgets.reduce((n, w) => n + w.duplicates, 0),
      limits: target.limitsNote(),
    };
    ctx.log(`  ${kind}: restart ${result.restartMs} ms (${result.startCpuMs} ms CPU), ${kind === 'bridge' ? 'caught up' : 'reconnected'} p95 ${result.p95Ms} ms, 100 % ${result.p100Ms} ms, ${result.cpuPerReconnectUs} µs CPU per widget back (generator ${result.generatorCpuPerWidgetUs} µs), lost ${result.lost}`);
    return result;
  } finally {
    for (const w of widgets) w.close();
    await target.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Scenario 7. */
export const restartScenario: Scenario = {
  id: 7,
  title: 'Restart storm: connected widgets, server killed (SIGKILL) and restarted',
  async run(ctx): Promise<ScenarioResult> {
    const count = ctx.mode === 'quick' ? 10 : 5_000;
    const base = await measure('baseline', count, ctx);
    const bridge = await measure('bridge', count, ctx);
    const failures: string[] = [];
    if (bridge.lost) failures.push(`scenario 7: ${bridge.lost} acked replies missing after restart`);
    if (bridge.notCaughtUp) failures.push(`scenario 7: ${bridge.notCaughtUp} widgets never reconnected and caught up`);
    if (bridge.conversationChanged) failures.push(`scenario 7: ${bridge.conversationChanged} widgets came back to a different conversation`);
    return {
      id: 7,
      title: this.title,
      rows: [
        { label: '95 % reconnected + caught up', figure: `${bridge.p95Ms} ms`, target: '≤ 3000 ms', met: bridge.p95Ms <= 3000, baseline: `${base.p95Ms} ms (reconnect only)`, ratio: ratio(bridge.p95Ms, base.p95Ms) },
        { label: '100 % reconnected + caught up', figure: `${bridge.p100Ms} ms`, target: '—', met: null, baseline: `${base.p100Ms} ms (reconnect only)`, ratio: ratio(bridge.p100Ms, base.p100Ms) },
        { label: 'server restart (spawn → listening)', figure: `${bridge.restartMs} ms`, target: '—', met: null, baseline: `${base.restartMs} ms` },
        { label: 'server CPU to start', figure: `${bridge.startCpuMs} ms`, target: '—', met: null, baseline: `${base.startCpuMs} ms` },
        { label: 'server CPU per widget taken back', figure: `${bridge.cpuPerReconnectUs} µs`, target: '—', met: null, baseline: `${base.cpuPerReconnectUs} µs (reconnect only)`, ratio: ratio(bridge.cpuPerReconnectUs, base.cpuPerReconnectUs) },
        { label: 'acked replies lost (read back after restart)', figure: `${bridge.lost}`, target: '0', met: bridge.lost === 0 },
        { label: 'widgets not back within the bound', figure: `${bridge.notCaughtUp}`, target: '0', met: bridge.notCaughtUp === 0, baseline: `${base.notCaughtUp}` },
      ],
      failures,
      notes: [
        `${count} widgets, each with its own conversation (1 visitor message + 1 acked agent reply); SIGKILL right after the last ack; ${bridge.pushedBeforeKill} replies had been pushed before the kill, ${bridge.repliesViaSync} arrived through replay/sync after it. Times are from the kill; the restart (node on the esbuild bundle, as \`npm start\` runs it; store open ${bridge.storeOpenMs} ms) is included. CPU per widget taken back = server CPU from listening until all were back ÷ widgets back (bridge: reconnect + session with catch-up; sync only for long gaps).`,
        `Each widget speaks the widget's own frames over a raw WebSocket (lib/wire-visitor.ts; the agent uses socket.io-client); generator CPU per widget taken back: baseline ${base.generatorCpuPerWidgetUs} µs, bridge ${bridge.generatorCpuPerWidgetUs} µs. Clients retry on the widget's schedule (socket-transport.ts: attempt n after 125 ms … min(1.5 s, 250 ms·2^(n-1)), uniform); the baseline keeps no state, so its figure is reconnection alone.`,
        `Raised limits: ${bridge.limits}.`,
      ],
      data: { count, baseline: base, bridge },
    };
  },
};
