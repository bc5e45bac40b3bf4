/**
 * What only the lowdb engine promises: crash safety (journal replay, SIGKILL mid-stream), clear errors on damaged
 * files, the data-directory lock, recovery from a full disk, and statuses that never regress.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, symlink, truncate, unlink, writeFile, appendFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../../protocol/message.ts';
import { STATUS_RANK, type StoredStatus } from '../../../protocol/status.ts';
import { pino } from 'pino';
import { silentLogger } from '../../logger.ts';
import { LowdbStore, type LowdbStoreOptions } from './lowdb-store.ts';
import { decodeCommitMark } from './commit-mark.ts';
import { journalLine } from './journal.ts';
import { startCrashChild } from '../../testing/crash-child.ts';
import { waitUntil } from '../../testing/wait-until.ts';

const dirs: string[] = [];
const stores: LowdbStore[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-lowdb-'));
  dirs.push(dir);
  return dir;
}

function makeStore(dataDir: string, options: Partial<LowdbStoreOptions> = {}): LowdbStore {
  const store = new LowdbStore({ dataDir, logger: silentLogger(), segmentSize: 4, ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** What a crash leaves: the directory as it is on disk while the store still runs (minus the lock of our own pid). */
async function crashImage(from: string): Promise<string> {
  const to = await tempDir();
  await cp(from, to, { recursive: true, filter: (src) => basename(src) !== 'lock' });
  return to;
}

async function allMessages(store: LowdbStore, conversationId: string): Promise<Message[]> {
  const conversation = await store.getConversation(conversationId);
  return store.getMessages(conversationId, { limit: (conversation?.lastSeq ?? 0) + 1 });
}

async function filledStore(count = 10, options: Partial<LowdbStoreOptions> = {}): Promise<{ dir: string; store: LowdbStore; messages: Message[] }> {
  const dir = await tempDir();
  const store = makeStore(dir, options);
  await store.open();
  await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    messages.push((await store.appendMessage({ conversationId: 'c', clientId: `k${i}`, author: { role: 'visitor' }, text: `t${i}` })).message);
  }
  return { dir, store, messages };
}

async function journalPath(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => /^journal-\d+\.jsonl$/.test(n));
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
}

