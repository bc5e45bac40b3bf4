/**
 * Scenario 5 — storage growth: the real LowdbStore filled with 1k, 100k and 1M messages (bench/servers/
 * store-probe.ts, pinned to the server core), then per-append cost, event-loop blocking, cold start and bytes per
 * message at each size. There is no Socket.IO traffic, so the baseline has no counterpart: ratios here are to the
 * smallest size (flatness).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { canPin } from '../lib/server-process.ts';
import { SERVER_CORE } from '../lib/targets.ts';
import { ms, ratio, type Row, type Scenario, type ScenarioResult } from '../lib/scenario.ts';
import type { LatencySummary } from '../lib/histogram.ts';

interface SizeResult {
  size: number;
  filled: number;
  fillMs: number;
  fillRate: number;
  fillLoop: { p99: number; max: number; maxCpu: number };
  fillCheckpointMs: number;
  offeredRate: number;
  appended: number;
  failed: number;
  achievedRate: number;
  append: LatencySummary;
  cpuMicrosPerAppend: number;
  loop: { p99: number; max: number; maxCpu: number };
  bytesPerMessage: number;
  bytesOnDisk: number;
  openMs: number;
  firstReadMs: number;
  reopenedMessages: number;
  messages: number;
}

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Quick mode (the smoke run of `npm test`): bounds only a hung store reaches on a loaded 2-core machine. */
const QUICK_FILL_LIMIT_MS = 60_000;
const QUICK_PROBE_DEADLINE_MS = 300_000;

function probe(env: Record<string, string>, timeoutMs: number, log: (l: string) => void): Promise<SizeResult[]> {
  const nodeArgs = ['--import', 'tsx', resolve(ROOT, 'bench/servers/store-probe.ts')];
  const [cmd, args] = canPin ? ['taskset', ['-c', String(SERVER_CORE), process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const results: SizeResult[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.trim()) continue;
      const r = JSON.parse(line) as SizeResult;
      log(`  ${r.size} stored: fill ${r.fillRate}/s, append p50 ${ms(r.append.p50)} p99 ${ms(r.append.p99)}, ${r.cpuMicrosPerAppend} µs CPU/append, loop max ${ms(r.loop.max)}, open ${r.openMs} ms, ${r.bytesPerMessage} B/msg`);
      results.push(r);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  return new Promise((ok, fail) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok(results);
      else if (expired) fail(new Error(`waited ${timeoutMs / 1000} s for the store probe to fill and measure sizes ${env.SIZES} (${results.length} reported); killed it\n${stderr}`));
      else fail(new Error(`store probe exited with ${code ?? signal}\n${stderr}`));
    });
  });
}

