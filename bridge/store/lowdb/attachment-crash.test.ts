/**
 * kill -9 during attachment uploads on the embedded engine: afterwards no half-written file is visible (no temp
 * file, every file's bytes hash to its name, no file without an attachment), every acknowledged attachment reads
 * back whole, and every stored message's attachments have their files.
 */
import { afterAll, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../logger.ts';
import { startCrashChild } from '../../testing/crash-child.ts';
import { LowdbStore } from './lowdb-store.ts';
import { TEMP_MARKER } from './atomic-json-file.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it('leaves no half file visible and no acknowledged message without its file after SIGKILLs mid-upload', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-attachment-crash-'));
  dirs.push(dir);
  const ackedAttachments = new Map<string, string>();
  const ackedMessages = new Map<string, string>();
  // Kill after a set number of acknowledged lines (attachments and messages), not after a time.
  const killAfterAcks = [3, 17, 8];
  for (let round = 0; round < killAfterAcks.length; round++) {
    const child = startCrashChild('bridge/testing/lowdb-attachment-crash-child.ts', dir, `r${round}`);
    await child.ready(`attachment crash child round ${round}`);
    expect(child.out, child.err).toContain('ready\n');
    const target = killAfterAcks[round]!;
    await child.acknowledged(target, `attachment crash child round ${round}`);
    expect(child.process.exitCode, child.err).toBeNull();
    await child.kill(`attachment crash child round ${round}`);
    const lines = child.lines();
    for (const line of lines) {
      const [kind, a, b] = line.split(' ');
      if (kind === 'a' && a && b) ackedAttachments.set(a, b);
      if (kind === 'm' && a && b) ackedMessages.set(a, b);
    }
  }
  expect(ackedAttachments.size).toBeGreaterThan(0);

  const store = new LowdbStore({ dataDir: dir, logger: silentLogger() });
  await store.open();
  try {
    // Every file on disk is whole and belongs to a stored attachment (open swept the rest).
    const folder = join(dir, 'files', 'conv-files');
    const names = await readdir(folder);
    expect(names.filter((name) => name.includes(TEMP_MARKER))).toEqual([]);
    const stored = new Set<string>();
    for (const name of names.filter((n) => !n.endsWith('.thumb'))) {
      const bytes = await readFile(join(folder, name));
      expect(createHash('sha256').update(bytes).digest('hex'), `file ${name}`).toBe(name);
      stored.add(name);
    }
    for (const [id, sha256] of ackedAttachments) {
      const bytes = await store.readAttachment(id, 'content');
      expect(bytes, `acknowledged attachment ${id}`).toBeDefined();
      expect(createHash('sha256').update(bytes!).digest('hex')).toBe(sha256);
    }
    const messages = await store.getMessages('conv-files', { limit: 1000 });
    for (const clientId of ackedMessages.keys()) expect(messages.some((m) => m.clientId === clientId), clientId).toBe(true);
    for (const message of messages) {
      for (const attachment of message.attachments ?? []) {
        const meta = await store.getAttachment(attachment.id);
        expect(meta, `attachment of message ${message.clientId}`).toBeDefined();
        expect(stored.has(meta!.sha256)).toBe(true);
        expect((await store.readAttachment(attachment.id, 'content'))?.byteLength).toBe(attachment.size);
      }
    }
    // Every run's contents differ: one file per stored attachment, none more, none fewer.
    expect(store.health().attachments).toBe(stored.size);
  } finally {
    await store.close();
  }
});