describe('LowdbStore durability', () => {
  it('replays the journal after a crash: every acknowledged change is back, without a checkpoint', async () => {
    const { dir, store, messages } = await filledStore(10);
    await store.applyReceipt('c', 'visitor', 6, 'read');
    await store.putRecord('ns', 'k', { v: 1 });
    await store.enqueue('webhook', { n: 1 }, 'q1');
    // An agent as versions before roles stored it (no display name, role, active, session epoch).
    const beforeRoles = { id: 'a', name: 'admin', passwordHash: 'h', createdAt: '2026-01-01T00:00:00.000Z' };
    await appendFile(await journalPath(dir), journalLine({ t: 'a', v: beforeRoles }));
    // Nothing was checkpointed: the conversation and its messages exist only in the journal.
    expect((await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.json'))).toEqual([]);
    const image = await crashImage(dir);
    const reopened = makeStore(image);
    await reopened.open();
    const replayed = await allMessages(reopened, 'c');
    expect(replayed).toEqual(await allMessages(store, 'c'));
    expect(replayed.map((m) => m.id)).toEqual(messages.map((m) => m.id));
    expect(await reopened.getConversation('c')).toEqual(await store.getConversation('c'));
    expect(await reopened.getRecord('ns', 'k')).toEqual({ v: 1 });
    expect((await reopened.listQueueItems('webhook', 5)).map((i) => i.id)).toEqual(['q1']);
    expect(await reopened.countAgents()).toBe(1);
    expect(await reopened.getAgent('a')).toEqual({ ...beforeRoles, displayName: 'admin', role: 'admin', active: true, sessionEpoch: 0, availability: 'online' });
    const retry = await reopened.appendMessage({ conversationId: 'c', clientId: 'k3', author: { role: 'visitor' }, text: 'again' });
    expect(retry).toMatchObject({ created: false, message: { id: messages[3]!.id } });
  });

  it('keeps a consistent state when checkpoints run while changes keep coming', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { checkpointBytes: 4096 });
    await store.open();
    const ids = ['a', 'b', 'c'];
    for (const id of ids) await store.createConversation({ id, channel: 'web', name: id });
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const id = ids[i % 3]!;
      work.push(store.appendMessage({ conversationId: id, clientId: `m${i}`, author: { role: i % 2 ? 'agent' : 'visitor' }, text: `t${i}` }));
      if (i % 10 === 0) work.push(store.applyReceipt(id, 'agent', i, 'read'));
      if (i % 50 === 0) work.push(store.checkpoint());
    }
    await Promise.all(work);
    const generation = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')).generation as number;
    expect(generation).toBeGreaterThan(3);
    const image = await crashImage(dir);
    const reopened = makeStore(image);
    await reopened.open();
    for (const id of ids) {
      const messages = await allMessages(reopened, id);
      expect(messages).toEqual(await allMessages(store, id));
      expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
      expect(await reopened.getConversation(id)).toEqual(await store.getConversation(id));
      expect(await reopened.getChangesSince(id, 0, 1000)).toEqual(await store.getChangesSince(id, 0, 1000));
    }
  });

  it('writes checkpoint documents as of the cut, however changes race it (copy-on-write)', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { segmentSize: 1000 });
    await store.open();
    await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
    await store.checkpoint();
    // Make c's conversation bucket the first document written and its segment one of the last, hundreds of files
    // later, so appends racing the checkpoint land between the two writes.
    await store.setConversationState('c', 'closed');
    for (let i = 0; i < 300; i++) {
      await store.createConversation({ id: `other-${i}`, channel: 'web', name: 'O' });
      await store.appendMessage({ conversationId: `other-${i}`, clientId: 'o', author: { role: 'visitor' }, text: 'o' });
    }
    await store.appendMessage({ conversationId: 'c', clientId: 'before', author: { role: 'visitor' }, text: 'x' });
    let done = false;
    let n = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (!done) {
        await store.appendMessage({ conversationId: 'c', clientId: `w${n++}`, author: { role: 'visitor' }, text: 'y' });
      }
    });
    // The checkpoint starts while the writers are mid-stream: after they have appended some, not after some time.
    await waitUntil('the eight writers to have appended 16 messages', () => n >= 16);
    await store.checkpoint();
    done = true;
    await Promise.all(writers);
    // The documents alone must agree with the cut: empty the new journal, and delete the commit mark as an operator
    // accepting that loss would (otherwise the mark refuses the start: those records were acknowledged).
    const image = await crashImage(dir);
    await writeFile(await journalPath(image), '');
    await unlink(join(image, 'commit-mark'));
    let items: { c: { conversation: { lastSeq: number } } } | undefined;
    for (const name of await readdir(join(image, 'conversations'))) {
      const bucket = JSON.parse(await readFile(join(image, 'conversations', name), 'utf8'));
      if (bucket.items.c) items = bucket.items;
    }
    if (!items) throw new Error('conversation c not in any bucket');
    const segment = JSON.parse(await readFile(join(image, 'segments', 'c.0.json'), 'utf8'));
    expect(segment.messages.length).toBe(items.c.conversation.lastSeq);
    expect(items.c.conversation.lastSeq).toBeGreaterThan(1);
    const reopened = makeStore(image, { segmentSize: 1000 });
    await reopened.open();
    const next = await reopened.appendMessage({ conversationId: 'c', clientId: 'after', author: { role: 'agent' }, text: 'z' });
    expect(next.message.seq).toBe(items.c.conversation.lastSeq + 1);
  });

  it('writes each segment as the full state of its messages when checkpoints reuse earlier encodings', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { segmentSize: 6 });
    await store.open();
    await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
    const segmentFile = (k: number): Promise<{ conversationId: string; segment: number; messages: Message[] }> =>
      readFile(join(dir, 'segments', `c.${k}.json`), 'utf8').then((text) => JSON.parse(text));
    const append = (i: number): Promise<unknown> =>
      store.appendMessage({ conversationId: 'c', clientId: `k${i}`, author: { role: 'visitor' }, text: `t${i}` });
    for (let i = 0; i < 3; i++) await append(i);
    await store.checkpoint();
    // Appends after the written prefix, a change in the middle of it, then a change at its start: each written
    // segment must equal the store's answer (a stale reused encoding shows an old status or a missing message).
    for (let i = 3; i < 5; i++) await append(i);
    await store.applyStatus('c', (await allMessages(store, 'c'))[1]!.id, { status: 'read' });
    await store.checkpoint();
    expect(await segmentFile(0)).toEqual({ conversationId: 'c', segment: 0, messages: await allMessages(store, 'c') });
    await store.setExternalId('c', (await allMessages(store, 'c'))[0]!.id, 'ext-0');
    await store.checkpoint();
    expect(await segmentFile(0)).toEqual({ conversationId: 'c', segment: 0, messages: await allMessages(store, 'c') });
    // Filling the segment and rolling over to the next, then receipts over both.
    for (let i = 5; i < 9; i++) await append(i);
    await store.checkpoint();
    await store.applyReceipt('c', 'visitor', 9, 'delivered');
    await store.checkpoint();
    const all = await allMessages(store, 'c');
    expect(all.map((m) => m.status)).toEqual(['delivered', 'read', ...Array(7).fill('delivered')]);
    expect(await segmentFile(0)).toEqual({ conversationId: 'c', segment: 0, messages: all.slice(0, 6) });
    expect(await segmentFile(1)).toEqual({ conversationId: 'c', segment: 1, messages: all.slice(6) });
    await store.close();
    const reopened = makeStore(dir, { segmentSize: 6 });
    await reopened.open();
    expect(await allMessages(reopened, 'c')).toEqual(all);
  });

  it('keeps every acknowledged message exactly once across repeated SIGKILLs mid-stream', { timeout: 600_000 }, async () => {
    const dir = await tempDir();
    const acked = new Map<string, string>();
    // Each round is killed once the child has acknowledged this many appends in it: mid-stream by construction
    // (appends, receipts and checkpoints keep running), at a different depth each round, whatever the machine's load.
    const killAfterAcks = [5, 60, 200, 25, 400];
    /** Generations of the checkpoints a child logged as finished (its debug log on stderr). */
    const finishedGenerations = (err: string): number[] =>
      err
        .split('\n')
        .filter((line) => line.startsWith('{') && line.includes('"checkpoint finished"'))
        .map((line) => (JSON.parse(line) as { generation: number }).generation);
    let checkpointsFinished = 0;
    for (let round = 0; round < killAfterAcks.length; round++) {
      const child = startCrashChild('bridge/testing/lowdb-crash-child.ts', dir, `r${round}`);
      await child.ready(`crash child round ${round}`);
      expect(child.out, child.err).toContain('ready\n');
      const target = killAfterAcks[round]!;
      await child.acknowledged(target, `crash child round ${round}`);
      if (round === killAfterAcks.length - 1) {
        // The last round is killed only after a checkpoint finished in it, so the series always covers a kill after
        // a checkpoint (earlier rounds may or may not finish one, depending on the machine).
        await waitUntil(`crash child round ${round} to finish a checkpoint`, () => finishedGenerations(child.err).length > 0 || child.process.exitCode !== null);
      }
      expect(child.process.exitCode, child.err).toBeNull();
      await child.kill(`crash child round ${round}`);
      const finished = finishedGenerations(child.err);
      checkpointsFinished += finished.length;
      const lines = child.lines();
      let roundAcks = 0;
      for (const line of lines) {
        const [conversationId, clientId] = line.split(' ');
        if (conversationId && clientId) {
          acked.set(clientId, conversationId);
          roundAcks++;
        }
      }
      expect(roundAcks).toBeGreaterThan(0);

      const store = makeStore(dir, { segmentSize: 10 });
      await store.open();
      const seen = new Map<string, string>();
      for (const id of ['conv-a', 'conv-b', 'conv-c', 'conv-d']) {
        const messages = await allMessages(store, id);
        expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
        for (const m of messages) {
          expect(seen.has(m.clientId), `duplicate ${m.clientId}`).toBe(false);
          seen.set(m.clientId, id);
        }
      }
      for (const [clientId, conversationId] of acked) expect(seen.get(clientId), clientId).toBe(conversationId);
      // The length check was live for this open (no false alarm from a kill), not skipped for want of a mark.
      expect(decodeCommitMark(await readFile(join(dir, 'commit-mark')))).toBeDefined();
      // A checkpoint the child finished before the kill is the one the data directory opens at, or a later one.
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { generation: number };
      expect(manifest.generation).toBeGreaterThanOrEqual(Math.max(0, ...finished));
      await store.close();
      stores.splice(stores.indexOf(store), 1);
    }
    expect(checkpointsFinished).toBeGreaterThan(0);
  });
});