/** Scenario 5. */
export const storageScenario: Scenario = {
  id: 5,
  title: 'Storage growth: persist cost and loop blocking with 1k / 100k / 1M stored',
  async run(ctx): Promise<ScenarioResult> {
    const sizes = ctx.mode === 'quick' ? [200, 400] : [1_000, 100_000, 1_000_000];
    const env = {
      SIZES: sizes.join(','),
      CONVERSATIONS: ctx.mode === 'quick' ? '20' : '1000',
      PROBE_RATE: '2000',
      PROBE_MS: ctx.mode === 'quick' ? '200' : '5000',
      FILL_LIMIT_MS: String(ctx.mode === 'quick' ? QUICK_FILL_LIMIT_MS : 400_000),
    };
    const results = await probe(env, ctx.mode === 'quick' ? QUICK_PROBE_DEADLINE_MS : 900_000, ctx.log);
    const first = results[0]!;
    const rows: Row[] = [];
    for (const r of results) {
      const isFirst = r === first;
      const p50Ratio = ratio(r.append.p50, first.append.p50);
      const cpuRatio = ratio(r.cpuMicrosPerAppend, first.cpuMicrosPerAppend);
      const flat = (x: number | undefined) => x !== undefined && x >= 0.8 && x <= 1.2;
      const label = r.size >= 1e6 ? `${r.size / 1e6}M` : `${r.size / 1e3}k`;
      rows.push(
        { label: `${label}: append p50 / p99`, figure: `${ms(r.append.p50)} / ${ms(r.append.p99)}`, target: isFirst ? 'reference' : 'p50 within ±20 % of 1k', met: isFirst ? null : flat(p50Ratio), baseline: isFirst ? undefined : `${ms(first.append.p50)} (1k)`, ratio: isFirst ? undefined : p50Ratio },
        { label: `${label}: CPU per append`, figure: `${r.cpuMicrosPerAppend} µs`, target: isFirst ? 'reference' : 'within ±20 % of 1k', met: isFirst ? null : flat(cpuRatio), baseline: isFirst ? undefined : `${first.cpuMicrosPerAppend} µs (1k)`, ratio: isFirst ? undefined : cpuRatio },
        { label: `${label}: max loop block, appending (wall / own CPU)`, figure: `${ms(r.loop.max)} / ${ms(r.loop.maxCpu)}`, target: '≤ 5 ms', met: r.loop.max <= 5 ? true : r.loop.maxCpu <= 5 ? null : false },
        { label: `${label}: max loop block, filling (wall / own CPU)`, figure: `${ms(r.fillLoop.max)} / ${ms(r.fillLoop.maxCpu)}`, target: '—', met: null },
        { label: `${label}: cold start (open) / first read`, figure: `${r.openMs} ms / ${ms(r.firstReadMs)}`, target: r.size >= 1e6 ? '≤ 3000 ms' : '—', met: r.size >= 1e6 ? r.openMs <= 3000 : null },
        { label: `${label}: bytes on disk per message`, figure: `${r.bytesPerMessage} B`, target: '—', met: null },
        { label: `${label}: messages filled (fill time bound ${Number(env.FILL_LIMIT_MS) / 1000} s)`, figure: `${r.filled} of ${r.size} in ${r.fillMs} ms`, target: 'all', met: r.filled >= r.size },
      );
    }
    const failures: string[] = [];
    for (const r of results) {
      if (r.failed) failures.push(`scenario 5 @ ${r.size}: ${r.failed} appends rejected`);
      if (r.reopenedMessages !== r.messages) failures.push(`scenario 5 @ ${r.size}: ${r.messages} appended, ${r.reopenedMessages} after reopen`);
      // A full run measures at the sizes it names, so a short fill spoils its figures; in quick mode it only means
      // a slow machine, and the row above reports it.
      if (r.filled < r.size && ctx.mode !== 'quick') failures.push(`scenario 5: fill stopped at ${r.filled} of ${r.size} (time bound ${Number(env.FILL_LIMIT_MS) / 1000} s)`);
    }
    return {
      id: 5,
      title: this.title,
      rows,
      failures,
      notes: [
        `Store only (no sockets): an unreported pass at the first size warms V8 up first (so the first reported size does not pay the JIT alone); then 1,000 conversations, filled with one append in flight per conversation (fill rates: ${results.map((r) => `${r.fillRate}/s`).join(', ')}), then a checkpoint of the fill's backlog (${results.map((r) => `${r.fillCheckpointMs} ms`).join(', ')}), then appends offered at ${env.PROBE_RATE}/s for ${Number(env.PROBE_MS) / 1000} s; latency is call → durable (fsynced) resolve. A checkpoint is forced in the middle of each measurement. Loop block = longest gap between 1 ms timer ticks; "own CPU" = CPU this process used during that gap (a gap without CPU is the OS running other work, shown as unmet-unknown rather than a miss). The fill (as fast as possible) is reported apart. Short message: "${'Hi! A short chat message from the bench.'}" (40 chars).`,
        `Cold start = new LowdbStore + open() on the closed directory (module loading excluded; scenario 7 shows a whole process restart).`,
      ],
      data: { sizes, results },
    };
  },
};
