/**
 * kill -9 during attachment uploads on the PostgreSQL engine (the lowdb counterpart is lowdb/attachment-crash.test.ts):
 * a real bridge process on a throwaway database takes uploads and the messages naming them, three at a time, and is
 * SIGKILLed while they are in flight. Afterwards every attachment row holds its whole bytes (hash and size match), every
 * acknowledged upload and message is stored, and no stored message names an attachment without its file.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { silentLogger } from '../../logger.ts';
import { connectVisitor, emitWithAck, startBridgeProcess, waitUntil, type BridgeProcess } from '../../testing/index.ts';
import { createTestDatabase } from '../../testing/test-database.ts';
import { PostgresStore } from './postgres-store.ts';

const SECRETS = {
  VISITOR_TOKEN_SECRET: 'crash-visitor-secret-0123456789',
  AGENT_TOKEN_SECRET: 'crash-agent-secret-0123456789',
  SITE_SECRET: 'crash-site-secret-0123456789',
};
let node: BridgeProcess | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await node?.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('leaves no attachment without its whole bytes and no acknowledged upload or message missing after a SIGKILL mid-upload', async () => {
  const databaseUrl = await createTestDatabase('attachment_crash');
  dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-pg-attachment-crash-'));
  node = await startBridgeProcess({ dataDir, env: { DATABASE_URL: databaseUrl, ...SECRETS }, timeoutMs: 60_000 });
  const visitor = await connectVisitor(node.url, {}, { reconnection: false });
  const { token, conversationId } = visitor.session;
  const ackedUploads = new Map<string, string>();
  const ackedMessages = new Set<string>();
  let next = 0;
  let killed = false;
  const worker = async (): Promise<void> => {
    while (!killed) {
      const n = next++;
      const body = new Uint8Array(Buffer.alloc(256 * 1024, `upload ${n} of the crash test\n`));
      try {
        const res = await fetch(`${node!.url}/api/attachments?uploadKey=crash.${n}&name=log-${n}.txt`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body });
        const json = (await res.json()) as { attachment?: { id: string } };
        if (res.status !== 201 || !json.attachment) continue;
        ackedUploads.set(json.attachment.id, createHash('sha256').update(body).digest('hex'));
        const sent = await emitWithAck(visitor, 'message:send', { clientId: `crash-${n}`, attachments: [json.attachment.id] }, 5_000);
        if (sent.ok) ackedMessages.add(`crash-${n}`);
      } catch {
        // The bridge is gone: an answer that never came was never an acknowledgement.
      }
    }
  };
  const workers = [worker(), worker(), worker()];
  // Killed after a set number of acknowledged messages, not after a time; three uploads are in flight then.
  await waitUntil('12 acknowledged messages with attachments', () => ackedMessages.size >= 12, { timeoutMs: 60_000 });
  await node.kill('SIGKILL');
  killed = true;
  visitor.close();
  await Promise.all(workers);

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const store = new PostgresStore({ pool, logger: silentLogger() });
  await store.open();
  try {
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM attachments');
    expect(rows.length).toBeGreaterThanOrEqual(ackedUploads.size);
    for (const { id } of rows) {
      const meta = await store.getAttachment(id);
      const bytes = await store.readAttachment(id, 'content');
      expect(bytes?.byteLength, `attachment ${id}`).toBe(meta?.size);
      expect(createHash('sha256').update(bytes!).digest('hex'), `attachment ${id}`).toBe(meta?.sha256);
    }
    for (const [id, sha256] of ackedUploads) expect((await store.getAttachment(id))?.sha256, `acknowledged upload ${id}`).toBe(sha256);
    const messages = await store.getMessages(conversationId, { limit: 1000 });
    for (const clientId of ackedMessages) expect(messages.some((m) => m.clientId === clientId), clientId).toBe(true);
    for (const message of messages) {
      for (const attachment of message.attachments ?? []) {
        expect((await store.readAttachment(attachment.id, 'content'))?.byteLength, `file of ${message.clientId}`).toBe(attachment.size);
      }
    }
  } finally {
    await store.close();
    await pool.end();
  }
});