describe('LowdbStore checkpoint log', () => {
  it('logs "checkpoint started" and "checkpoint finished" at debug level with the generation, around each checkpoint', async () => {
    const dir = await tempDir();
    const lines: { level: number; msg: string; generation?: number }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = makeStore(dir, { logger });
    await store.open();
    await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
    await store.checkpoint();
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { generation: number };
    const checkpointLines = lines.filter((l) => l.msg.startsWith('checkpoint'));
    expect(checkpointLines.map((l) => [l.level, l.msg, l.generation])).toEqual([
      [20, 'checkpoint started', manifest.generation],
      [20, 'checkpoint finished', manifest.generation],
    ]);
  });
});

describe('LowdbStore journal durability', () => {
  it('writes every journal generation through a descriptor opened with O_DSYNC (each write durable before it returns)', async () => {
    const { dir, store } = await filledStore(3);
    /** The open-file flags of the descriptor this process holds on `path` (Linux /proc). */
    const flagsOf = async (path: string): Promise<number[]> => {
      const found: number[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target !== path) continue;
        const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
        const match = /^flags:\s*([0-7]+)$/m.exec(info);
        if (match) found.push(Number.parseInt(match[1]!, 8));
      }
      return found;
    };
    const before = await flagsOf(await realpath(await journalPath(dir)));
    expect(before).toHaveLength(1);
    expect(before[0]! & constants.O_DSYNC).toBe(constants.O_DSYNC);
    // A checkpoint rotates to a new generation file: it must be opened the same way.
    await store.checkpoint();
    await store.appendMessage({ conversationId: 'c', clientId: 'after', author: { role: 'visitor' }, text: 'x' });
    const after = await flagsOf(await realpath(await journalPath(dir)));
    expect(after).toHaveLength(1);
    expect(after[0]! & constants.O_DSYNC).toBe(constants.O_DSYNC);
  });
});

