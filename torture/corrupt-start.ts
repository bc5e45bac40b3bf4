/**
 * Case 2: corrupt data at start. A real bridge writes a data dir (checkpointed by a graceful stop, or left with
 * a journal by SIGKILL); then each data file in turn is emptied, truncated, zero-filled or replaced by invalid
 * JSON in a fresh copy, and the bridge is started on it. Each start must either refuse with an error naming the
 * file (and leave the file byte-identical) or start with every acked message intact (a documented recovery,
 * e.g. a torn journal tail). Never a silent empty start, never an overwrite.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import pino from 'pino';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import type { Ack } from '../protocol/errors.ts';
import type { SyncResult } from '../protocol/events.ts';
import { spawnBridge, spawnBridgeOutcome } from './bridge-process.ts';
import { TortureVisitor } from './visitor-client.ts';

/** How a file is damaged. */
export type Corruption = 'empty' | 'truncated' | 'zero-filled' | 'invalid-json';

/** One start attempt on a damaged copy. */
export interface CorruptStartResult {
  file: string;
  corruption: Corruption;
  outcome:
    | 'refused-naming-file'
    /** Lazily loaded files (message segments) are checked on first use: the conversation fails naming the file. */
    | 'refused-at-first-use-naming-file'
    | 'recovered-intact'
    | 'refused-without-naming-file'
    | 'silent-data-loss'
    | 'overwrote-file';
  detail: string;
}

/** A data dir written by a real bridge, with the token of the visitor whose acked messages it holds. */
export interface SeededDir {
  dir: string;
  token: string;
  conversationId: string;
  clientIds: string[];
}

/** Where a start is tried: the real `bridge/main.ts` in a child process, or `LowdbStore.open()` in this process. */
export type StartMode = 'process' | 'store';

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) visit(p);
      else out.push(p);
    }
  };
  visit(dir);
  return out.sort();
}

/** Starts a bridge on a new dir, has one visitor send `count` acked messages, stops it gracefully or by SIGKILL. */
export async function seedDataDir(count: number, stop: 'graceful' | 'kill'): Promise<SeededDir> {
  const dir = mkdtempSync(join(tmpdir(), 'torture-seed-'));
  const bridge = await spawnBridge({ dataDir: dir });
  const visitor = new TortureVisitor({ url: bridge.url, name: 'seed' });
  const session = await visitor.ready();
  visitor.pump();
  const clientIds = Array.from({ length: count }, () => visitor.queue().clientId);
  if (!(await visitor.drained(15_000))) throw new Error('seed messages not acked');
  visitor.close();
  await bridge.kill(stop === 'graceful' ? 'SIGTERM' : 'SIGKILL');
  return { dir, token: session.token, conversationId: session.conversationId, clientIds };
}

function corrupt(path: string, how: Corruption): void {
  const original = readFileSync(path);
  if (how === 'empty') writeFileSync(path, '');
  else if (how === 'truncated') writeFileSync(path, original.subarray(0, Math.max(1, Math.floor(original.length / 2))));
  else if (how === 'zero-filled') writeFileSync(path, Buffer.alloc(Math.max(original.length, 16)));
  else writeFileSync(path, '{"this is": not json ]');
}

/** Reads every message the visitor's conversation holds, through a running bridge (or the error it got). */
async function syncAll(url: string, token: string): Promise<{ ids: string[] } | { error: string }> {
  const visitor = new TortureVisitor({ url, name: 'check' });
  visitor.session = { token, visitorId: '', conversationId: '', expiresAt: '' };
  try {
    await visitor.ready();
    const ids: string[] = [];
    let afterRev = 0;
    for (;;) {
      const res = (await visitor.socket.timeout(WAIT_DEADLINE_MS).emitWithAck('sync', { afterRev })) as Ack<SyncResult>;
      if (!res.ok) return { error: `${res.error.code}: ${res.error.message}` };
      ids.push(...res.data.messages.map((m) => m.clientId));
      afterRev = res.data.rev;
      if (!res.data.hasMore) break;
    }
    return { ids };
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    visitor.close();
  }
}

/** One send into the visitor's conversation; its ack (or the error). */
async function sendOnce(url: string, token: string): Promise<unknown> {
  const visitor = new TortureVisitor({ url, name: 'after-damage' });
  visitor.session = { token, visitorId: '', conversationId: '', expiresAt: '' };
  try {
    await visitor.ready();
    return await visitor.socket.timeout(WAIT_DEADLINE_MS).emitWithAck('message:send', { clientId: 'after-damage', text: 'written after the damage' });
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    visitor.close();
  }
}

/**
 * Opens the store on `dir` in this process: the error text at open, the error at first use (after which a write
 * to the conversation is attempted and the store closed with its final checkpoint — the bad file must survive
 * both), or the client ids it holds.
 */
