/**
 * Durability of the webhook queues across a hard crash: the real bridge process (`bridge/main.ts`) is killed
 * with SIGKILL while a receiver / the Graph API is failing, restarted on the same data directory, and the queued
 * work is then delivered — the same event delivery id and body, the same WhatsApp reply, an inbound WhatsApp image
 * and an agent's image reply that was uploaded to Meta before the crash (and is not uploaded again).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../protocol/message.ts';
import type { LoginResult } from '../../protocol/events.ts';
import { PROCESS_ADMIN, connectAgent, connectVisitor, emitWithAck, nextEvent, startBridgeProcess, waitUntil, type BridgeProcess, WAIT_DEADLINE_MS } from '../testing/index.ts';
import { metaSignature } from './signatures.ts';
import sharp from 'sharp';
import { graphSendOk, startFakeGraphApi, startScriptedServer, type RecordedRequest, type ScriptedServer } from './test-servers.ts';
import { whatsappConversationId } from './whatsapp-inbound.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-webhooks-restart-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function bridgeProcess(dataDir: string, env: Record<string, string>): Promise<BridgeProcess> {
  const bridge = await startBridgeProcess({ dataDir, env });
  cleanups.push(() => bridge.kill('SIGKILL'));
  return bridge;
}

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(PROCESS_ADMIN),
  });
  return ((await res.json()) as LoginResult).token;
}

/** The first request recorded at or after `since` (a request the killed process had in flight may land late). */
async function firstRequestAfter(server: ScriptedServer, from: number, since: number): Promise<RecordedRequest> {
  for (let count = from + 1; ; count++) {
    const requests = await server.waitForRequests(count);
    const found = requests.slice(from).find((r) => r.at >= since);
    if (found) return found;
  }
}