describe('LowdbStore write cost', () => {
  it('persists a message by appending one journal line, rewriting no document, however much is stored', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { segmentSize: 100 });
    await store.open();
    await store.createConversation({ id: 'c', channel: 'web', name: 'V' });
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        store.appendMessage({ conversationId: 'c', clientId: `m${i}`, author: { role: 'visitor' }, text: 'hello there' }),
      ),
    );
    await store.checkpoint();
    const snapshot = async (): Promise<Map<string, string>> => {
      const files = new Map<string, string>();
      for (const sub of ['', 'conversations', 'segments', 'records', 'queues', 'agents', 'external-ids']) {
        for (const name of await readdir(join(dir, sub))) {
          const path = join(dir, sub, name);
          const info = await stat(path);
          if (info.isFile()) files.set(path, `${info.size}:${info.mtimeMs}:${info.ino}`);
        }
      }
      return files;
    };
    const before = await snapshot();
    const journal = await journalPath(dir);
    const journalBefore = (await stat(journal)).size;
    await store.appendMessage({ conversationId: 'c', clientId: 'new', author: { role: 'visitor' }, text: 'hello there' });
    const after = await snapshot();
    const changed = [...after].filter(([path, sig]) => before.get(path) !== sig).map(([path]) => path);
    // Besides the journal at most the commit mark (written after the ack, so maybe not yet), in place at the same size.
    expect(changed).toContain(journal);
    expect(changed.filter((path) => path !== journal && path !== join(dir, 'commit-mark'))).toEqual([]);
    expect(after.get(join(dir, 'commit-mark'))!.split(':').slice(0, 1)).toEqual(before.get(join(dir, 'commit-mark'))!.split(':').slice(0, 1));
    expect(after.get(join(dir, 'commit-mark'))!.split(':')[2]).toBe(before.get(join(dir, 'commit-mark'))!.split(':')[2]);
    const grown = (await stat(journal)).size - journalBefore;
    expect(grown).toBeGreaterThan(100);
    expect(grown).toBeLessThan(600);
  });
});

describe('LowdbStore bounded memory', () => {
  it('answers the same with tiny segment and index caches, rebuilding what it dropped from disk', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { maxCachedSegments: 2, maxIndexedMessages: 6, checkpointBytes: 2048 });
    await store.open();
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) await store.createConversation({ id, channel: 'web', name: id });
    const first = new Map<string, Message>();
    for (let i = 0; i < 40; i++) {
      const id = ids[i % 4]!;
      const { message } = await store.appendMessage({ conversationId: id, clientId: `m${i}`, author: { role: 'visitor' }, text: `t${i}` });
      if (i < 4) first.set(id, message);
      if (i % 9 === 0) await store.checkpoint();
    }
    await store.checkpoint();
    for (const id of ids) {
      const original = first.get(id)!;
      const retry = await store.appendMessage({ conversationId: id, clientId: original.clientId, author: { role: 'visitor' }, text: 'x' });
      expect(retry).toMatchObject({ created: false, message: original });
      expect(await store.getMessage(id, original.id)).toEqual(original);
      expect((await allMessages(store, id)).map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      await store.applyReceipt(id, 'visitor', 5, 'read');
    }
    for (const id of ids) {
      const changes = await store.getChangesSince(id, 10, 100);
      expect(changes.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(changes.every((m) => m.status === 'read')).toBe(true);
    }
  });
});

