/**
 * `npm run torture`: the long version of the reliability suite. Runs every case at its long size (or the CI size
 * with `--ci`, or only the cases named on the command line), prints what each tried and what held as a summary
 * table, and merges the figures by case into torture/last-run.json for docs/reliability.md.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** One row of the summary: what a case tried, what held, and whether it passed. */
interface CaseResult {
  name: string;
  tried: string;
  held: string;
  pass: boolean;
  ms: number;
  figures?: unknown;
}

type Size = 'ci' | 'long';

/** A case: runs at a size (and the fuzz seed, when one was given), returns its row. Imported lazily so one case's missing part does not stop the others. */
type CaseRunner = (size: Size, seed?: number) => Promise<Omit<CaseResult, 'name' | 'ms'>>;

const CASES: Record<string, CaseRunner> = {
  crash: async (size) => {
    const { runCrash } = await import('./crash.ts');
    const f = await runCrash({
      kills: size === 'ci' ? 18 : 500,
      checkpointKills: size === 'ci' ? 6 : 100,
      clients: size === 'ci' ? 10 : 20,
      onProgress: (k) => {
        if (k % 50 === 0) process.stdout.write(`  crash: ${k} kills\n`);
      },
    });
    return {
      tried:
        `${f.kills} SIGKILLs: ${f.killsBy.checkpoint} during a checkpoint (${f.forcedCheckpointKills} forced, proven on the frozen process's disk; the others: log and disk agree), ${f.killsBy.startup} during start-up, ${f.killsBy['journal-writes']} during journal writes, ${f.killsBy.idle} idle (at named points ${JSON.stringify(f.killsAt)}); ` +
        `${f.checkpointLifetimes}/${f.lifetimes} lifetimes with CHECKPOINT_INTERVAL_MS=50 CHECKPOINT_BYTES=4096 (${f.checkpointsFinished} checkpoints finished, p50 ${f.checkpointP50Ms} ms); ${f.clients} clients, ${f.acked} acked sends, mean restart ${f.meanRestartMs} ms`,
      held: `lost ${f.lost}, duplicates ${f.duplicates}, unreadable ${f.unreadable}, undelivered ${f.undelivered}, seq errors ${f.seqErrors}, checkpoint kills ${f.killsBy.checkpoint}`,
      pass:
        f.lost === 0 &&
        f.duplicates === 0 &&
        f.unreadable === 0 &&
        f.undelivered === 0 &&
        f.seqErrors === 0 &&
        f.refused === 0 &&
        f.problems.length === 0,
      figures: f,
    };
  },
  'corrupt-start': async () => {
    const { seedDataDir, runCorruptStarts } = await import('./corrupt-start.ts');
    const rows: Awaited<ReturnType<typeof runCorruptStarts>> = [];
    for (const stop of ['graceful', 'kill'] as const) {
      const seed = await seedDataDir(5, stop);
      try {
        rows.push(...(await runCorruptStarts(seed, ['empty', 'truncated', 'zero-filled', 'invalid-json'])));
      } finally {
        rmSync(seed.dir, { recursive: true, force: true });
      }
    }
    const good = ['refused-naming-file', 'refused-at-first-use-naming-file', 'recovered-intact'];
    const bad = rows.filter((r) => !good.includes(r.outcome));
    const count = (o: string) => rows.filter((r) => r.outcome === o).length;
    return {
      tried: `${rows.length} damaged starts of bridge/main.ts (every data file × 4 damages, after a graceful stop and after SIGKILL)`,
      held: `refused naming the file ${count('refused-naming-file')}, at first use naming it ${count('refused-at-first-use-naming-file')}, recovered intact ${count('recovered-intact')}; bad ${bad.length}${bad.length ? ` (${[...new Set(bad.map((b) => `${b.file} ${b.corruption}: ${b.outcome}`))].slice(0, 4).join('; ')})` : ''}`,
      pass: bad.length === 0,
      figures: rows,
    };
  },
  'disk-full': async () => {
    const { canMountTmpfs, runDiskFull } = await import('./disk-full.ts');
    if (!canMountTmpfs()) return { tried: 'tmpfs mount refused here', held: 'not run', pass: true };
    const f = await runDiskFull();
    return {
      tried: `4 MB tmpfs filled to ENOSPC (live recovery + SIGKILL while full); data dir made read-only under uid 65534`,
      held: `acked while full ${f.ackedWhileFull}, errors ${JSON.stringify(f.errorsWhileFull)}, health ${f.healthWhileFull.status}, lost ${f.lost + f.permission.lost}, dup ${f.duplicates}`,
      pass: f.lost === 0 && f.duplicates === 0 && f.recoveredLive && f.permission.lost === 0 && f.problems.length === 0,
      figures: f,
    };
  },
  'wire-fuzz': async (size, seedOption) => {
    const { runWireFuzz } = await import('./wire-fuzz.ts');
    const seed = seedOption ?? (size === 'ci' ? 42 : Date.now());
    // Printed first: a run that crashes returns no figures, and the seed is what replays it (--seed=N).
    process.stdout.write(`  wire-fuzz: seed ${seed}\n`);
    const f = await runWireFuzz({ target: size === 'ci' ? 10_000 : 100_000, seed });
    return {
      tried: `${f.requests} hostile requests (${f.socketEvents} socket events, ${f.httpRequests} HTTP bodies)`,
      held: `5xx ${f.status5xx}, accepted ${f.accepted}, storage changed ${f.stateChanged}, healthy ${f.healthyAfter}, oversized frames dropped ${f.oversizedDisconnects}, other findings ${f.details.length} (seed ${f.seed})`,
      // `details` lists anything else that went wrong (a frame below the limit dropped, a refused fetch): the CI test fails on it too.
      pass: f.status5xx === 0 && f.accepted === 0 && !f.stateChanged && f.healthyAfter && f.details.length === 0,
      figures: f,
    };
  },
  isolation: async (size) => {
    const { runIsolation } = await import('./isolation.ts');
    const f = await runIsolation({ minAttempts: size === 'ci' ? 1000 : 10_000, victims: size === 'ci' ? 6 : 20 });
    return {
      tried: `${f.attempts} attacks, ${f.visitors} visitors, ${f.eventsChecked} received events checked`,
      held: `successes ${f.successes}, foreign events ${f.foreignEvents}`,
      pass: f.successes === 0 && f.foreignEvents === 0,
      figures: f,
    };
  },
  abuse: async (size) => {
    const { runAbuse, minimumRefused } = await import('./abuse.ts');
    const f = await runAbuse({ windowMs: size === 'ci' ? 1500 : 6000, rounds: 5, halfOpen: size === 'ci' ? 2000 : 5000 });
    return {
      tried: `flood ${f.flood.ratePerSecond}/s, ${f.oversizedFrames.sent} 1 MB frames, ${f.oversizedBodies.sent} oversized bodies, ${f.halfOpen.opened} half-open connections; ${f.rounds.length} rounds of a quiet and an abuse window`,
      held: `p95 ${f.baselineP95Ms} → ${f.abuseP95Ms} ms (median round ratio ${f.medianRatio}×, target ≤ 2×, reported not judged: ${f.rounds.map((r) => r.ratio).join(', ')}), normal visitors undelivered ${f.normalUndelivered}, flood ok ${f.flood.ok}/limited ${f.flood.rateLimited}, rss ${f.usage.baseline.rssMb}/${f.usage.peak.rssMb}/${f.usage.after.rssMb} MB, fds ${f.usage.baseline.fds}/${f.usage.peak.fds}/${f.usage.after.fds}, half-open refused ${f.halfOpen.refused} (cap ${f.limits.maxConnectionsPerIp}) / 408 ${f.halfOpen.timedOut} within ${f.halfOpen.slowestCloseMs} ms / still open ${f.halfOpen.stillOpen}${f.generatorProblems.length ? `; generator problems: ${f.generatorProblems.slice(0, 3).join('; ')}` : ''}`,
      pass:
        f.bridgeAlive &&
        f.generatorProblems.length === 0 &&
        f.normalClientErrors.length === 0 &&
        f.normalUndelivered === 0 &&
        f.halfOpen.stillOpen === 0 &&
        f.halfOpen.refused + f.halfOpen.timedOut === f.halfOpen.opened &&
        f.halfOpen.refused >= minimumRefused(f.halfOpen.opened, f.limits.maxConnectionsPerIp, f.halfOpen.spanMs, f.limits.headersTimeoutMs) &&
        f.flood.unanswered === 0 &&
        f.oversizedFrames.disconnected === f.oversizedFrames.sent &&
        f.oversizedBodies.other.length === 0 &&
        f.usage.after.fds <= f.usage.baseline.fds + 3,
      figures: f,
    };
  },
  rendering: async () => {
    const { runRendering } = await import('./rendering.ts');
    const f = await runRendering();
    const bad = f.executions.length + f.cspViolations.length + f.injectedElements.length + f.beaconRequests.length + f.bundleFindings.length;
    return {
      tried: `${f.payloads} XSS payloads as visitor + agent messages; widget (strict CSP) and console in Chromium; bundle scan`,
      held: `rendered ${f.widgetRendered} (widget) / ${f.consoleRendered} (console); executions ${f.executions.length}, CSP violations ${f.cspViolations.length}, injected elements ${f.injectedElements.length}, eval/Function/unsafeHTML ${f.bundleFindings.length}`,
      pass: bad === 0 && f.trapsArmed,
      figures: f,
    };
  },
  outbound: async (size) => {
    const { runOutbound } = await import('./outbound.ts');
    const f = await runOutbound({ messages: size === 'ci' ? 5 : 50, deliverTimeoutMs: size === 'ci' ? 30_000 : 300_000 });
    const maxAttempts = Math.max(...Object.values(f.hostile).map((h) => h.maxAttemptsPerDelivery));
    return {
      tried: `${f.forbidden.urls} private-address receiver URLs; receivers ${Object.keys(f.hostile).join(', ')}; SIGKILL while one is down`,
      held: `requests to forbidden targets ${f.forbidden.requestsReceived}; max attempts/delivery ${maxAttempts} (limit ${f.maxAttemptsAllowed}); RSS ${f.rss.baselineMb} → ${f.rss.peakMb} MB; missing after restart ${f.restart.missing} (all delivered ${f.restart.secondsToDeliverAll} s after the restart)`,
      pass: f.forbidden.requestsReceived === 0 && maxAttempts <= f.maxAttemptsAllowed + 1 && f.rss.peakMb - f.rss.baselineMb < 50 && f.restart.missing === 0,
      figures: f,
    };
  },
  soak: async (size) => {
    const { MAX_HEAP_BYTES_PER_MESSAGE, MAX_HEAP_BYTES_PER_RECONNECT, runSoak } = await import('./soak.ts');
    const f = await runSoak({ durationMs: size === 'ci' ? 30_000 : 600_000 });
    return {
      tried: `${Math.round(f.durationMs / 1000)} s, ${f.messages} messages, ${f.agentReplies} agent replies, ${f.reconnects} reconnects`,
      held: `heap after GC ${f.heapWarmMb} → ${f.heapEndMb} MB (${f.heapBytesPerMessage} B/message, ${f.heapBytesPerIdleReconnect} B/idle reconnect), RSS ${f.rssWarmMb} → ${f.rssEndMb} MB (${f.rssGrowthPct} %), fds ${f.fdsWarm} → ${f.fdsEnd} (max ${f.fdsMax}), lost ${f.lost}, dup ${f.duplicates}, unhandled ${f.unhandledRejections}, p95 ack ${f.p95AckMs} ms`,
      pass: f.heapBytesPerMessage <= MAX_HEAP_BYTES_PER_MESSAGE && f.heapBytesPerIdleReconnect <= MAX_HEAP_BYTES_PER_RECONNECT && f.lost === 0 && f.duplicates === 0 && f.unhandledRejections === 0 && f.fdsEnd <= f.fdsWarm + 5,
      figures: f,
    };
  },
  dependencies: async () => {
    const { versionsBelowFloor, runAudit, PATCHED_FLOORS } = await import('./dependencies.ts');
    const root = join(import.meta.dirname, '..');
    const below = versionsBelowFloor(join(root, 'node_modules'));
    const audit = await runAudit(root);
    return {
      tried: `floors for ${Object.keys(PATCHED_FLOORS).join(', ')}; npm audit --omit=dev`,
      held: `below floor ${below.length}; ${audit.available ? `audit high/critical ${audit.highOrCritical.length}` : `audit unavailable (${audit.reason})`}`,
      pass: below.length === 0 && (!audit.available || audit.highOrCritical.length === 0),
      figures: { below, audit },
    };
  },
};

