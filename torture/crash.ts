/**
 * Case 1: the crash harness. Many visitors send steadily with client ids while a child bridge is SIGKILLed and
 * restarted on the same port and data dir; afterwards the data dir is opened with the real store and every acked
 * message must be there exactly once, every outbox delivered exactly once.
 * The kills follow a plan, so every run hits each place it promises, whatever the machine's load: a set number are
 * forced into a checkpoint (that lifetime checkpoints continuously; on its 'checkpoint started' log line the harness
 * watches the disk, freezes the process with SIGSTOP once the journal has rotated and the old generation is still
 * there, checks the frozen disk and only then sends SIGKILL), every third kills a bridge while it starts, the rest kill
 * a serving bridge inside a journal write. Those two freeze themselves at a named point (torture/kill-point.ts: the
 * lock taken, a journal being replayed, the commit mark about to be read; a batch about to be written, a batch
 * durable but not acked), taken in turn, and are SIGKILLed there.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import type { Message } from '../protocol/message.ts';
import { START_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { spawnBridge, spawnBridgeUnready, type BridgeChild, type ChildExit } from './bridge-process.ts';
import type { KillPoint } from './kill-point.ts';
import { percentile, TortureVisitor } from './visitor-client.ts';

/** Where a SIGKILL landed, judged from the bridge's log and the visitors' in-flight sends. */
export type KillPhase = 'checkpoint' | 'startup' | 'journal-writes' | 'idle';

/** Settings that make a bridge lifetime checkpoint all the time (the minimums the bridge accepts). */
export const CHECKPOINT_STRESS_ENV = { CHECKPOINT_INTERVAL_MS: '50', CHECKPOINT_BYTES: '4096' } as const;

/** What one crash run did and found. */
export interface CrashFigures {
  kills: number;
  /** Kills forced into a running checkpoint (each proven on the frozen process's disk); all count as `checkpoint`. */
  forcedCheckpointKills: number;
  /** Kills that hit a bridge while it was starting (opening the store, replaying the journal). */
  startupKills: number;
  /** Kills at each named point (start-up and journal-write kills), each proven by the frozen process's line. */
  killsAt: Partial<Record<KillPoint, number>>;
  /**
   * Kills by where they landed: `checkpoint` = the log's last checkpoint line is 'checkpoint started' and the disk
   * shows that checkpoint's journal rotation not yet cleaned up (takes precedence), `startup` = a kill of a starting bridge, `journal-writes` = some visitor's send was between emit
   * and ack (received, journaled, fsynced or acked by the bridge), `idle` = none of these.
   */
  killsBy: Record<KillPhase, number>;
  /**
   * Kills the two sources judged differently: `logOnly` = the log ends in 'checkpoint started' but the checkpoint
   * had already deleted the old journal (its 'finished' line was not yet written out), `diskOnly` = the journal had
   * rotated (a checkpoint's first step) but 'checkpoint started' was not yet in the log. Neither counts as `checkpoint`.
   */
  checkpointDisagreements: { logOnly: number; diskOnly: number };
  /** Bridge lifetimes run with CHECKPOINT_STRESS_ENV (those whose kill is forced into a checkpoint). */
  checkpointLifetimes: number;
  lifetimes: number;
  /** 'checkpoint finished' lines seen in the logs (checkpoints that completed between the kills). */
  checkpointsFinished: number;
  /** Median and p95 duration of those checkpoints (from their log lines). */
  checkpointP50Ms: number;
  checkpointP95Ms: number;
  clients: number;
  queued: number;
  acked: number;
  /** Acked but not stored. */
  lost: number;
  /** A client id (or text) stored more than once. */
  duplicates: number;
  /** Data files the store could not open, or JSON files that do not parse. */
  unreadable: number;
  /** Outbox items never acked after the last restart. */
  undelivered: number;
  /** Valid messages refused permanently (must be 0). */
  refused: number;
  /** Seq gaps or disorder in any conversation. */
  seqErrors: number;
  meanRestartMs: number;
  durationMs: number;
  problems: string[];
}