describe('LowdbStore damaged files', () => {
  async function closedCopy(): Promise<{ dir: string; messages: Message[] }> {
    const { dir, store, messages } = await filledStore(10);
    await store.close();
    return { dir: await crashImage(dir), messages };
  }

  async function expectRefused(dir: string, file: string, pattern: RegExp): Promise<void> {
    const before = await readFile(file).catch(() => undefined);
    const store = makeStore(dir);
    const error = await store.open().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(file);
    expect(error?.message).toMatch(pattern);
    expect(error?.message).toMatch(/restore this file from a backup/);
    expect(await readFile(file).catch(() => undefined)).toEqual(before);
    // The refused open released the lock: after repair, the same directory opens.
    expect((await readdir(dir)).includes('lock')).toBe(false);
  }

  it('refuses an empty conversations file', async () => {
    const { dir } = await closedCopy();
    const name = (await readdir(join(dir, 'conversations'))).find((n) => n.endsWith('.json'))!;
    const file = join(dir, 'conversations', name);
    await writeFile(file, '');
    await expectRefused(dir, file, /is empty/);
  });

  it('refuses a truncated segment', async () => {
    const { dir } = await closedCopy();
    const file = join(dir, 'segments', 'c.1.json');
    await truncate(file, Math.floor((await stat(file)).size / 2));
    const store = makeStore(dir);
    await store.open();
    // Segments load lazily: the damage surfaces, naming the file, when the messages are read.
    await expect(store.getMessages('c', { limit: 10 })).rejects.toThrow(file);
  });

  it('refuses a zero-filled segment and an invalid manifest', async () => {
    const { dir } = await closedCopy();
    const segment = join(dir, 'segments', 'c.0.json');
    await writeFile(segment, Buffer.alloc((await stat(segment)).size));
    const store = makeStore(dir);
    await store.open();
    await expect(store.getMessages('c', { limit: 10 })).rejects.toThrow(/zero bytes/);
    await store.close();
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, '{"version":1,"gener');
    await expectRefused(dir, manifest, /not valid JSON/);
  });

  it('refuses a missing segment file', async () => {
    const { dir } = await closedCopy();
    const file = join(dir, 'segments', 'c.2.json');
    await unlink(file);
    await expectRefused(dir, file, /is missing/);
  });

  it('refuses a damaged journal line followed by valid ones, but drops a torn final line', async () => {
    const { dir, store, messages } = await filledStore(6);
    const image = await crashImage(dir);
    await store.close();
    const damaged = await crashImage(image);
    const file = await journalPath(damaged);
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[3] = lines[3]!.replace('t', 'T');
    await writeFile(file, lines.join('\n'));
    await expectRefused(damaged, file, /damaged record at line 4/);

    const torn = await crashImage(image);
    await appendFile(await journalPath(torn), '1234abcd {"t":"m","v":{"conversationId":"c","se');
    const reopened = makeStore(torn);
    await reopened.open();
    expect((await allMessages(reopened, 'c')).map((m) => m.id)).toEqual(messages.map((m) => m.id));
    await reopened.appendMessage({ conversationId: 'c', clientId: 'after', author: { role: 'agent' }, text: 'ok' });
    const again = await crashImage(torn);
    const third = makeStore(again);
    await third.open();
    expect((await allMessages(third, 'c')).map((m) => m.clientId).at(-1)).toBe('after');
  });

  it('tells a torn final write (dropped) from a damaged journal (refused)', async () => {
    const { dir, store, messages } = await filledStore(6);
    const image = await crashImage(dir);
    await store.close();
    const recovers = async (damage: (file: string, bytes: Buffer) => Promise<void>): Promise<void> => {
      const copy = await crashImage(image);
      const file = await journalPath(copy);
      await damage(file, await readFile(file));
      const reopened = makeStore(copy);
      await reopened.open();
      expect((await allMessages(reopened, 'c')).map((m) => m.id)).toEqual(messages.map((m) => m.id));
      await reopened.close();
    };
    await recovers((file) => appendFile(file, Buffer.alloc(3000)));
    await recovers((file) => appendFile(file, '0badc0de {"t":"m"'));
    const refuses = async (damage: (file: string, bytes: Buffer) => Promise<void>, pattern: RegExp): Promise<void> => {
      const copy = await crashImage(image);
      const file = await journalPath(copy);
      await damage(file, await readFile(file));
      await expectRefused(copy, file, pattern);
    };
    await refuses((file, bytes) => writeFile(file, Buffer.alloc(bytes.length)), /not the cut-off end/);
    await refuses((file) => writeFile(file, '{"this is": not json ]'), /not the cut-off end/);
    await refuses((file) => appendFile(file, 'garbage line\n'), /not the cut-off end/);
  });

  /** A crash image taken once the commit mark has caught up with the journal (it is written just after each ack). */
  async function markedCrashImage(count: number): Promise<{ image: string; file: string; messages: Message[] }> {
    const { dir, messages } = await filledStore(count);
    const journal = await journalPath(dir);
    await waitUntil(
      'the commit mark to catch up with the journal',
      async () => decodeCommitMark(await readFile(join(dir, 'commit-mark')))?.committed === (await stat(journal)).size,
      { intervalMs: 5 },
    );
    const image = await crashImage(dir);
    return { image, file: await journalPath(image), messages };
  }

  it('refuses a journal cut exactly at a record boundary after acknowledged writes, naming it and both lengths; deleting the commit mark accepts the loss', async () => {
    const { image, file, messages } = await markedCrashImage(10);
    const bytes = await readFile(file);
    // Cut the last three records off at a newline: every remaining line is valid, so only the mark can tell.
    let cut = bytes.length - 1;
    for (let i = 0; i < 3; i++) cut = bytes.lastIndexOf(10, cut - 1);
    await truncate(file, cut + 1);
    const mark = await readFile(join(image, 'commit-mark'));
    await expectRefused(image, file, new RegExp(`holds ${cut + 1} valid bytes, but ${bytes.length} bytes of it were acknowledged`));
    expect(await readFile(join(image, 'commit-mark'))).toEqual(mark);
    await unlink(join(image, 'commit-mark'));
    const accepted = makeStore(image);
    await accepted.open();
    expect((await allMessages(accepted, 'c')).map((m) => m.id)).toEqual(messages.slice(0, 7).map((m) => m.id));
    await accepted.close();
    expect(decodeCommitMark(await readFile(join(image, 'commit-mark')))).toBeDefined();
  });

  it('refuses an acknowledged journal tail cut mid-record (no longer taken for a torn write) and a deleted journal', async () => {
    const { image, file } = await markedCrashImage(6);
    const midRecord = await crashImage(image);
    const size = (await stat(file)).size;
    await truncate(await journalPath(midRecord), size - 40);
    await expectRefused(midRecord, await journalPath(midRecord), new RegExp(`but ${size} bytes of it were acknowledged`));
    await unlink(file);
    await expectRefused(image, file, new RegExp(`is missing, but ${size} bytes of it were acknowledged`));
    expect((await readdir(image)).filter((n) => n.endsWith('.jsonl'))).toEqual([]);
  });

  it('warns about a torn or damaged commit mark and starts with every record, without the length check', async () => {
    const { image, messages } = await markedCrashImage(6);
    const mark = await readFile(join(image, 'commit-mark'));
    for (const damaged of [mark.subarray(0, 30), Buffer.alloc(mark.length), Buffer.from('{"this is": not json ]'), Buffer.alloc(0)]) {
      const copy = await crashImage(image);
      await writeFile(join(copy, 'commit-mark'), damaged);
      const lines: { level: number; msg: string }[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      const store = makeStore(copy, { logger });
      await store.open();
      expect((await allMessages(store, 'c')).map((m) => m.id)).toEqual(messages.map((m) => m.id));
      expect(lines.map((l) => [l.level, l.msg])).toContainEqual([40, 'commit mark torn or damaged; journal length check skipped']);
      await store.close();
      expect(decodeCommitMark(await readFile(join(copy, 'commit-mark')))).toBeDefined();
    }
  });

  it('ignores and removes leftover temp files', async () => {
    const { dir, messages } = await closedCopy();
    await writeFile(join(dir, 'segments', 'c.0.json.tmp-999-1'), '{"half');
    await writeFile(join(dir, 'manifest.json.tmp-999-2'), '');
    const store = makeStore(dir);
    await store.open();
    expect((await allMessages(store, 'c')).map((m) => m.id)).toEqual(messages.map((m) => m.id));
    expect((await readdir(join(dir, 'segments'))).some((n) => n.includes('.tmp-'))).toBe(false);
    expect((await readdir(dir)).some((n) => n.includes('.tmp-'))).toBe(false);
  });
});

