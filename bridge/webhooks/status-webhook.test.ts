/** The generic status webhook over real HTTP against a running bridge, with a real agent socket watching. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import { connectAgent, connectVisitor, emitWithAck, nextEvent, snapshotFiles, startTestBridge, type AgentClient, type TestBridge, WAIT_DEADLINE_MS } from '../testing/index.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metaSignature, timestampedSignature } from './signatures.ts';
import { graphSendOk, startScriptedServer } from './test-servers.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';

const SECRET = 'status-secret-0123456789abcdef';
const APP_SECRET = 'meta-app-secret-0123456789';
let bridge: TestBridge;
let agent: AgentClient;
let deliveries = 0;

beforeEach(async () => {
  bridge = await startTestBridge({ config: { webhooks: webhookConfigFromEnv({ STATUS_WEBHOOK_SECRET: SECRET }) } });
  agent = await connectAgent(bridge.url, bridge.agent.token);
});

afterEach(async () => {
  agent.disconnect();
  await bridge.close();
});

/** An agent reply in a fresh web conversation (status `sent`). */
async function agentMessage(): Promise<Message> {
  const visitor = await connectVisitor(bridge.url);
  const first = await emitWithAck(visitor, 'message:send', { clientId: 'v1', text: 'hi' });
  visitor.disconnect();
  if (!first.ok) throw new Error(first.error.code);
  const ack = await emitWithAck(agent, 'message:send', { conversationId: first.data.conversationId, clientId: 'a1', text: 'hello' });
  if (!ack.ok) throw new Error(ack.error.code);
  return ack.data;
}

function post(
  body: unknown,
  opts: { secret?: string; t?: number; delivery?: string | null; signature?: string | null; contentType?: string } = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const t = opts.t ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  const signature = opts.signature === undefined ? timestampedSignature(opts.secret ?? SECRET, t, raw) : opts.signature;
  if (signature !== null) headers['x-anonchat-signature'] = signature;
  const delivery = opts.delivery === undefined ? `d-${++deliveries}-${Date.now()}` : opts.delivery;
  if (delivery !== null) headers['x-anonchat-delivery'] = delivery;
  return fetch(`${bridge.url}/webhooks/status`, { method: 'POST', body: raw, headers });
}

describe('POST /webhooks/status', () => {
  it('applies a signed status by message id, pushed live, by rank', async () => {
    const message = await agentMessage();
    const live = nextEvent(agent, 'message:status', WAIT_DEADLINE_MS, (c) => c.messageId === message.id);
    const res = await post({ conversationId: message.conversationId, messageId: message.id, status: 'read', timestamp: Math.floor(Date.now() / 1000) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, result: 'changed' });
    expect(await live).toMatchObject({ status: 'read' });
    // A later `delivered` is below `read`: accepted, changes nothing.
    const older = await post({ conversationId: message.conversationId, messageId: message.id, status: 'delivered', timestamp: new Date().toISOString() });
    expect(await older.json()).toEqual({ ok: true, result: 'unchanged' });
    expect((await bridge.store.getMessage(message.conversationId, message.id))?.status).toBe('read');
  });

  it('applies by external id, keeping a status for an id not known yet until the send response attaches it', async () => {
    // A WhatsApp-enabled bridge: the external id comes from the (fake) Graph API's send response.
    const graph = await startScriptedServer(() => ({ status: 200, body: graphSendOk('ext-778') }));
    agent.disconnect();
    await bridge.close();
    bridge = await startTestBridge({
      config: {
        webhooks: webhookConfigFromEnv({
          STATUS_WEBHOOK_SECRET: SECRET,
          WHATSAPP_APP_SECRET: APP_SECRET,
          WHATSAPP_ACCESS_TOKEN: 'EAAG-test-token',
          WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
          WHATSAPP_API_BASE: graph.url,
          WEBHOOK_POLL_MS: '30',
        }),
      },
    });
    agent = await connectAgent(bridge.url, bridge.agent.token);
    try {
      const early = await post({ externalId: 'ext-778', status: 'delivered', timestamp: 1750000000 });
      expect(await early.json()).toEqual({ ok: true, result: 'pending' });
      const inbound = readFileSync(join(import.meta.dirname, 'fixtures', '04-meta-inbound-text.json'));
      const meta = await fetch(`${bridge.url}/webhooks/whatsapp`, {
        method: 'POST',
        body: new Uint8Array(inbound),
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(inbound, APP_SECRET) },
      });
      expect(meta.status).toBe(200);
      const conversation = await bridge.store.findConversationByExternalUser('whatsapp', '16505551234');
      const live = nextEvent(agent, 'message:status', WAIT_DEADLINE_MS, (c) => c.status === 'delivered');
      const ack = await emitWithAck(agent, 'message:send', { conversationId: conversation!.id, clientId: 'a-ext', text: 'reply' });
      if (!ack.ok) throw new Error(ack.error.code);
      expect(await live).toMatchObject({ messageId: ack.data.id, status: 'delivered' });
      // Later reports for the now known external id apply directly.
      const read = await post({ externalId: 'ext-778', status: 'read', timestamp: 1750000001 });
      expect(await read.json()).toEqual({ ok: true, result: 'changed' });
      expect((await bridge.store.getMessage(conversation!.id, ack.data.id))?.status).toBe('read');
    } finally {
      await graph.close();
    }
  });

  it('refuses bad signatures, old or future timestamps and replayed delivery ids; nothing changes', async () => {
    const message = await agentMessage();
    const body = { conversationId: message.conversationId, messageId: message.id, status: 'delivered', timestamp: 1750000000 };
    const before = await snapshotFiles(bridge.dataDir);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<Response>, number][] = [
      ['unsigned', post(body, { signature: null }), 401],
      ['wrong secret', post(body, { secret: 'another-secret-0123456789' }), 401],
      ['six minutes old', post(body, { t: now - 360 }), 401],
      ['six minutes ahead', post(body, { t: now + 360 }), 401],
      ['malformed header', post(body, { signature: 'v1=abc' }), 401],
      ['no delivery id', post(body, { delivery: null }), 400],
      ['wrong content type', post(body, { contentType: 'text/plain' }), 415],
      ['malformed JSON', post('{"status":', {}), 400],
      ['unknown field', post({ ...body, extra: 1 }), 400],
      ['no message reference', post({ status: 'read', timestamp: 1 }), 400],
    ];
    for (const [name, response, status] of cases) {
      const res = await response;
      expect(res.status, name).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code, name).toBeTruthy();
    }
    expect(await snapshotFiles(bridge.dataDir)).toEqual(before);

    const first = await post(body, { delivery: 'replay-1' });
    expect(first.status).toBe(200);
    const replay = await post(body, { delivery: 'replay-1' });
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ error: { code: 'conflict' } });
  });

  it('answers 404 for an unknown message and when no secret is configured', async () => {
    const unknown = await post({ conversationId: 'nope', messageId: 'nope', status: 'read', timestamp: 1 });
    expect(unknown.status).toBe(404);
    const plain = await startTestBridge();
    try {
      const res = await fetch(`${plain.url}/webhooks/status`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
