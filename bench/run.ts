/**
 * `npm run bench` — every scenario of issue #7 against the bridge and, in the same run, the bare Socket.IO
 * baseline, then scenario 9 (the PostgreSQL engine, 1 and 2 nodes, vs the lowdb node). `npm run bench -- --quick`
 * runs a tiny version of scenarios 1–8 (the smoke run of `npm test`); `--only=1,3` picks scenarios (`--only=10`: the
 * A/B of the library patches, which no default run includes); `--widget-dir=dist/widget` lets scenario 8 load that
 * build instead of building the widget itself.
 * Writes bench/results/latest.{json,md} (quick: quick.{json,md}); a full run also regenerates docs/performance.md
 * and docs/bench-chart.svg. Exits non-zero only when a correctness check fails (lost or duplicated messages) or a
 * scenario cannot run — never because a timing target was missed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pinSelf } from './lib/server-process.ts';
import { bridgeNodeFlags, stopSharedTargets } from './lib/targets.ts';
import { fsyncProbe, machineInfo } from './lib/machine.ts';
import { consoleLines, markdown, performanceDoc, write } from './lib/report.ts';
import { renderChart } from './lib/chart.ts';
import type { Mode, Scenario, ScenarioResult } from './lib/scenario.ts';
import { latencyScenario } from './scenarios/s1-latency.ts';
import { lifecycleScenario, sustainedScenario } from './scenarios/s2-s3-chat.ts';
import { idleScenario } from './scenarios/s4-idle.ts';
import { storageScenario } from './scenarios/s5-storage.ts';
import { webhookScenario } from './scenarios/s6-webhooks.ts';
import { restartScenario } from './scenarios/s7-restart.ts';
import { widgetScenario } from './scenarios/s8-widget.ts';
import { postgresScenario } from './scenarios/s9-postgres.ts';
import { patchesScenario } from './scenarios/s10-patches.ts';
import { uploadScenario } from './scenarios/s11-uploads.ts';
import { stopBenchPostgres } from './lib/bench-postgres.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SCENARIOS: Scenario[] = [
  latencyScenario,
  sustainedScenario,
  lifecycleScenario,
  idleScenario,
  storageScenario,
  webhookScenario,
  restartScenario,
  widgetScenario,
  postgresScenario,
  patchesScenario,
  uploadScenario,
];
/**
 * Scenarios a run without --only includes: the quick smoke run stays on the PostgreSQL-free ones (1–8, 11); scenario
 * 10 (the library patches' A/B) only runs when asked for.
 */
const DEFAULT_IDS: Record<Mode, ReadonlySet<number>> = { quick: new Set([1, 2, 3, 4, 5, 6, 7, 8, 11]), full: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 11]) };

/** Bound of one quick scenario: only a hung server or client reaches it, even on a 2-core machine running a whole suite. */
const QUICK_SCENARIO_LIMIT_MS = 400_000;

const USAGE = 'usage: npm run bench -- [--quick] [--only=1,3] [--widget-dir=dist/widget] [--profile]';
let parsed;
try {
  parsed = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, 'widget-dir': { type: 'string' }, profile: { type: 'boolean', default: false } },
  });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const options = parsed.values;
const mode: Mode = options.quick ? 'quick' : 'full';
const only = options.only === undefined ? undefined : new Set(options.only.split(',').map(Number));
if (only && [...only].some((id) => !SCENARIOS.some((s) => s.id === id))) {
  process.stderr.write(`--only takes scenario numbers ${SCENARIOS.map((s) => s.id).join(', ')}\n${USAGE}\n`);
  process.exit(2);
}
const widgetDir = options['widget-dir'] === undefined ? undefined : resolve(options['widget-dir']);
const selected = SCENARIOS.filter((s) => (only ? only.has(s.id) : DEFAULT_IDS[mode].has(s.id)));
if (options.profile) {
  // Every bridge process writes a V8 CPU profile on exit; `tsx bench/profile-summary.ts <file>` summarises one.
  bridgeNodeFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(ROOT, 'bench/results/profiles')}`);
}

const machine = machineInfo();
// The generator (this process) takes core 1; servers under test are pinned to core 0 when they start.
const pinned = pinSelf(1);
const log = (line: string) => process.stdout.write(`${line}\n`);
log(`anon-chat bench (${mode}) — ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.commit}`);
log(`load average at start: ${machine.loadAverageAtStart.join(' / ')}; ${pinned ? machine.pinned : 'not pinned'}`);
log(`write + fdatasync: p50 ${machine.fsyncAtStart.p50} ms, p99 ${machine.fsyncAtStart.p99} ms, max ${machine.fsyncAtStart.max} ms`);

const started = performance.now();
const results: ScenarioResult[] = [];
const crashed: string[] = [];
for (const scenario of selected) {
  const load = Math.round(loadavg()[0]! * 100) / 100;
  log(`\n▶ ${scenario.id}. ${scenario.title} (1-min load average ${load})`);
  const t0 = performance.now();
  try {
    // Every scenario is bounded in time as a whole too: a hung server must not hang the run. A quick scenario takes
    // seconds on a quiet machine; the bound leaves room for a 2-core machine shared with a whole test suite.
    const limitMs = mode === 'quick' ? QUICK_SCENARIO_LIMIT_MS : (scenario.fullTimeLimitMs ?? 900_000);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      scenario.run({ mode, log, widgetDir }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`waited ${limitMs / 1000} s for scenario ${scenario.id} (${scenario.title}) to finish (1-min load average now ${loadavg()[0]!.toFixed(1)}): a hung server or client`)),
          limitMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    result.notes.push(`Ran ${((performance.now() - t0) / 1000).toFixed(0)} s from ${new Date(Date.now() - (performance.now() - t0)).toISOString().slice(11, 19)} UTC; 1-min load average ${load} at its start.`);
    results.push(result);
    for (const line of consoleLines(result)) log(line);
  } catch (error) {
    const message = `scenario ${scenario.id} could not run: ${(error as Error).stack ?? String(error)}`;
    crashed.push(message);
    log(`  ✖ ${message}`);
    results.push({ id: scenario.id, title: scenario.title, rows: [], failures: [`did not run: ${(error as Error).message}`], notes: [], data: {} });
  }
  log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
await stopSharedTargets();
await stopBenchPostgres();
const totalSeconds = (performance.now() - started) / 1000;
machine.loadAverageAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
machine.fsyncAtEnd = fsyncProbe();

// A partial run (--only) never replaces the full run's results.
const name = mode === 'quick' ? 'quick' : only ? 'partial' : 'latest';
const report = markdown(machine, results, mode, totalSeconds);
write(resolve(ROOT, `bench/results/${name}.json`), `${JSON.stringify({ mode, machine, totalSeconds, results }, null, 2)}\n`);
write(resolve(ROOT, `bench/results/${name}.md`), report);
if (mode === 'full' && !only) {
  write(resolve(ROOT, 'docs/bench-chart.svg'), renderChart(results));
  const docPath = resolve(ROOT, 'docs/performance.md');
  write(docPath, performanceDoc(report, existsSync(docPath) ? readFileSync(docPath, 'utf8') : ''));
}

const failures = results.flatMap((r) => r.failures);
log(`\nbench ${mode} finished in ${totalSeconds.toFixed(1)} s; results in bench/results/${name}.json and .md`);
if (failures.length) {
  log(`\n${failures.length} correctness failure(s):`);
  for (const f of failures) log(`  ✖ ${f}`);
}
// Sockets, timers and child pipes may still be open; the run is over.
process.exit(failures.length ? 1 : 0);