describe('LowdbStore data directory lock', () => {
  it('refuses a second open of the same directory, naming the holder', async () => {
    const dir = await tempDir();
    const first = makeStore(dir);
    await first.open();
    const second = makeStore(dir);
    await expect(second.open()).rejects.toThrow(`data directory ${dir} is in use by pid ${process.pid}`);
    await first.close();
    await second.open();
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dir = await tempDir();
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.on('exit', resolve));
    await writeFile(join(dir, 'lock'), `${dead.pid}\n`);
    const store = makeStore(dir);
    await store.open();
    expect((await readFile(join(dir, 'lock'), 'utf8')).trim()).toBe(String(process.pid));
  });
});

describe('LowdbStore with a failing disk', () => {
  it('rejects writes while the disk is full, reports it in health, and recovers when space returns', async () => {
    const { dir, store } = await filledStore(2);
    await store.checkpoint();
    const { generation } = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { generation: number };
    // The next journal generation is /dev/full: every write to it fails with ENOSPC, as on a full disk.
    const next = join(dir, `journal-${generation + 1}.jsonl`);
    await symlink('/dev/full', next);
    await store.checkpoint();
    const send = (clientId: string) =>
      store.appendMessage({ conversationId: 'c', clientId, author: { role: 'visitor' }, text: clientId });
    await expect(send('lost-1')).rejects.toMatchObject({ code: 'storage_unavailable' });
    expect(store.health()).toMatchObject({ ok: false, lastError: expect.stringContaining('ENOSPC') });
    await expect(send('lost-2')).rejects.toMatchObject({ code: 'storage_unavailable' });
    await expect(store.putRecord('ns', 'k', 1)).rejects.toMatchObject({ code: 'storage_unavailable' });
    expect(store.health().ok).toBe(false);

    await unlink(next);
    const ok = await send('after');
    expect(ok.created).toBe(true);
    expect(store.health()).toMatchObject({ ok: true });
    expect(store.health().lastError).toBeUndefined();
    // The message whose write failed was never acknowledged; its sender's retry finds it stored once.
    const retry = await send('lost-1');
    expect(retry.message.clientId).toBe('lost-1');
    const image = await crashImage(dir);
    const reopened = makeStore(image);
    await reopened.open();
    const clientIds = (await allMessages(reopened, 'c')).map((m) => m.clientId);
    expect(clientIds.filter((id) => id === 'lost-1')).toHaveLength(1);
    expect(clientIds).toContain('after');
    expect(clientIds.filter((id) => id === 'lost-2')).toHaveLength(0);
  });

  it('keeps accepting writes when a checkpoint cannot write its files, reports it, and recovers', async () => {
    // The store's clock runs with the wall clock, plus whatever the test skips ahead.
    let skipped = 0;
    const { dir, store } = await filledStore(3, { clock: () => new Date(Date.now() + skipped) });
    // A directory where the segment file must go: the checkpoint's rename fails (EISDIR), as on a broken disk.
    const blocker = join(dir, 'segments', 'c.0.json');
    await mkdir(blocker);
    await expect(store.checkpoint()).rejects.toThrow();
    expect(store.health()).toMatchObject({ ok: false, lastError: expect.stringContaining('checkpoint failed') });
    const during = await store.appendMessage({ conversationId: 'c', clientId: 'during', author: { role: 'visitor' }, text: 'd' });
    expect(during.created).toBe(true);
    await rm(blocker, { recursive: true });
    // The store retries a failed checkpoint on the first write more than 1 s after the failed attempt (afterBatch in
    // checkpoints.ts, on the store's clock): skip that second instead of waiting for it.
    skipped += 1_001;
    await store.appendMessage({ conversationId: 'c', clientId: 'after', author: { role: 'visitor' }, text: 'a' });
    await waitUntil('the retried checkpoint to make the store healthy again', () => store.health().ok);
    expect(store.health()).toMatchObject({ ok: true });
    const image = await crashImage(dir);
    const reopened = makeStore(image);
    await reopened.open();
    expect((await allMessages(reopened, 'c')).map((m) => m.clientId)).toEqual(['k0', 'k1', 'k2', 'during', 'after']);
  });
});