function table(rows: CaseResult[]): string {
  const cols = ['case', 'pass', 'time', 'tried', 'held'] as const;
  const data = rows.map((r) => ({ case: r.name, pass: r.pass ? 'PASS' : 'FAIL', time: `${(r.ms / 1000).toFixed(1)} s`, tried: r.tried, held: r.held }));
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...data.map((d) => d[c].length))])) as Record<(typeof cols)[number], number>;
  const line = (d: Record<string, string>) => `| ${cols.map((c) => d[c]!.padEnd(width[c])).join(' | ')} |`;
  return [line(Object.fromEntries(cols.map((c) => [c, c]))), `|${cols.map((c) => '-'.repeat(width[c] + 2)).join('|')}|`, ...data.map(line)].join('\n');
}

async function main(): Promise<void> {
  const usage = `usage: npm run torture -- [--ci] [--seed=N] [case …]; cases: ${Object.keys(CASES).join(', ')}`;
  let parsed;
  try {
    parsed = parseArgs({ options: { ci: { type: 'boolean', default: false }, seed: { type: 'string' } }, allowPositionals: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  const size: Size = parsed.values.ci ? 'ci' : 'long';
  const seed = parsed.values.seed === undefined ? undefined : Number(parsed.values.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    process.stderr.write(`--seed must be an integer\n${usage}\n`);
    process.exit(2);
  }
  const named = parsed.positionals;
  const unknown = named.filter((n) => !(n in CASES));
  if (unknown.length) {
    process.stderr.write(`unknown case(s): ${unknown.join(', ')}\n${usage}\n`);
    process.exit(2);
  }
  const selected = named.length ? named : Object.keys(CASES);
  const results: CaseResult[] = [];
  for (const name of selected) {
    const t0 = Date.now();
    process.stdout.write(`torture: ${name} (${size}) …\n`);
    try {
      const r = await CASES[name]!(size, seed);
      results.push({ name, ...r, ms: Date.now() - t0 });
    } catch (error) {
      process.stderr.write(`torture: ${name} crashed: ${(error as Error).stack ?? String(error)}\n`);
      results.push({ name, tried: 'crashed', held: (error as Error).message.split('\n')[0]!.slice(0, 200), pass: false, ms: Date.now() - t0 });
    }
    process.stdout.write(`torture: ${name} ${results.at(-1)!.pass ? 'PASS' : 'FAIL'} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  process.stdout.write(`\n${table(results)}\n`);
  // Merge by case, so cases run separately (one long case at a time) accumulate into one record.
  const file = join(import.meta.dirname, 'last-run.json');
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results: (CaseResult & { size?: Size; at?: string })[] }).results : [];
  const at = new Date().toISOString();
  const merged = [...previous.filter((r) => !results.some((x) => x.name === r.name)), ...results.map((r) => ({ ...r, size, at }))];
  writeFileSync(file, `${JSON.stringify({ results: merged }, null, 1)}\n`);
  process.exit(results.every((r) => r.pass) ? 0 : 1);
}

await main();