async function storeOutcome(dir: string, conversationId: string): Promise<{ error: string } | { firstUseError: string } | { ids: string[] }> {
  const store = new LowdbStore({ dataDir: dir, logger: pino({ level: 'silent' }) });
  try {
    await store.open();
  } catch (error) {
    return { error: (error as Error).message };
  }
  try {
    return { ids: (await store.getMessages(conversationId, { limit: 100 })).map((m) => m.clientId) };
  } catch (error) {
    await store
      .appendMessage({ conversationId, clientId: 'after-damage', author: { role: 'visitor' }, text: 'written after the damage' })
      .catch(() => undefined);
    return { firstUseError: (error as Error).message };
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Files in DATA_DIR that the configuration reads at start (bridge/config.ts), beside the store's own. */
const CONFIG_FILES = ['secrets.json', 'vapid.json'];

/** Damages each file of `seed` in each way (one fresh copy per attempt) and classifies every start. */
export async function runCorruptStarts(
  seed: SeededDir,
  corruptions: readonly Corruption[],
  mode: StartMode = 'process',
  only?: (file: string) => boolean,
): Promise<CorruptStartResult[]> {
  const results: CorruptStartResult[] = [];
  // The lock file is covered by the lock cases; secrets.json holds nothing when every secret comes from env. The key
  // files are read by the configuration, not the store, so a store-only start never reads them (config.test damages them).
  const targets = filesUnder(seed.dir)
    .map((p) => relative(seed.dir, p))
    .filter((p) => !/\block\b|\.lock$/.test(p) && statSync(join(seed.dir, p)).size > 0 && (only?.(p) ?? true))
    .filter((p) => mode === 'process' || !CONFIG_FILES.includes(p));
  for (const file of targets) {
    for (const how of corruptions) {
      const copy = mkdtempSync(join(tmpdir(), 'torture-corrupt-'));
      cpSync(seed.dir, copy, { recursive: true });
      const path = join(copy, file);
      corrupt(path, how);
      const damaged = readFileSync(path);
      let result: CorruptStartResult;
      if (mode === 'store') {
        const opened = await storeOutcome(copy, seed.conversationId);
        if ('error' in opened) {
          result = {
            file,
            corruption: how,
            outcome: opened.error.includes(basename(file)) ? 'refused-naming-file' : 'refused-without-naming-file',
            detail: opened.error.slice(0, 300),
          };
        } else if ('firstUseError' in opened) {
          result = {
            file,
            corruption: how,
            outcome: opened.firstUseError.includes(basename(file)) ? 'refused-at-first-use-naming-file' : 'refused-without-naming-file',
            detail: opened.firstUseError.slice(0, 300),
          };
        } else {
          const intact = seed.clientIds.every((id) => opened.ids.filter((x) => x === id).length === 1);
          result = {
            file,
            corruption: how,
            outcome: intact ? 'recovered-intact' : 'silent-data-loss',
            detail: intact ? 'opened with every acked message' : `opened with ${opened.ids.length} of ${seed.clientIds.length} messages`,
          };
        }
        if (result.outcome.startsWith('refused') && !readFileSync(path).equals(damaged)) {
          result = { ...result, outcome: 'overwrote-file', detail: 'the damaged file was rewritten' };
        }
        results.push(result);
        rmSync(copy, { recursive: true, force: true });
        continue;
      }
      const outcome = await spawnBridgeOutcome({ dataDir: copy });
      if (!outcome.ready) {
        const text = `${outcome.exit.stderr}\n${outcome.exit.stdout}`;
        const named = text.includes(basename(file));
        result = {
          file,
          corruption: how,
          outcome: named ? 'refused-naming-file' : 'refused-without-naming-file',
          detail: text.trim().split('\n').slice(-3).join(' | ').slice(0, 300),
        };
      } else {
        const synced = await syncAll(outcome.child.url, seed.token);
        if ('error' in synced) {
          // First use failed: a send must fail too, and the graceful stop's checkpoint must not rewrite the file.
          await sendOnce(outcome.child.url, seed.token);
        }
        const exit = await outcome.child.kill('SIGTERM');
        const logs = `${exit.stdout}\n${exit.stderr}`;
        if ('error' in synced) {
          result = {
            file,
            corruption: how,
            outcome: logs.includes(basename(file)) ? 'refused-at-first-use-naming-file' : 'refused-without-naming-file',
            detail: `client got ${synced.error}; log names the file: ${logs.includes(basename(file))}`,
          };
        } else {
          const ids = synced.ids;
          const intact = seed.clientIds.every((id) => ids.filter((x) => x === id).length === 1);
          result = {
            file,
            corruption: how,
            outcome: intact ? 'recovered-intact' : 'silent-data-loss',
            detail: intact ? 'started with every acked message' : `started with ${ids.length} of ${seed.clientIds.length} messages`,
          };
        }
      }
      // Refusing must not touch the bad file (the operator needs it to recover by hand).
      if (result.outcome.startsWith('refused') && !readFileSync(path).equals(damaged)) {
        result = { ...result, outcome: 'overwrote-file', detail: 'the damaged file was rewritten' };
      }
      results.push(result);
      rmSync(copy, { recursive: true, force: true });
    }
  }
  return results;
}

/** Files of a data dir, relative, for reports. */
export function dataFiles(dir: string): string[] {
  return filesUnder(dir).map((p) => relative(dir, p));
}
