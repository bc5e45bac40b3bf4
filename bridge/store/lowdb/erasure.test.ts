/**
 * Erasure on the lowdb engine under crashes: an erasure journaled but not yet rewritten into the files is finished
 * by the next open(), and a process killed (SIGKILL) at each step of an erasure leaves either the old or the
 * erased state (the record the erasure remembers with it) — never a store that refuses to open, and never the erased
 * text in any file.
 */
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../logger.ts';
import { LowdbStore } from './lowdb-store.ts';
import { filesHolding } from '../../testing/store-files.ts';
import { startCrashChild } from '../../testing/crash-child.ts';

const dirs: string[] = [];
const stores: LowdbStore[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-erasure-'));
  dirs.push(dir);
  return dir;
}

function makeStore(dataDir: string): LowdbStore {
  const store = new LowdbStore({ dataDir, logger: silentLogger(), segmentSize: 4 });
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function fill(store: LowdbStore, id: string, texts: string[]): Promise<void> {
  await store.createConversation({ id, channel: 'web', name: id });
  for (const [i, text] of texts.entries()) {
    await store.appendMessage({ conversationId: id, clientId: `${id}-${i}`, author: { role: 'visitor' }, text });
  }
}

describe('LowdbStore erasure', () => {
  it('finishes at open an erasure whose checkpoint failed: the text leaves every file, the record it remembers and the rest stay', async () => {
    const dir = await tempDir();
    const store = makeStore(dir);
    await store.open();
    await fill(store, 'gone', ['secret alpha 1', 'secret alpha 2', 'secret alpha 3', 'secret alpha 4', 'secret alpha 5']);
    await fill(store, 'kept', ['k1', 'k2', 'k3', 'k4']);
    await store.checkpoint();
    await store.appendMessage({ conversationId: 'gone', clientId: 'g-late', author: { role: 'agent' }, text: 'secret alpha late' });
    // The next checkpoint must write kept's second segment: a directory in its way makes it fail (EISDIR).
    await store.appendMessage({ conversationId: 'kept', clientId: 'k5', author: { role: 'visitor' }, text: 'k5' });
    await mkdir(join(dir, 'segments', 'kept.1.json'));
    const remember = { namespace: 'erased-conversation', key: 'gone', value: { at: 'erasure time' } };
    await expect(store.eraseConversation('gone', { remember })).rejects.toMatchObject({ code: 'storage_unavailable' });
    expect(await store.getConversation('gone')).toBeUndefined();
    expect((await filesHolding(dir, 'secret alpha')).length).toBeGreaterThan(0);

    // What a crash at this moment leaves (the erasure journaled, its files not rewritten), with the disk fixed.
    const image = await tempDir();
    await cp(dir, image, { recursive: true, filter: (src) => basename(src) !== 'lock' });
    await rm(join(image, 'segments', 'kept.1.json'), { recursive: true });
    const reopened = makeStore(image);
    await reopened.open();
    expect(await filesHolding(image, 'secret alpha')).toEqual([]);
    expect(await reopened.getConversation('gone')).toBeUndefined();
    // Replayed from the erasure's own journal line.
    expect(await reopened.getRecord('erased-conversation', 'gone')).toEqual({ at: 'erasure time' });
    expect((await reopened.getMessages('kept', { limit: 10 })).map((m) => m.text)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
  });

  it('deletes at open the segment files of a conversation that no longer exists (a kill after the checkpoint)', async () => {
    const dir = await tempDir();
    const store = makeStore(dir);
    await store.open();
    await fill(store, 'gone', ['secret beta 1', 'secret beta 2', 'secret beta 3', 'secret beta 4', 'secret beta 5']);
    await fill(store, 'kept', ['k1']);
    await store.checkpoint();
    const before = await tempDir();
    await cp(join(dir, 'segments'), before, { recursive: true });
    await store.eraseConversation('gone');
    await store.close();
    // Put back what the deletions removed, as if the process died right before them.
    for (const name of await readdir(before)) if (name.startsWith('gone.')) await cp(join(before, name), join(dir, 'segments', name));
    expect((await filesHolding(dir, 'secret beta')).length).toBeGreaterThan(0);
    const reopened = makeStore(dir);
    await reopened.open();
    expect(await filesHolding(dir, 'secret beta')).toEqual([]);
    expect((await reopened.getMessages('kept', { limit: 10 })).map((m) => m.text)).toEqual(['k1']);
  });

  it('leaves the old or the erased state (with the record it remembers) after a SIGKILL at each step of an erasure, never the text of an erased one', { timeout: 180_000 }, async () => {
    const dir = await tempDir();
    const keptAcked = new Set<string>();
    let erasedTotal = 0;
    // One round per named step of an erasure (bridge/testing/lowdb-erasure-crash-child.ts): the child kills itself there.
    const killPoints = ['checkpoint-start', 'checkpoint-middle', 'segment-delete', 'segment-deleted', 'erased'];
    for (const [round, killAt] of killPoints.entries()) {
      const child = startCrashChild('bridge/testing/lowdb-erasure-crash-child.ts', dir, `r${round}`, killAt);
      await child.closed(`erasure crash child round ${round} killing itself at '${killAt}'`);
      expect(child.out, child.err).toContain(`at ${killAt}\n`);
      expect(child.process.signalCode).toBe('SIGKILL');
      const lines = child.lines();
      const filled = new Set<string>();
      const erased = new Set<string>();
      for (const line of lines) {
        const [kind, value] = line.split(' ');
        if (kind === 'kept' && value) keptAcked.add(value);
        if (kind === 'filled' && value) filled.add(value);
        if (kind === 'erased' && value) erased.add(value);
      }
      erasedTotal += erased.size;

      const store = makeStore(dir);
      await store.open();
      for (const id of filled) {
        const conversation = await store.getConversation(id);
        if (erased.has(id)) expect(conversation, id).toBeUndefined();
        // Written with the erasure: both or neither.
        expect(await store.getRecord('erased-conversation', id), id).toEqual(conversation ? undefined : { at: id });
        if (conversation) {
          // The erasure in flight never became durable: the conversation is whole.
          expect((await store.getMessages(id, { limit: 100 })).map((m) => m.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
        } else {
          expect(await filesHolding(dir, `secret ${id} `), id).toEqual([]);
        }
      }
      const kept = await store.getMessages('kept', { limit: 1_000_000 });
      const keptIds = new Set(kept.map((m) => m.clientId));
      for (const clientId of keptAcked) expect(keptIds.has(clientId), clientId).toBe(true);
      expect(kept.map((m) => m.seq)).toEqual(kept.map((_, i) => i + 1));
      // Erase what the kill left unerased, so the next round's files hold only that round's secrets.
      for (const id of filled) if (await store.getConversation(id)) await store.eraseConversation(id);
      await store.close();
      stores.splice(stores.indexOf(store), 1);
    }
    // Each round's first erasure, and the second of the round killed after it resolved.
    expect(erasedTotal).toBe(killPoints.length + 1);
  });
});
