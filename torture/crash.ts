/**
 * Case 1: the crash harness. Many visitors send steadily with client ids while a child bridge is SIGKILLed at
 * random instants and restarted on the same port and data dir; afterwards the data dir is opened with the
 * real store and every acked message must be there exactly once, every outbox delivered exactly once.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import type { Message } from '../protocol/message.ts';
import { freePort, spawnBridge, spawnBridgeUnready, type BridgeChild } from './bridge-process.ts';
import { TortureVisitor } from './visitor-client.ts';

/** What one crash run did and found. */
export interface CrashFigures {
  kills: number;
  /** Kills that hit a bridge while it was starting (opening the store, replaying the journal). */
  startupKills: number;
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
  kills: number;
  clients?: number;
  /** Each bridge lives a random time in [upMinMs, upMaxMs] before SIGKILL. */
  upMinMs?: number;
  upMaxMs?: number;
  /** Every visitor queues one message per this many ms. */
  sendEveryMs?: number;
  drainTimeoutMs?: number;
  /** Called after each restart with the kills so far (the long run prints progress). */
  onProgress?: (kills: number) => void;
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

/** Runs the crash harness and returns its figures (the caller asserts on them). */
export async function runCrash(options: CrashOptions): Promise<CrashFigures> {
  const started = Date.now();
  const clients = options.clients ?? 12;
  const upMin = options.upMinMs ?? 60;
  const upMax = options.upMaxMs ?? 450;
  const dataDir = mkdtempSync(join(tmpdir(), 'torture-crash-'));
  const port = await freePort();
  const env = { RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000', RATE_LIMIT_EVENTS_PER_MINUTE: '1000000', RATE_LIMIT_CONNECTIONS_PER_MINUTE: '1000000' };
  const problems: string[] = [];
  const restartMs: number[] = [];
  let bridge: BridgeChild = await spawnBridge({ dataDir, port, env });
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
  try {
    for (let k = 0; k < options.kills; k++) {
      await new Promise((r) => setTimeout(r, upMin + Math.random() * (upMax - upMin)));
      const exit = await bridge.kill('SIGKILL');
      if (exit.signal !== 'SIGKILL') problems.push(`bridge exited on its own before kill ${k}: code ${exit.code} ${exit.stderr.slice(-500)}`);
      kills++;
      // Every third restart is itself killed at a random instant of its start (store open, journal replay,
      // torn-tail truncation), before it serves anyone: recovery must survive being interrupted.
      if (k % 3 === 2 && kills < options.kills) {
        const starting = spawnBridgeUnready({ dataDir, port, env });
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 900));
        await starting.kill('SIGKILL');
        kills++;
        startupKills++;
        k++;
      }
      const t0 = Date.now();
      bridge = await spawnBridge({ dataDir, port, env });
      restartMs.push(Date.now() - t0);
      options.onProgress?.(kills);
    }
  } finally {
    clearInterval(ticker);
  }

  const drainTimeout = options.drainTimeoutMs ?? 30_000;
  const drained = await Promise.all(visitors.map((v) => v.drained(drainTimeout)));
  for (const v of visitors) v.close();
  // End with one more SIGKILL: the final state on disk must be complete without a graceful shutdown.
  await bridge.kill('SIGKILL');
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
    startupKills,
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