describe('LowdbStore statuses', () => {
  const statuses: StoredStatus[] = ['sent', 'failed', 'delivered', 'read'];

  it('never moves a status backwards under shuffled duplicate updates, also after a restart', { timeout: 120_000 }, async () => {
    const dir = await tempDir();
    const store = makeStore(dir);
    await store.open();
    await store.createConversation({ id: 'c', channel: 'whatsapp', name: 'W' });
    let n = 0;
    // A fixed seed: the same inputs every run, so a failure replays as it is and no run passes or fails by the draw.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...statuses), { minLength: 1, maxLength: 12 }), async (updates) => {
        const { message } = await store.appendMessage({ conversationId: 'c', clientId: `p${n++}`, author: { role: 'agent' }, text: 'x' });
        let rank = STATUS_RANK.sent;
        for (const status of updates) {
          const result = await store.applyStatus('c', message.id, { status, failure: { code: 'e', reason: 'r' } });
          const stored = (await store.getMessage('c', message.id))!;
          expect(STATUS_RANK[stored.status]).toBeGreaterThanOrEqual(rank);
          expect(result.changed.length).toBe(STATUS_RANK[status] > rank ? 1 : 0);
          rank = STATUS_RANK[stored.status];
          for (const s of statuses) if (STATUS_RANK[s] <= rank && s !== 'failed' && s !== 'sent') expect(stored.statusAt[s]).toBeDefined();
        }
        const best = Math.max(STATUS_RANK.sent, ...updates.map((s) => STATUS_RANK[s]));
        expect(STATUS_RANK[(await store.getMessage('c', message.id))!.status]).toBe(best);
      }),
      { numRuns: 60, seed: 42 },
    );
    const before = await allMessages(store, 'c');
    await store.close();
    await store.open();
    expect(await allMessages(store, 'c')).toEqual(before);
  });
});

describe('LowdbStore status by external id', () => {
  it('applies a status to the message stored under an external id in one call, never backwards, durably; undefined for an unknown id', async () => {
    const { dir, store, messages } = await filledStore(3);
    await store.setExternalId('c', messages[1]!.id, 'wamid.1');
    expect(await store.applyStatusByExternalId('wamid.unknown', { status: 'delivered' })).toBeUndefined();
    const first = await store.applyStatusByExternalId('wamid.1', { status: 'delivered', at: '2026-11-24T04:00:00.000Z' });
    expect(first?.changed.map((m) => [m.id, m.status])).toEqual([[messages[1]!.id, 'delivered']]);
    expect(first?.conversation.id).toBe('c');
    expect(first?.conversation.rev).toBe(first?.changed[0]!.rev);
    // Duplicates and lower ranks change nothing, like applyStatus.
    expect((await store.applyStatusByExternalId('wamid.1', { status: 'delivered' }))?.changed).toEqual([]);
    expect((await store.applyStatusByExternalId('wamid.1', { status: 'sent' }))?.changed).toEqual([]);
    expect((await store.getMessage('c', messages[0]!.id))?.status).toBe('sent');
    const image = await crashImage(dir);
    const reopened = makeStore(image);
    await reopened.open();
    expect((await reopened.getMessage('c', messages[1]!.id))?.status).toBe('delivered');
    const read = await reopened.applyStatusByExternalId('wamid.1', { status: 'read' });
    expect(read?.changed.map((m) => m.status)).toEqual(['read']);
  });
});