describe('webhook queues across a SIGKILL restart', () => {
  it('an outbound event is delivered after the restart with the same delivery id and body', async () => {
    let up = false;
    const hook = await startScriptedServer(() => (up ? { status: 200 } : { status: 503 }));
    cleanups.push(() => hook.close());
    const dataDir = await tempDir();
    const env = {
      WEBHOOK_URLS: `${hook.url}/events`,
      WEBHOOK_SECRET: 'whsec-process-0123456789',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_BASE_MS: '300',
      WEBHOOK_POLL_MS: '50',
    };
    const first = await bridgeProcess(dataDir, env);
    const visitor = await connectVisitor(first.url);
    const ack = await emitWithAck(visitor, 'message:send', { clientId: 'crash-1', text: 'survive the crash' });
    visitor.disconnect();
    expect(ack.ok).toBe(true);
    const [failed] = await hook.waitForRequests(1);
    expect(await first.kill('SIGKILL')).toBeNull();
    const before = hook.requests.length;
    up = true;

    const restartedAt = Date.now();
    await bridgeProcess(dataDir, env);
    const delivered = await firstRequestAfter(hook, before, restartedAt);
    expect(delivered.headers['x-anonchat-delivery']).toBe(failed!.headers['x-anonchat-delivery']);
    expect(delivered.body.equals(failed!.body)).toBe(true);
  });

  it('a WhatsApp reply queued while the Graph API fails is sent after the restart; its statuses reach the agent live', async () => {
    let up = false;
    const graph = await startScriptedServer(() => (up ? { status: 200, body: graphSendOk('wamid.AFTERCRASH') } : { status: 500 }));
    cleanups.push(() => graph.close());
    const dataDir = await tempDir();
    const appSecret = 'meta-app-secret-process-0123';
    const env = {
      WHATSAPP_APP_SECRET: appSecret,
      WHATSAPP_ACCESS_TOKEN: 'EAAG-process-token',
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_API_BASE: `${graph.url}/v21.0`,
      WHATSAPP_RETRY_BASE_MS: '300',
      WHATSAPP_MAX_ATTEMPTS: '50',
      WEBHOOK_POLL_MS: '50',
    };
    const postMeta = (url: string, body: Buffer) =>
      fetch(`${url}/webhooks/whatsapp`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, appSecret) },
      });
    const first = await bridgeProcess(dataDir, env);
    const inbound = readFileSync(join(import.meta.dirname, 'fixtures', '04-meta-inbound-text.json'));
    expect((await postMeta(first.url, inbound)).status).toBe(200);
    const token = await login(first.url);
    const list = await fetch(`${first.url}/api/conversations?filter=all`, { headers: { authorization: `Bearer ${token}` } });
    const [conversation] = ((await list.json()) as { conversations: { id: string; channel: string }[] }).conversations;
    expect(conversation?.channel).toBe('whatsapp');
    const agent = await connectAgent(first.url, token);
    const sent = await emitWithAck(agent, 'message:send', { conversationId: conversation!.id, clientId: 'reply-1', text: 'we ship tomorrow' });
    agent.disconnect();
    if (!sent.ok) throw new Error(sent.error.code);
    await graph.waitForRequests(1);
    await first.kill('SIGKILL');
    const before = graph.requests.length;
    up = true;

    const restartedAt = Date.now();
    const second = await bridgeProcess(dataDir, env);
    const resent = await firstRequestAfter(graph, before, restartedAt);
    expect(JSON.parse(resent.body.toString('utf8'))).toMatchObject({ to: '16505551234', text: { body: 'we ship tomorrow' } });
    const token2 = await login(second.url);
    const read = async (): Promise<Message | undefined> => {
      const res = await fetch(`${second.url}/api/conversations/${conversation!.id}/messages`, { headers: { authorization: `Bearer ${token2}` } });
      return ((await res.json()) as { messages: Message[] }).messages.find((m) => m.id === sent.data.id);
    };
    await waitUntil('the resent reply stored with the Graph API id wamid.AFTERCRASH', async () => (await read())?.externalId === 'wamid.AFTERCRASH');

    const agent2 = await connectAgent(second.url, token2);
    cleanups.push(() => void agent2.disconnect());
    const live = nextEvent(agent2, 'message:status', WAIT_DEADLINE_MS, (c) => c.messageId === sent.data.id);
    const status = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: 'W', changes: [{ field: 'messages', value: { statuses: [{ id: 'wamid.AFTERCRASH', status: 'read', timestamp: '1750030099' }] } }] }],
    });
    expect((await postMeta(second.url, Buffer.from(status))).status).toBe(200);
    expect(await live).toMatchObject({ status: 'read' });
  });

  it("WhatsApp media across the crash: an inbound image is downloaded after the restart, an agent's image uploaded before it is sent with the same media id", async () => {
    const accessToken = 'EAAG-process-media-token';
    const graph = await startFakeGraphApi(accessToken);
    cleanups.push(() => graph.server.close());
    graph.media.set('MEDIA-CRASH-1', { bytes: await sharp({ create: { width: 8, height: 8, channels: 3, background: '#aa3366' } }).png().toBuffer(), mimeType: 'image/png' });
    graph.failing.add('lookup').add('send');
    const dataDir = await tempDir();
    const appSecret = 'meta-app-secret-process-0123';
    const env = {
      WHATSAPP_APP_SECRET: appSecret,
      WHATSAPP_ACCESS_TOKEN: accessToken,
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_API_BASE: graph.apiBase,
      WHATSAPP_RETRY_BASE_MS: '300',
      WHATSAPP_MAX_ATTEMPTS: '50',
      WEBHOOK_POLL_MS: '50',
    };
    const waId = '15550009001';
    const inbound = Buffer.from(
      JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ id: 'W', changes: [{ field: 'messages', value: {
          contacts: [{ profile: { name: 'Crash Customer' }, wa_id: waId }],
          messages: [
            { from: waId, id: 'wamid.CRASH-TEXT', timestamp: '1749416383', type: 'text', text: { body: 'hi' } },
            { from: waId, id: 'wamid.CRASH-IMG', timestamp: '1749416384', type: 'image', image: { id: 'MEDIA-CRASH-1', caption: 'after the crash' } },
          ],
        } }] }],
      }),
    );
    const first = await bridgeProcess(dataDir, env);
    const post = await fetch(`${first.url}/webhooks/whatsapp`, {
      method: 'POST',
      body: new Uint8Array(inbound),
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(inbound, appSecret) },
    });
    expect(post.status).toBe(200);
    const token = await login(first.url);
    const conversationId = whatsappConversationId(waId);
    const upload = await fetch(`${first.url}/api/attachments?conversationId=${conversationId}&name=label.png`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: new Uint8Array(graph.media.get('MEDIA-CRASH-1')!.bytes),
    });
    expect(upload.status).toBe(201);
    const attachmentId = ((await upload.json()) as { attachment: { id: string } }).attachment.id;
    const agent = await connectAgent(first.url, token);
    const sent = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'img-reply-1', text: 'your label', attachments: [attachmentId] });
    agent.disconnect();
    if (!sent.ok) throw new Error(sent.error.code);
    // Uploaded, then the send failed: the crash comes after the upload and before any send went through.
    await waitUntil('an upload and a failed send, and a failed media lookup', () => graph.uploads().length === 1 && graph.sends().length >= 1 && graph.lookups().length >= 1);
    await first.kill('SIGKILL');
    graph.failing.clear();

    const second = await bridgeProcess(dataDir, env);
    const token2 = await login(second.url);
    const messages = async (): Promise<Message[]> => {
      const res = await fetch(`${second.url}/api/conversations/${conversationId}/messages`, { headers: { authorization: `Bearer ${token2}` } });
      return ((await res.json()) as { messages: Message[] }).messages;
    };
    const reply = await waitUntil('the image reply sent after the restart', async () => (await messages()).find((m) => m.id === sent.data.id && m.externalId));
    expect(graph.uploads()).toHaveLength(1);
    const accepted = graph.sends().at(-1)!;
    expect(JSON.parse(accepted.body.toString('utf8'))).toMatchObject({ to: waId, type: 'image', image: { id: 'media-up-1', caption: 'your label' } });
    expect(reply.status).toBe('sent');
    const image = await waitUntil('the inbound image stored after the restart', async () => (await messages()).find((m) => m.externalId === 'wamid.CRASH-IMG'));
    expect(image).toMatchObject({ text: 'after the crash', attachments: [expect.objectContaining({ type: 'image/png' })] });
    expect((await messages()).filter((m) => m.externalId === 'wamid.CRASH-IMG')).toHaveLength(1);
  });
});