/** Options for `runCrash`. */
export interface CrashOptions {
  /** Planned kills (one more ends the run): every third during start-up, `checkpointKills` forced into a checkpoint. */
  kills: number;
  /** How many of the planned kills are forced into a running checkpoint. */
  checkpointKills: number;
  clients?: number;
  /** Every visitor queues one message per this many ms. */
  sendEveryMs?: number;
  drainTimeoutMs?: number;
  /** Longest wait for a checkpoint to kill into, per forced kill (default 60 s: checkpoints run every 50 ms there). */
  aimDeadlineMs?: number;
  /** Called after each restart with the kills so far (the long run prints progress). */
  onProgress?: (kills: number) => void;
}

/** Where each planned kill lands. */
export type PlannedKill = 'checkpoint' | 'startup' | 'journal';

/** Named points of a starting bridge and of a serving one's journal write, taken in turn (torture/kill-point.ts). */
export const STARTUP_KILL_POINTS: readonly KillPoint[] = ['lock', 'journal-replay', 'commit-mark'];
export const JOURNAL_KILL_POINTS: readonly KillPoint[] = ['journal-write', 'journal-written'];

/**
 * The kill plan: every third kill (not the first) hits a starting bridge, and `atCheckpoint` of the others, spread
 * evenly, are forced into a checkpoint; the rest hit a journal write.
 */
export function killPlan(total: number, atCheckpoint: number): PlannedKill[] {
  const kinds: PlannedKill[] = Array.from({ length: total }, (_, i) => (i % 3 === 2 ? 'startup' : 'journal'));
  const serving = kinds.flatMap((kind, i) => (kind === 'journal' ? [i] : []));
  if (atCheckpoint > serving.length) throw new Error(`${atCheckpoint} checkpoint kills do not fit in ${total} kills (${serving.length} hit a serving bridge)`);
  for (const [j, i] of serving.entries()) {
    if (Math.floor(((j + 1) * atCheckpoint) / serving.length) > Math.floor((j * atCheckpoint) / serving.length)) kinds[i] = 'checkpoint';
  }
  return kinds;
}

/** One pino JSON line, or undefined for anything else. */
function logLine(line: string): { msg?: unknown; ms?: unknown } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { msg?: unknown; ms?: unknown };
  } catch {
    // A line cut by the kill: it says nothing.
    return undefined;
  }
}

/** Whether a (killed) bridge's log ends inside a checkpoint, and the durations of the checkpoints it finished. */
export function checkpointState(stdout: string): { midCheckpoint: boolean; finishedMs: number[] } {
  let midCheckpoint = false;
  const finishedMs: number[] = [];
  for (const text of stdout.split('\n')) {
    const line = logLine(text);
    if (line?.msg === 'checkpoint started') midCheckpoint = true;
    else if (line?.msg === 'checkpoint finished') {
      midCheckpoint = false;
      finishedMs.push(typeof line.ms === 'number' ? line.ms : 0);
    } else if (line?.msg === 'checkpoint failed; will retry') midCheckpoint = false;
  }
  return { midCheckpoint, finishedMs };
}

/** Journal generations present in a data dir, ascending. */
export function journalGenerations(dataDir: string): number[] {
  return readdirSync(dataDir)
    .map((n) => /^journal-(\d+)\.jsonl$/.exec(n)?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Whether the disk shows a checkpoint cut short: this lifetime rotated to a new journal generation (the newest is
 * above `newestBefore`, the newest when it started) but had not yet deleted the older ones, which a checkpoint
 * does last. (Two generations alone are not enough: a restart replays both and keeps them until its own checkpoint.)
 */
export function midCheckpointOnDisk(dataDir: string, newestBefore: number): boolean {
  const gens = journalGenerations(dataDir);
  return gens.length > 1 && gens.at(-1)! > newestBefore;
}

/** Reads every message of a conversation through the store, oldest first. */
export async function allMessages(store: LowdbStore, conversationId: string): Promise<Message[]> {
  const out: Message[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await store.getMessages(conversationId, beforeSeq === undefined ? { limit: 100 } : { beforeSeq, limit: 100 });
    out.unshift(...page);
    if (page.length < 100 || page[0]!.seq <= 1) break;
    beforeSeq = page[0]!.seq;
  }
  return out;
}

/** JSON files under `dir` that do not parse (temp files excluded; journals are checked by opening the store). */
export function unparsableJsonFiles(dir: string): string[] {
  const bad: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) visit(p);
      else if (name.endsWith('.json') && !name.includes('.tmp')) {
        try {
          JSON.parse(readFileSync(p, 'utf8'));
        } catch {
          bad.push(p);
        }
      }
    }
  };
  visit(dir);
  return bad;
}

