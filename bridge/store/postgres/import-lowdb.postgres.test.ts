/**
 * `npm run import-lowdb` (the real command in a child process): a data directory filled through the real lowdb store
 * — conversations over several segments, receipts, a failed reply, external ids, verified users (two conversations
 * naming one), an empty and a closed conversation, agents, records, queue items in every state — lands in PostgreSQL
 * with the same answers from every Store read, the same seq/rev and watermarks; a second run writes no row (xmin);
 * a bridge process on PostgreSQL serves it to an imported agent's login, continues its seq, and a later import reports
 * the conversation it changed instead of overwriting it. Bad settings end with one sentence.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Conversation } from '../../../protocol/conversation.ts';
import type { Message } from '../../../protocol/message.ts';
import { createAgentAccount } from '../../auth/agent-accounts.ts';
import { silentLogger } from '../../logger.ts';
import { startBridgeProcess } from '../../testing/bridge-process.ts';
import { createTestDatabase } from '../../testing/test-database.ts';
import { LowdbStore } from '../lowdb/lowdb-store.ts';
import type { QueueItem } from '../store.ts';
import { PostgresStore } from './postgres-store.ts';
import { importLowdbCommand } from './import-lowdb-main.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const logger = silentLogger();
let url: string;
let dataDir: string;
let pool: pg.Pool;
const ids: Record<'threads' | 'whatsapp' | 'verifiedOld' | 'verifiedNew' | 'empty' | 'attachment', string> = {
  threads: '', whatsapp: '', verifiedOld: '', verifiedNew: '', empty: '', attachment: '',
};
const PHOTO = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
const THUMBNAIL = new Uint8Array([9, 8, 7, 6]);

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command as an operator runs it (`npm run import-lowdb` is `tsx` on this file), in a child process. */
async function importProcess(args: string[], env: Record<string, string> = { DATABASE_URL: url }): Promise<CommandResult> {
  const command = ['--import', 'tsx', join(ROOT, 'bridge/store/postgres/import-lowdb-main.ts'), ...args];
  const { DATABASE_URL: _drop, DATA_DIR: _dir, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await run(process.execPath, command, { cwd: ROOT, env: { ...inherited, LOG_LEVEL: 'silent', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The same command in this process (a child costs seconds on a loaded machine). */
async function importCommand(args: string[], env: Record<string, string> = { DATABASE_URL: url }): Promise<CommandResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await importLowdbCommand(args, { LOG_LEVEL: 'silent', ...env }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join('') };
}

/** The table row of `label`: DATA_DIR, PostgreSQL, imported now. */
function row(stdout: string, label: string): number[] {
  const line = stdout.split('\n').find((l) => l.startsWith(label));
  if (!line) throw new Error(`no "${label}" row in:\n${stdout}`);
  return line.slice(label.length).trim().split(/\s+/).slice(0, 3).map((n) => Number(n.replaceAll(',', '')));
}

/** Every row of every table with its xmin: a row rewritten with the same values still shows a new xmin. */
async function snapshot(): Promise<string> {
  const tables = ['conversations', 'messages', 'attachments', 'agents', 'records', 'queue_items'];
  const parts: string[] = [];
  for (const table of tables) {
    const { rows } = await pool.query<{ line: string }>(
      `SELECT xmin::text || ' ' || row_to_json(t)::text AS line FROM ${table} t ORDER BY 1`,
    );
    parts.push(`${table}: ${rows.map((r) => r.line).join('\n')}`);
  }
  return parts.join('\n');
}

const byId = <T extends { id: string }>(items: T[]): T[] => [...items].sort((a, b) => (a.id < b.id ? -1 : 1));

beforeAll(async () => {
  url = await createTestDatabase('import_lowdb');
  pool = new pg.Pool({ connectionString: url, max: 4 });
  dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-import-'));
  const store = new LowdbStore({ dataDir, logger });
  await store.open();
  const now = new Date();
  await createAgentAccount(store, { name: 'alice', displayName: 'Alice', role: 'admin', password: 'alice-password' }, now);
  await createAgentAccount(store, { name: 'bob', displayName: 'Bob', role: 'agent', password: 'bob-password' }, now);

  // 250 messages: three segment files, receipts, a failed reply, one linked to an external id.
  const threads = await store.createConversation({ channel: 'web', name: 'Visitor 4F2A', site: 'shop' });
  ids.threads = threads.id;
  const appended: Message[] = [];
  for (let i = 1; i <= 250; i++) {
    const role = i % 3 === 0 ? 'agent' : 'visitor';
    const { message } = await store.appendMessage({
      conversationId: threads.id,
      clientId: `c-${i}`,
      author: role === 'agent' ? { role, agentId: 'a1', name: 'alice' } : { role },
      text: i === 7 ? 'nul \u0000 and ünïcödé 🙂' : `message ${i}`,
    });
    appended.push(message);
  }
  await store.applyReceipt(threads.id, 'visitor', 200, 'delivered');
  await store.applyReceipt(threads.id, 'visitor', 120, 'read');
  await store.applyReceipt(threads.id, 'agent', 90, 'read');
  await store.applyStatus(threads.id, appended[242]!.id, { status: 'failed', failure: { code: 'rejected', reason: 'no' } });
  await store.setExternalId(threads.id, appended[245]!.id, 'ext-246');

  // An image with its thumbnail, sent with the 251st message.
  const { attachment } = await store.putAttachment({
    conversationId: threads.id,
    uploader: 'visitor',
    uploadKey: 'upload-1',
    name: 'photo.png',
    type: 'image/png',
    content: PHOTO,
    thumbnail: THUMBNAIL,
  });
  ids.attachment = attachment.id;
  await store.appendMessage({
    conversationId: threads.id,
    clientId: 'c-251',
    author: { role: 'visitor' },
    text: '',
    attachments: [{ id: attachment.id, name: 'photo.png', type: 'image/png', size: PHOTO.byteLength, thumbnail: true }],
  });

  const whatsapp = await store.createConversation({ channel: 'whatsapp', name: 'Ana', externalUserId: '4915112345' });
  ids.whatsapp = whatsapp.id;
  await store.appendMessage({ conversationId: whatsapp.id, clientId: 'wa-1', author: { role: 'visitor' }, text: 'hola', externalId: 'wamid.1' });
  await store.setConversationState(whatsapp.id, 'closed');

  // Two conversations name one verified user: lookups answer one of them.
  const verifiedOld = await store.createConversation({ channel: 'web', name: 'Old tab' });
  await store.appendMessage({ conversationId: verifiedOld.id, clientId: 'v-1', author: { role: 'visitor' }, text: 'first' });
  await store.setConversationExternalUser(verifiedOld.id, 'user-7');
  const verifiedNew = await store.createConversation({ channel: 'web', name: 'New tab', externalUserId: 'user-7' });
  await store.appendMessage({ conversationId: verifiedNew.id, clientId: 'v-2', author: { role: 'visitor' }, text: 'second' });
  ids.verifiedOld = verifiedOld.id;
  ids.verifiedNew = verifiedNew.id;
  ids.empty = (await store.createConversation({ channel: 'web', name: 'Nobody wrote' })).id;

  const future = new Date(now.getTime() + 86_400_000).toISOString();
  await store.putRecord('pending-status', 'wamid.LATE', { status: 'read', at: now.toISOString() }, future);
  await store.addRecordOnce('status-webhook-delivery', 'delivery-1', { at: now.toISOString() }, future);
  await store.putRecord('webhook-receiver', 'https://example.test/hook', { failures: 2 });
  await store.putRecord('pending-status', 'wamid.GONE', { status: 'read' }, new Date(now.getTime() - 1000).toISOString());

  await store.enqueue('webhook', { event: 'message.created' }, 'evt:1:created');
  const delivered = await store.enqueue('webhook', { event: 'message.read' }, 'evt:1:read');
  await store.updateQueueItem({ ...delivered, state: 'delivered', attempts: 2, log: [{ at: now.toISOString(), ok: false, status: 500 }, { at: now.toISOString(), ok: true, status: 200 }] });
  const dead = await store.enqueue('whatsapp-send', { text: 'hi' }, 'wa-send:x');
  await store.updateQueueItem({ ...dead, state: 'dead', attempts: 8, lastError: 'rejected' });
  await store.close();
});

afterAll(async () => {
  await pool?.end();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm run import-lowdb', () => {
  it('imports everything with seq, rev, statuses and links as they are; a second run writes no row', async () => {
    const first = await importProcess(['--data-dir', dataDir]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(row(first.stdout, 'conversations')).toEqual([5, 5, 5]);
    expect(row(first.stdout, 'messages')).toEqual([254, 254, 254]);
    expect(row(first.stdout, 'attachments')).toEqual([1, 1, 1]);
    expect(row(first.stdout, 'queue items')).toEqual([3, 3, 3]);
    expect(row(first.stdout, 'agents')).toEqual([2, 2, 2]);
    // The expired record is not carried over.
    expect(row(first.stdout, 'records')).toEqual([3, 3, 3]);

    const source = new LowdbStore({ dataDir, logger });
    await source.open();
    const destination = new PostgresStore({ pool, logger });
    await destination.open();
    try {
      expect(await destination.getAttachment(ids.attachment)).toEqual(await source.getAttachment(ids.attachment));
      expect(Buffer.from((await destination.readAttachment(ids.attachment, 'content'))!)).toEqual(Buffer.from(PHOTO));
      expect(Buffer.from((await destination.readAttachment(ids.attachment, 'thumbnail'))!)).toEqual(Buffer.from(THUMBNAIL));
      for (const id of [ids.threads, ids.whatsapp, ids.verifiedOld, ids.verifiedNew, ids.empty]) {
        const conversation = (await source.getConversation(id))!;
        expect(await destination.getConversation(id)).toEqual(conversation);
        const messages = await source.getMessages(id, { limit: 1000 });
        expect(await destination.getMessages(id, { limit: 1000 })).toEqual(messages);
        expect(await destination.getChangesSince(id, 100, 1000)).toEqual(await source.getChangesSince(id, 100, 1000));
      }
      const threads = (await destination.getConversation(ids.threads))!;
      expect(threads).toMatchObject({ lastSeq: 251, agentReadSeq: 120, visitorReadSeq: 90 });
      expect(threads.rev).toBeGreaterThan(251);
      const messages = await destination.getMessages(ids.threads, { limit: 1000 });
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 251 }, (_, i) => i + 1));
      expect(messages[242]).toMatchObject({ status: 'failed', failure: { code: 'rejected' } });
      expect(messages[6]!.text).toBe('nul \u0000 and ünïcödé 🙂');
      const { rows: marks } = await pool.query<{ v: string; a: string }>(
        'SELECT delivered_visitor_seq AS v, delivered_agent_seq AS a FROM conversations WHERE id = $1',
        [ids.threads],
      );
      expect(marks[0]).toEqual({ v: '200', a: '90' });

      // Whichever of the two the embedded store answers (after a restart that is not always the later link).
      const linked = (await source.findConversationByExternalUser('web', 'user-7'))!.id;
      expect([ids.verifiedOld, ids.verifiedNew]).toContain(linked);
      expect((await destination.findConversationByExternalUser('web', 'user-7'))!.id).toBe(linked);
      expect((await destination.findConversationByExternalUser('whatsapp', '4915112345'))!.id).toBe(ids.whatsapp);
      expect(await destination.findMessageByExternalId('ext-246')).toEqual(await source.findMessageByExternalId('ext-246'));
      expect(await destination.findMessageByExternalId('wamid.1')).toEqual(await source.findMessageByExternalId('wamid.1'));
      expect(await destination.listConversations({ filter: 'all' })).toEqual(await source.listConversations({ filter: 'all' }));
      expect(await destination.listConversations({ filter: 'all', query: 'hola' })).toEqual(await source.listConversations({ filter: 'all', query: 'hola' }));

      for (const name of ['alice', 'bob']) expect(await destination.getAgentByName(name)).toEqual(await source.getAgentByName(name));
      for (const [ns, key] of [['pending-status', 'wamid.LATE'], ['status-webhook-delivery', 'delivery-1'], ['webhook-receiver', 'https://example.test/hook']] as const) {
        expect(await destination.getRecord(ns, key)).toEqual(await source.getRecord(ns, key));
      }
      expect(await destination.getRecord('pending-status', 'wamid.GONE')).toBeUndefined();
      for (const queue of ['webhook', 'whatsapp-send']) {
        const there = byId(await destination.listQueueItems<QueueItem>(queue, 10));
        expect(there).toEqual(byId(await source.listQueueItems<QueueItem>(queue, 10)));
      }
      expect((await destination.dueItems('webhook', new Date().toISOString(), 10)).map((i) => i.id)).toEqual(['evt:1:created']);
    } finally {
      await destination.close();
      await source.close();
    }

    const before = await snapshot();
    const second = await importCommand(['--data-dir', dataDir]);
    expect(second.code).toBe(0);
    for (const [label, n] of [['conversations', 5], ['messages', 254], ['attachments', 1], ['queue items', 3], ['agents', 2], ['records', 3]] as const) {
      expect(row(second.stdout, label)).toEqual([n, n, 0]);
    }
    expect(await snapshot()).toBe(before);
  });

  it('a bridge on PostgreSQL serves the imported conversation to an imported agent and continues its seq; a later import reports what it changed', async () => {
    const bridgeDir = await mkdtemp(join(tmpdir(), 'anon-chat-import-node-'));
    const node = await startBridgeProcess({
      dataDir: bridgeDir,
      env: {
        DATABASE_URL: url,
        VISITOR_TOKEN_SECRET: 'import-visitor-secret-0123456789',
        AGENT_TOKEN_SECRET: 'import-agent-secret-0123456789',
        SITE_SECRET: 'import-site-secret-0123456789',
      },
      timeoutMs: 60_000,
    });
    try {
      const http = axios.create({ baseURL: `${node.url}/api`, validateStatus: () => true });
      const login = await http.post<{ token: string }>('/auth/login', { name: 'alice', password: 'alice-password' });
      expect(login.status).toBe(200);
      const auth = { headers: { authorization: `Bearer ${login.data.token}` } };
      const page = await http.get<{ messages: Message[]; hasMore: boolean }>(`/conversations/${ids.threads}/messages?limit=100`, auth);
      expect(page.status).toBe(200);
      expect(page.data.hasMore).toBe(true);
      expect(page.data.messages.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 152));
      expect(page.data.messages[91]).toMatchObject({ status: 'failed', failure: { code: 'rejected' } });
      const file = await http.get<ArrayBuffer>(`/attachments/${ids.attachment}`, { ...auth, responseType: 'arraybuffer' });
      expect(file.status).toBe(200);
      expect(Buffer.from(file.data)).toEqual(Buffer.from(PHOTO));
      const list = await http.get<{ conversations: Conversation[] }>('/conversations?filter=all', auth);
      expect(list.data.conversations.map((c) => c.id).sort()).toEqual(
        [ids.threads, ids.whatsapp, ids.verifiedOld, ids.verifiedNew].sort(),
      );
      const before = page.data.messages.at(-1)!;
      const { rows } = await pool.query<{ rev: string }>('SELECT rev FROM conversations WHERE id = $1', [ids.threads]);
      const reply = await http.post<{ message: Message }>(`/conversations/${ids.threads}/messages`, { text: 'after the move' }, auth);
      expect(reply.status).toBe(201);
      expect(reply.data.message).toMatchObject({ seq: before.seq + 1, rev: Number(rows[0]!.rev) + 1 });
    } finally {
      await node.stop();
      await rm(bridgeDir, { recursive: true, force: true });
    }

    const again = await importCommand(['--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`conflict: conversation ${ids.threads} differs in the database`);
    expect(row(again.stdout, 'conversations')).toEqual([5, 4, 0]);
    const { rows: kept } = await pool.query<{ last_seq: string }>('SELECT last_seq FROM conversations WHERE id = $1', [ids.threads]);
    expect(kept[0]!.last_seq).toBe('252');
  });

  it('bad settings end with one sentence and exit 1', async () => {
    const missing = join(tmpdir(), 'anon-chat-no-such-dir');
    const [noDir, notData, badScheme, unreachable] = await Promise.all([
      importCommand(['--data-dir', missing]),
      importCommand(['--data-dir', ROOT]),
      importCommand(['--data-dir', dataDir], { DATABASE_URL: 'mysql://h/db' }),
      importCommand(['--data-dir', dataDir], { DATABASE_URL: 'postgres://chat:pw@127.0.0.1:1/chat' }),
    ]);
    expect(noDir).toMatchObject({ code: 1, stdout: '' });
    expect(noDir.stderr.trim()).toBe(`import-lowdb: data directory ${missing} does not exist`);
    expect(notData.stderr.trim()).toBe(`import-lowdb: ${ROOT} holds no anon-chat lowdb data (no manifest.json); is it the bridge's DATA_DIR?`);
    expect(badScheme.stderr.trim()).toBe('import-lowdb: DATABASE_URL has scheme mysql; expected postgres:// or postgresql://');
    expect(unreachable.stderr.trim()).toMatch(/^import-lowdb: cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    for (const result of [notData, badScheme, unreachable]) {
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