describe('LowdbStore idempotent enqueue', () => {
  it('an existing id returns the existing item unchanged in any state, also racing and after a crash or a restart', async () => {
    const dir = await tempDir();
    const store = makeStore(dir);
    await store.open();
    // Racing enqueues of one id (the live sink and the catch-up) make one item: the first payload wins.
    const [a, b] = await Promise.all([store.enqueue('webhook', { n: 1 }, 'evt:m:created'), store.enqueue('webhook', { n: 2 }, 'evt:m:created')]);
    expect(b).toEqual(a);
    expect(a.payload).toEqual({ n: 1 });
    const delivered = { ...a, state: 'delivered' as const, attempts: 1, log: [{ at: a.createdAt, ok: true, status: 200 }] };
    await store.updateQueueItem(delivered);
    const dead = await store.enqueue('whatsapp-send', { n: 3 }, 'wa-send:m');
    await store.updateQueueItem({ ...dead, state: 'dead', attempts: 8, lastError: 'HTTP 500' });
    const check = async (s: LowdbStore) => {
      expect(await s.enqueue('webhook', { n: 9 }, 'evt:m:created')).toEqual(delivered);
      expect(await s.enqueue('whatsapp-send', { n: 9 }, 'wa-send:m')).toMatchObject({ state: 'dead', attempts: 8, payload: { n: 3 } });
      expect(await s.dueItems('webhook', '9999-01-01T00:00:00.000Z', 10)).toEqual([]);
      expect(await s.dueItems('whatsapp-send', '9999-01-01T00:00:00.000Z', 10)).toEqual([]);
      expect(await s.listQueueItems('webhook', 10)).toHaveLength(1);
    };
    await check(store);
    const crashed = makeStore(await crashImage(dir));
    await crashed.open();
    await check(crashed);
    await store.close();
    const reopened = makeStore(dir);
    await reopened.open();
    await check(reopened);
  });
});

describe('one change, one journal line', () => {
  it('a message, the reopen of its conversation and its outbound work survive a crash right after the ack together, or are lost together', async () => {
    const dir = await tempDir();
    const store = makeStore(dir, { checkpointIntervalMs: 3_600_000 });
    await store.open();
    store.addOutboundWork({
      messageCreated: (m) => [{ queue: 'whatsapp-send', id: `wa-send:${m.id}`, payload: { text: m.text } }],
    });
    await store.createConversation({ id: 'c', channel: 'whatsapp', name: 'W', externalUserId: '49' });
    await store.setConversationState('c', 'closed');
    const journalBefore = await readFile(join(dir, 'journal-1.jsonl'), 'utf8').catch(() => undefined);
    const { message } = await store.appendMessage({ conversationId: 'c', clientId: 'r', author: { role: 'agent' }, text: 'reply', reopen: true });
    // Acknowledged: the directory as a kill -9 leaves it right now.
    const image = await crashImage(dir);
    const journals = (await readdir(image)).filter((name) => name.startsWith('journal-'));
    const newest = journals.sort().at(-1)!;
    const text = await readFile(join(image, newest), 'utf8');
    const lastLine = text.trimEnd().split('\n').at(-1)!;
    expect(lastLine).toContain('"t":"tx"');
    expect(journalBefore === undefined || !journalBefore.includes(message.id)).toBe(true);

    const restarted = makeStore(image);
    await restarted.open();
    expect((await restarted.getMessage('c', message.id))?.text).toBe('reply');
    expect((await restarted.getConversation('c'))?.state).toBe('open');
    expect((await restarted.listQueueItems('whatsapp-send', 10)).map((i) => i.id)).toEqual([`wa-send:${message.id}`]);
    await restarted.close();

    // The same line torn by a crash mid-write (never acknowledged): none of the three survives.
    const torn = await crashImage(dir);
    const tornText = await readFile(join(torn, newest), 'utf8');
    await writeFile(join(torn, newest), tornText.slice(0, tornText.length - 40));
    await unlink(join(torn, 'commit-mark'));
    const afterTear = makeStore(torn);
    await afterTear.open();
    expect(await afterTear.getMessage('c', message.id)).toBeUndefined();
    expect((await afterTear.getConversation('c'))?.state).toBe('closed');
    expect(await afterTear.listQueueItems('whatsapp-send', 10)).toEqual([]);
  });
});