/**
 * Waits for `bridge` to be inside a checkpoint and kills it there: on each 'checkpoint started' line, polls the disk
 * until the journal has rotated with the old generation still present (a checkpoint's first and last steps), then
 * freezes the process (SIGSTOP), checks the disk again and sends SIGKILL. A checkpoint that finished before the
 * freeze is let go (SIGCONT) and the next one is tried. Rejects, saying what it waited for, after `deadlineMs`.
 */
async function killAtCheckpoint(bridge: BridgeChild, dataDir: string, newestBefore: number, deadlineMs: number): Promise<ChildExit> {
  const deadline = Date.now() + deadlineMs;
  let started = 0;
  while (Date.now() < deadline) {
    if (!(await bridge.waitForStdout('"msg":"checkpoint started"', deadline - Date.now()))) break;
    started++;
    // The line comes before the rotation; the checkpoint then writes its documents for a few ms at least.
    const watchUntil = Date.now() + 5000;
    while (Date.now() < watchUntil) {
      if (midCheckpointOnDisk(dataDir, newestBefore)) {
        process.kill(bridge.pid, 'SIGSTOP');
        if (midCheckpointOnDisk(dataDir, newestBefore)) return bridge.kill('SIGKILL');
        process.kill(bridge.pid, 'SIGCONT');
        break;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  const exit = await bridge.kill('SIGKILL');
  throw new Error(
    `waited ${deadlineMs} ms to kill the bridge inside a checkpoint (journal rotated past generation ${newestBefore}, older generation not yet deleted); ` +
      `${started} 'checkpoint started' lines seen, journal generations now ${JSON.stringify(journalGenerations(dataDir))}; exit ${exit.code ?? exit.signal}; log tail ${exit.stdout.slice(-1500)} ${exit.stderr.slice(-500)}`,
  );
}

/** Runs the crash harness and returns its figures (the caller asserts on them). */
export async function runCrash(options: CrashOptions): Promise<CrashFigures> {
  const started = Date.now();
  const clients = options.clients ?? 12;
  const aimDeadlineMs = options.aimDeadlineMs ?? 60_000;
  const plan = killPlan(options.kills, options.checkpointKills);
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-crash-'));
  // Debug level for the checkpoint lines the kills are aimed and classified by.
  const env = { LOG_LEVEL: 'debug', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000', RATE_LIMIT_EVENTS_PER_MINUTE: '1000000', RATE_LIMIT_CONNECTIONS_PER_MINUTE: '1000000' };
  const stressEnv = { ...env, ...CHECKPOINT_STRESS_ENV };
  let lifetimes = 0;
  let checkpointLifetimes = 0;
  const killsBy: Record<KillPhase, number> = { checkpoint: 0, startup: 0, 'journal-writes': 0, idle: 0 };
  const checkpointDisagreements = { logOnly: 0, diskOnly: 0 };
  const checkpointMs: number[] = [];
  // The newest journal generation when the current lifetime started (see midCheckpointOnDisk).
  let newestBefore = 0;
  const classify = (exit: ChildExit, startup: boolean, sending: boolean): void => {
    const state = checkpointState(exit.stdout);
    checkpointMs.push(...state.finishedMs);
    const onDisk = midCheckpointOnDisk(dataDir, newestBefore);
    newestBefore = journalGenerations(dataDir).at(-1) ?? 0;
    // pino writes asynchronously, so the log lags the process: a 'checkpoint finished' line can still be unwritten
    // when the kill lands after the checkpoint's last step. A kill counts as mid-checkpoint only when the disk agrees.
    if (state.midCheckpoint && !onDisk) checkpointDisagreements.logOnly++;
    if (onDisk && !state.midCheckpoint) checkpointDisagreements.diskOnly++;
    const phase: KillPhase = state.midCheckpoint && onDisk ? 'checkpoint' : startup ? 'startup' : sending ? 'journal-writes' : 'idle';
    killsBy[phase]++;
  };
  const problems: string[] = [];
  const restartMs: number[] = [];
  // A serving bridge for plan entry `i`: checkpointing all the time when its kill is to land in a checkpoint.
  const killsAt: Partial<Record<KillPoint, number>> = {};
  let journalKills = 0;
  // A serving bridge for plan entry `i`: checkpointing all the time when its kill is to land in a checkpoint, frozen
  // inside its n-th journal write (a different depth each time, past the writes of a first start) when it is to
  // land in a journal write.
  // The first start picks a free port; every restart reuses it (the visitors reconnect to the same URL), waiting
  // for it should another process take it while the bridge is down (spawnBridge).
  const serve = (kind: PlannedKill | undefined, port?: number): Promise<BridgeChild> => {
    lifetimes++;
    if (kind === 'checkpoint') checkpointLifetimes++;
    if (kind !== 'journal') return spawnBridge({ dataDir, port, env: kind === 'checkpoint' ? stressEnv : env });
    const point = JOURNAL_KILL_POINTS[journalKills % JOURNAL_KILL_POINTS.length]!;
    const after = [8, 20, 14, 30, 11][journalKills % 5]!;
    journalKills++;
    return spawnBridge({ dataDir, port, env, killPoint: { point, after } });
  };
  /** Waits for a child frozen at its kill point (its `kill point <name>` line), SIGKILLs it and counts the point. */
  const killAtPoint = async (child: Pick<BridgeChild, 'waitForStdout' | 'kill'>, alreadyPrinted: boolean, what: string): Promise<ChildExit> => {
    const frozen = alreadyPrinted || (await child.waitForStdout('kill point ', START_DEADLINE_MS));
    const exit = await child.kill('SIGKILL');
    const point = /kill point ([\w-]+)/.exec(exit.stdout)?.[1] as KillPoint | undefined;
    if (!frozen || !point) throw new Error(`waited ${START_DEADLINE_MS} ms for ${what} to reach its kill point; exit ${exit.code ?? exit.signal}; output ${exit.stdout.slice(-1500)} ${exit.stderr.slice(-500)}`);
    killsAt[point] = (killsAt[point] ?? 0) + 1;
    return exit;
  };
  let bridge: BridgeChild = await serve(plan[0]);
  const url = bridge.url;
  const visitors = Array.from({ length: clients }, (_, i) => new TortureVisitor({ url, name: `v${i}`, ackTimeoutMs: 1500 }));
  await Promise.all(visitors.map((v) => v.ready()));
  for (const v of visitors) v.pump();
  let queued = 0;
  const sendEvery = options.sendEveryMs ?? 40;
  const ticker = setInterval(() => {
    for (const v of visitors) {
      // Bound the backlog a visitor builds while the bridge is down, like a real outbox would.
      if (v.outbox.length < 20) {
        v.queue();
        queued++;
      }
    }
  }, sendEvery);

  let kills = 0;
  let startupKills = 0;
  let forcedCheckpointKills = 0;
  try {
    let i = 0;
    while (i < plan.length) {
      if (plan[i] === 'checkpoint') {
        const exit = await killAtCheckpoint(bridge, dataDir, newestBefore, aimDeadlineMs);
        checkpointMs.push(...checkpointState(exit.stdout).finishedMs);
        newestBefore = journalGenerations(dataDir).at(-1) ?? 0;
        killsBy.checkpoint++;
        forcedCheckpointKills++;
      } else {
        const exit = await killAtPoint(bridge, bridge.output().stdout.includes('kill point '), `serving bridge ${lifetimes}`);
        if (exit.signal !== 'SIGKILL') problems.push(`bridge exited on its own before kill ${kills}: code ${exit.code} ${exit.stderr.slice(-500)}`);
        // Frozen inside a journal write: a send was between emit and ack.
        classify(exit, false, true);
      }
      kills++;
      i++;
      // A start killed at a named step of opening the store (lock taken, journal replay, commit mark check), before
      // it serves anyone: recovery must survive being interrupted.
      while (plan[i] === 'startup') {
        lifetimes++;
        const point = STARTUP_KILL_POINTS[startupKills % STARTUP_KILL_POINTS.length]!;
        const starting = spawnBridgeUnready({ dataDir, port: bridge.port, env, killPoint: { point } });
        classify(await killAtPoint(starting, false, `starting bridge ${lifetimes}`), true, false);
        kills++;
        startupKills++;
        i++;
      }
      const t0 = Date.now();
      bridge = await serve(plan[i], bridge.port);
      restartMs.push(Date.now() - t0);
      options.onProgress?.(kills);
    }
  } catch (error) {
    for (const v of visitors) v.close();
    await bridge.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  } finally {
    clearInterval(ticker);
  }

  const drainTimeout = options.drainTimeoutMs ?? 30_000;
  const drained = await Promise.all(visitors.map((v) => v.drained(drainTimeout)));
  for (const v of visitors) v.close();
  // End with one more SIGKILL: the final state on disk must be complete without a graceful shutdown.
  classify(await bridge.kill('SIGKILL'), false, visitors.some((v) => v.sending));
  kills++;

  let unreadable = unparsableJsonFiles(dataDir).length;
  let lost = 0;
  let duplicates = 0;
  let seqErrors = 0;
  let acked = 0;
  let undelivered = 0;
  let refused = 0;
  const store = new LowdbStore({ dataDir, logger: pino({ level: 'silent' }) });
  try {
    await store.open();
  } catch (error) {
    unreadable++;
    problems.push(`store did not open: ${(error as Error).message}`);
  }
  if (unreadable === 0) {
    for (const [i, v] of visitors.entries()) {
      acked += v.acked.size;
      refused += v.permanentErrors.length;
      problems.push(...v.permanentErrors.slice(0, 3));
      if (!drained[i]) undelivered += v.outbox.length;
      const conversationId = v.session?.conversationId;
      if (!conversationId) continue;
      const messages = await allMessages(store, conversationId);
      const byClientId = new Map<string, number>();
      const byText = new Map<string, number>();
      for (const [j, m] of messages.entries()) {
        byClientId.set(m.clientId, (byClientId.get(m.clientId) ?? 0) + 1);
        byText.set(m.text, (byText.get(m.text) ?? 0) + 1);
        if (m.seq !== j + 1) seqErrors++;
      }
      for (const count of byClientId.values()) if (count > 1) duplicates += count - 1;
      for (const count of byText.values()) if (count > 1) duplicates += count - 1;
      for (const [clientId, ack] of v.acked) {
        const stored = messages.find((m) => m.clientId === clientId);
        if (!stored) {
          lost++;
          if (problems.length < 20) problems.push(`lost ${clientId} (acked seq ${ack.seq})`);
        } else if (stored.id !== ack.id || stored.seq !== ack.seq) {
          problems.push(`${clientId}: acked ${ack.id}#${ack.seq}, stored ${stored.id}#${stored.seq}`);
          seqErrors++;
        }
      }
      // Exactly once for the whole outbox: every queued item was acked and is stored once.
      for (const id of byClientId.keys()) if (!v.acked.has(id)) undelivered++;
    }
    await store.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
  return {
    kills,
    forcedCheckpointKills,
    startupKills,
    killsAt,
    killsBy,
    checkpointDisagreements,
    checkpointLifetimes,
    lifetimes,
    checkpointsFinished: checkpointMs.length,
    checkpointP50Ms: percentile(checkpointMs, 50),
    checkpointP95Ms: percentile(checkpointMs, 95),
    clients,
    queued,
    acked,
    lost,
    duplicates,
    unreadable,
    undelivered,
    refused,
    seqErrors,
    meanRestartMs: restartMs.length ? Math.round(restartMs.reduce((a, b) => a + b, 0) / restartMs.length) : 0,
    durationMs: Date.now() - started,
    problems,
  };
}
