/**
 * Attachments over HTTP on the PostgreSQL engine (the lowdb counterpart is attachment-routes.test.ts): an upload whose
 * connection is cut mid-body stores nothing, the restarted upload (and a retry racing it) under the same uploadKey
 * stores one copy, a resent message with the same clientId is one message, a second node serves the file, and erasure
 * takes the files' rows with the counts /health reports.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { createBridge, type Bridge } from '../create-bridge.ts';
import { silentLogger } from '../logger.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { connectVisitor, emitWithAck, type VisitorClient } from '../testing/clients.ts';
import { cutUpload } from '../testing/cut-upload.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { postgresNodeConfig } from '../testing/postgres-nodes.ts';

const logger = silentLogger();
let pool: pg.Pool;
let store: PostgresStore;
let bridge: Bridge;
let url: string;
/** A second node on the same database: its own store and pool, as another process would have. */
let other: { pool: pg.Pool; store: PostgresStore; bridge: Bridge; url: string };
let port: number;
const sockets: VisitorClient[] = [];

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('attachment_routes');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  await migrate(pool, logger);
  store = new PostgresStore({ pool, logger });
  await store.open();
  await createAgentAccount(store, { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' }, new Date());
  bridge = createBridge({ config: postgresNodeConfig(), store, logger });
  await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
  port = (bridge.httpServer.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  const otherPool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const otherStore = new PostgresStore({ pool: otherPool, logger });
  await otherStore.open();
  const otherBridge = createBridge({ config: postgresNodeConfig(), store: otherStore, logger });
  await new Promise<void>((resolve) => otherBridge.httpServer.listen(0, '127.0.0.1', resolve));
  other = { pool: otherPool, store: otherStore, bridge: otherBridge, url: `http://127.0.0.1:${(otherBridge.httpServer.address() as AddressInfo).port}` };
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await other?.bridge.close();
  await other?.store.close();
  await other?.pool.end();
  await bridge?.close();
  await store?.close();
  await pool?.end();
});

async function upload(token: string, body: Uint8Array<ArrayBuffer>, uploadKey: string): Promise<{ status: number; id: string | undefined }> {
  const res = await fetch(`${url}/api/attachments?uploadKey=${uploadKey}&name=server.log`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body });
  const json = (await res.json()) as { attachment?: { id: string } };
  return { status: res.status, id: json.attachment?.id };
}

/** Attachment rows of a conversation, as PostgreSQL holds them. */
async function rows(conversationId: string): Promise<number> {
  const { rows: [row] } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attachments WHERE conversation_id = $1', [conversationId]);
  return row!.n;
}

async function healthAttachments(): Promise<number> {
  return ((await (await fetch(`${url}/health`)).json()) as { storage: { attachments: number } }).storage.attachments;
}

describe('attachments on PostgreSQL', () => {
  it('a cut upload stores nothing; the restarted upload and a retry racing it store one copy; a resent message is one message', async () => {
    const visitor = await connectVisitor(url);
    sockets.push(visitor);
    const { token, conversationId } = visitor.session;
    const body = new Uint8Array(Buffer.alloc(200 * 1024, 'a long log line\n'));
    const healthBefore = await healthAttachments();
    await cutUpload(port, token, body, { uploadKey: 'cut.0', name: 'server.log' });
    const [restarted, racing] = await Promise.all([upload(token, body, 'cut.0'), upload(token, body, 'cut.0')]);
    expect([restarted.status, racing.status].sort()).toEqual([200, 201]);
    const id = restarted.id!;
    expect(racing.id).toBe(id);
    expect(await upload(token, body, 'cut.0')).toEqual({ status: 200, id });
    expect(await rows(conversationId)).toBe(1);
    const { rows: [bytes] } = await pool.query<{ size: number }>('SELECT octet_length(content) AS size FROM attachments WHERE id = $1', [id]);
    expect(bytes?.size).toBe(body.byteLength);

    const first = await emitWithAck(visitor, 'message:send', { clientId: 'pg-att-1', text: 'my log', attachments: [id] });
    const resent = await emitWithAck(visitor, 'message:send', { clientId: 'pg-att-1', text: 'my log', attachments: [id] });
    expect(first.ok && resent.ok).toBe(true);
    expect((resent as { ok: true; data: Message }).data.id).toBe((first as { ok: true; data: Message }).data.id);
    const { rows: [messages] } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [conversationId]);
    expect(messages?.n).toBe(1);
    await expect.poll(healthAttachments, { message: '/health counting the one stored attachment' }).toBe(healthBefore + 1);

    // Every node serves every file: the other node reads it with the visitor's token and through a link this node signed.
    const direct = await fetch(`${other.url}/api/attachments/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    expect(direct.status).toBe(200);
    expect(Buffer.from(await direct.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    const link = (await (await fetch(`${url}/api/attachments/${id}/link`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { url: string };
    const signed = new URL(link.url);
    const viaLink = await fetch(`${other.url}${signed.pathname}${signed.search}`);
    expect(viaLink.status).toBe(200);
    expect((await viaLink.arrayBuffer()).byteLength).toBe(body.byteLength);
  });

  it('erasure deletes the files from PostgreSQL and /health counts them', async () => {
    const visitor = await connectVisitor(url);
    sockets.push(visitor);
    const { token, conversationId } = visitor.session;
    expect((await upload(token, new TextEncoder().encode('one\n'), 'e.0')).status).toBe(201);
    expect((await upload(token, new TextEncoder().encode('two\n'), 'e.1')).status).toBe(201);
    expect(await rows(conversationId)).toBe(2);
    const before = await healthAttachments();
    expect((await emitWithAck(visitor, 'conversation:erase', {})).ok).toBe(true);
    expect(await rows(conversationId)).toBe(0);
    await expect.poll(healthAttachments, { message: '/health without the erased files' }).toBe(before - 2);
  });
});
