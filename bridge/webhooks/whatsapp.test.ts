/**
 * WhatsApp Cloud API channel over real HTTP: a running bridge (LowdbStore in a temp dir), the fixture bodies
 * byte-for-byte signed over their raw bytes, a fake Graph API on loopback, and a real agent socket.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '../../protocol/message.ts';
import { collect, connectAgent, emitWithAck, nextEvent, snapshotFiles, startTestBridge, waitUntil, type AgentClient, type TestBridge, WAIT_DEADLINE_MS } from '../testing/index.ts';
import { metaSignature } from './signatures.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { graphSendOk, startScriptedServer, type ScriptedServer } from './test-servers.ts';
import { ExternalStatuses, PENDING_STATUS_NAMESPACE } from './external-statuses.ts';
import { EVENT_WEBHOOK_QUEUE, type EventEnvelope } from './event-webhooks.ts';
import { applyWhatsappWebhook, whatsappConversationId } from './whatsapp-inbound.ts';
import { whatsappWebhookSchema } from './whatsapp-payload.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const INBOUND = fixture('04-meta-inbound-text.json');
const SENT = fixture('01-meta-status-sent.json');
const FAILED = fixture('03-meta-status-failed-131049.json');
const DELIVERED = fixture('06-pywa-status-delivered.json');
const READ = fixture('07-pywa-status-read.json');
const WA_ID = '16505551234';

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const VERIFY_TOKEN = 'verify-me-please-42';
const ACCESS_TOKEN = 'EAAGtest-access-token';
const PHONE_NUMBER_ID = '106540352242922';

let graph: ScriptedServer;
let bridge: TestBridge;
let nextWamid = 0;
const sockets: AgentClient[] = [];
/** Event webhook receivers a test started; closed after the bridge, so its worker never posts to a closed one. */
const receivers: ScriptedServer[] = [];

async function start(env: Record<string, string> = {}): Promise<TestBridge> {
  return (await startTestBridge({
    config: {
      webhooks: webhookConfigFromEnv({
        WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
        WHATSAPP_APP_SECRET: APP_SECRET,
        WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
        WHATSAPP_API_BASE: `${graph.url}/v21.0`,
        WHATSAPP_RETRY_BASE_MS: '40',
        WHATSAPP_MAX_ATTEMPTS: '4',
        WEBHOOK_POLL_MS: '40',
        ...env,
      }),
    },
  }));
}

beforeEach(async () => {
  graph = await startScriptedServer(() => ({ status: 200, body: graphSendOk(`wamid.TEST${++nextWamid}`) }));
  bridge = await start();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  await bridge.close();
  await graph.close();
  for (const receiver of receivers.splice(0)) await receiver.close();
});

async function agent(): Promise<AgentClient> {
  const socket = await connectAgent(bridge.url, bridge.agent.token);
  sockets.push(socket);
  return socket;
}

function postMeta(body: Buffer | string, headers: Record<string, string | undefined> = {}, target = bridge): Promise<Response> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const all: Record<string, string> = { 'content-type': 'application/json' };
  const signature = 'x-hub-signature-256' in headers ? headers['x-hub-signature-256'] : metaSignature(bytes, APP_SECRET);
  if (signature !== undefined) all['x-hub-signature-256'] = signature;
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && k !== 'x-hub-signature-256') all[k] = v;
  return fetch(`${target.url}/webhooks/whatsapp`, { method: 'POST', body: new Uint8Array(bytes), headers: all });
}

/** The fixture's inbound body with another message id and text: a new message from the same customer. */
function inboundMessage(wamid: string, text: string): string {
  const body = JSON.parse(INBOUND.toString('utf8'));
  body.entry[0].changes[0].value.messages[0].id = wamid;
  body.entry[0].changes[0].value.messages[0].text.body = text;
  return JSON.stringify(body);
}

/** Creates the fixture customer's conversation through the webhook and returns its id. */
async function inboundConversation(): Promise<string> {
  expect((await postMeta(INBOUND)).status).toBe(200);
  const conversation = await bridge.store.findConversationByExternalUser('whatsapp', WA_ID);
  expect(conversation).toBeDefined();
  return conversation!.id;
}

async function agentReply(socket: AgentClient, conversationId: string, text: string): Promise<Message> {
  const clientId = `c-${Math.random().toString(36).slice(2)}`;
  const ack = await emitWithAck(socket, 'message:send', { conversationId, clientId, text });
  if (!ack.ok) throw new Error(`send failed: ${ack.error.code}`);
  return ack.data;
}

/** A status webhook body for `id`, in Meta's shape, with extra fields newer API versions send. */
function statusBody(statuses: { id: string; status: string; timestamp?: string }[], entries = 1): string {
  const perEntry = Math.ceil(statuses.length / entries);
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: Array.from({ length: entries }, (_, e) => ({
      id: 'WABA',
      changes: [
        {
          field: 'messages',
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
            statuses: statuses.slice(e * perEntry, (e + 1) * perEntry).map((s) => ({
              timestamp: '1750030073',
              recipient_user_id: 'US.13491208655302741918',
              ...s,
            })),
          },
        },
      ],
    })),
  });
}

describe('GET /webhooks/whatsapp (verification handshake)', () => {
  it('echoes the raw challenge with 200 for the right token, 403 for a wrong one', async () => {
    const ok = await fetch(`${bridge.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    const wrong = await fetch(`${bridge.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`);
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).not.toContain('1158201444');
    const noMode = await fetch(`${bridge.url}/webhooks/whatsapp?hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`);
    expect(noMode.status).toBe(403);
  });

  it('answers 404 on a bridge without WhatsApp settings', async () => {
    const plain = await startTestBridge();
    try {
      const get = await fetch(`${plain.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1`);
      expect(get.status).toBe(404);
      const post = await postMeta(INBOUND, {}, plain);
      expect(post.status).toBe(404);
      expect(await post.json()).toMatchObject({ error: { code: 'not_found' } });
    } finally {
      await plain.close();
    }
  });
});

describe('POST /webhooks/whatsapp signature', () => {
  const hex = () => metaSignature(INBOUND, APP_SECRET).slice('sha256='.length);
  it.each([
    ['missing', undefined],
    ['"sha256=" only', 'sha256='],
    ['wrong length', `sha256=${'ab'.repeat(31)}`],
    ['non-hex', `sha256=${'zz'.repeat(32)}`],
    ['wrong secret', metaSignature(INBOUND, 'another-secret')],
    ['re-serialised body', 'reserialised'],
  ])('%s → 401 and nothing changes', async (_name, signature) => {
    const before = await snapshotFiles(bridge.dataDir);
    const res =
      signature === 'reserialised'
        ? await postMeta(Buffer.from(JSON.stringify(JSON.parse(INBOUND.toString('utf8')))), { 'x-hub-signature-256': `sha256=${hex()}` })
        : await postMeta(INBOUND, { 'x-hub-signature-256': signature });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect(await snapshotFiles(bridge.dataDir)).toEqual(before);
    expect(await bridge.store.findConversationByExternalUser('whatsapp', WA_ID)).toBeUndefined();
  });

  it('accepts the upper-case hex of the right digest', async () => {
    const res = await postMeta(INBOUND, { 'x-hub-signature-256': `sha256=${hex().toUpperCase()}` });
    expect(res.status).toBe(200);
  });
});

describe('inbound messages', () => {
  it('create a whatsapp conversation named by the profile that the console lists, live, deduped on Meta retries', async () => {
    const socket = await agent();
    const live = nextEvent(socket, 'message:new');
    expect((await postMeta(INBOUND)).status).toBe(200);
    const message = await live;
    expect(message).toMatchObject({ text: 'Does it come in another color?', author: { role: 'visitor', name: 'Sheena Nelson' } });

    const list = await fetch(`${bridge.url}/api/conversations?filter=all`, { headers: { authorization: `Bearer ${bridge.agent.token}` } });
    const { conversations } = (await list.json()) as { conversations: { id: string; channel: string; name: string; externalUserId?: string }[] };
    expect(conversations).toHaveLength(1);
    expect(conversations[0]).toMatchObject({ channel: 'whatsapp', name: 'Sheena Nelson', externalUserId: WA_ID });
    // The console's inbox comes from the agent socket.
    const inbox = await emitWithAck(socket, 'conversations:list', { filter: 'open' });
    expect(inbox.ok && inbox.data.conversations.map((c) => [c.channel, c.name, c.lastMessage?.text])).toEqual([
      ['whatsapp', 'Sheena Nelson', 'Does it come in another color?'],
    ]);

    // Meta retries the same delivery: nothing new is stored or announced.
    const extra = collect(socket, 'message:new');
    expect((await postMeta(INBOUND)).status).toBe(200);
    expect((await postMeta(INBOUND)).status).toBe(200);
    const messages = await bridge.store.getMessages(conversations[0]!.id, { limit: 10 });
    expect(messages).toHaveLength(1);
    // Ordered marker: a webhook is answered only after its message was announced, so a push for a repeated delivery
    // would reach the agent's connection ahead of the next new message's.
    const marker = nextEvent(socket, 'message:new', WAIT_DEADLINE_MS, (m) => m.text === 'a new question');
    expect((await postMeta(inboundMessage('wamid.MARKER1', 'a new question'))).status).toBe(200);
    await marker;
    expect(extra.map((m) => m.text)).toEqual(['a new question']);
  });

  it('keeps non-ASCII profile names and texts, whether sent raw or as \\u escapes', async () => {
    const body = (name: string, text: string, id: string) =>
      `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"${PHONE_NUMBER_ID}"},"contacts":[{"profile":{"name":"${name}"},"wa_id":"4915112345678"}],"messages":[{"from":"4915112345678","id":"${id}","timestamp":"1749416383","type":"text","text":{"body":"${text}"}}]}}]}]}`;
    // As Meta sends it: non-ASCII escaped; the signature is over these exact bytes.
    const escaped = body('Zo\\u00eb \\u00d1and\\u00fa \\ud83d\\ude00', 'Gr\\u00fc\\u00dfe \\u2014 \\u4f60\\u597d', 'ABGGFlA5FpafAgo6EAhRj2ZdkeE');
    expect((await postMeta(escaped)).status).toBe(200);
    const raw = body('Zoë Ñandú 😀', 'zweite Nachricht ✓', 'ABGGFlA5FpafAgo6EAhRj2ZdkeF');
    expect((await postMeta(raw)).status).toBe(200);
    const conversation = await bridge.store.findConversationByExternalUser('whatsapp', '4915112345678');
    expect(conversation?.name).toBe('Zoë Ñandú 😀');
    const texts = (await bridge.store.getMessages(conversation!.id, { limit: 10 })).map((m) => m.text);
    expect(texts).toEqual(['Grüße — 你好', 'zweite Nachricht ✓']);
  });

  it('turns non-text messages into readable placeholders in the same conversation', async () => {
    const conversationId = await inboundConversation();
    const image = JSON.parse(INBOUND.toString('utf8'));
    image.entry[0].changes[0].value.messages = [
      // Media (image, document…) are downloaded and stored as attachments instead: whatsapp-media-contract.ts.
      { from: WA_ID, id: 'wamid.REACT1', timestamp: '1749416390', type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '👍' } },
      { from: WA_ID, id: 'wamid.LOC1', timestamp: '1749416391', type: 'location', location: { latitude: 1, longitude: 2 } },
    ];
    expect((await postMeta(JSON.stringify(image))).status).toBe(200);
    const texts = (await bridge.store.getMessages(conversationId, { limit: 10 })).map((m) => m.text);
    expect(texts).toEqual(['Does it come in another color?', '[reaction 👍]', '[location]']);
    expect(conversationId).toBe(whatsappConversationId(WA_ID));
  });
});

describe('agent replies to WhatsApp', () => {
  it('reach the Graph API with the right body and headers, store the id, and later statuses reach the agent live', async () => {
    const conversationId = await inboundConversation();
    const socket = await agent();
    const reply = await agentReply(socket, conversationId, 'Yes — in blue and green 💙');
    const [request] = await graph.waitForRequests(1);
    expect(request?.path).toBe(`/v21.0/${PHONE_NUMBER_ID}/messages`);
    expect(request?.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(request?.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(request!.body.toString('utf8'))).toMatchObject({
      messaging_product: 'whatsapp',
      to: WA_ID,
      type: 'text',
      text: { body: 'Yes — in blue and green 💙' },
    });
    const wamid = `wamid.TEST${nextWamid}`;
    const stored = await waitUntil('the reply stored with its Graph API id', async () => {
      const m = await bridge.store.getMessage(conversationId, reply.id);
      return m?.externalId ? m : undefined;
    });
    expect(stored.externalId).toBe(wamid);

    const delivered = nextEvent(socket, 'message:status', WAIT_DEADLINE_MS, (c) => c.messageId === reply.id && c.status === 'delivered');
    expect((await postMeta(statusBody([{ id: wamid, status: 'delivered' }]))).status).toBe(200);
    expect(await delivered).toMatchObject({ conversationId, status: 'delivered' });
    const read = nextEvent(socket, 'message:status', WAIT_DEADLINE_MS, (c) => c.messageId === reply.id && c.status === 'read');
    expect((await postMeta(statusBody([{ id: wamid, status: 'read' }]))).status).toBe(200);
    await read;
    expect((await bridge.store.getMessage(conversationId, reply.id))?.status).toBe('read');
  });

  it('retries a 5xx and a connection reset, then succeeds with the same body', async () => {
    graph.script.push({ status: 500, body: { error: { message: 'Internal', code: 1 } } }, 'reset');
    const conversationId = await inboundConversation();
    const socket = await agent();
    const reply = await agentReply(socket, conversationId, 'third time lucky');
    const requests = await graph.waitForRequests(3);
    expect(new Set(requests.map((r) => r.body.toString('utf8'))).size).toBe(1);
    const stored = await waitUntil('the reply stored with its Graph API id', async () => {
      const m = await bridge.store.getMessage(conversationId, reply.id);
      return m?.externalId ? m : undefined;
    });
    expect(stored.externalId).toBe(`wamid.TEST${nextWamid}`);
    expect(stored.status).toBe('sent');
    // The attempt is recorded just after the id is stored.
    const item = await waitUntil('the WhatsApp send delivered in the queue', async () => {
      const [found] = await bridge.store.listQueueItems('whatsapp-send', 10);
      return found?.state === 'delivered' ? found : undefined;
    });
    expect(item.attempts).toBe(3);
    expect(item.log.map((l) => l.status ?? 'error')).toEqual([500, 'error', 200]);
    // A delivered send is never sent twice on request (the customer would get the reply twice).
    const again = await fetch(`${bridge.url}/api/webhooks/deliveries/${item.id}/redeliver`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bridge.agent.token}` },
    });
    expect(again.status).toBe(409);
  });

  it('sends a dead reply again on one of two redeliver requests at once (202, the other 409 conflict): Meta gets it once more', async () => {
    graph.script.push({ status: 400, body: { error: { message: '(#131047) Re-engagement message', code: 131047 } } });
    const conversationId = await inboundConversation();
    const reply = await agentReply(await agent(), conversationId, 'too late, then again');
    const dead = await waitUntil('the refused send saved dead', async () => {
      const [found] = await bridge.store.listQueueItems('whatsapp-send', 10);
      return found?.state === 'dead' ? found : undefined;
    });
    expect(dead.id).toContain(reply.id);
    const redeliver = () =>
      fetch(`${bridge.url}/api/webhooks/deliveries/${dead.id}/redeliver`, { method: 'POST', headers: { authorization: `Bearer ${bridge.agent.token}` } });
    const answers = await Promise.all([redeliver(), redeliver()]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    const sent = await waitUntil('the redelivered send delivered', async () => {
      const [found] = await bridge.store.listQueueItems('whatsapp-send', 10);
      return found?.state === 'delivered' ? found : undefined;
    });
    expect(sent.attempts).toBe(1);
    expect(graph.requests).toHaveLength(2);
  });

  it('marks the reply failed with Meta’s code and reason on a permanent 4xx, pushed live', async () => {
    graph.script.push({
      status: 400,
      body: {
        error: {
          message: '(#131047) Re-engagement message',
          type: 'OAuthException',
          code: 131047,
          error_data: { messaging_product: 'whatsapp', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
        },
      },
    });
    const conversationId = await inboundConversation();
    const socket = await agent();
    const failed = nextEvent(socket, 'message:status', WAIT_DEADLINE_MS, (c) => c.status === 'failed');
    const reply = await agentReply(socket, conversationId, 'too late');
    const change = await failed;
    expect(change.messageId).toBe(reply.id);
    expect(change.failure?.code).toBe('131047');
    expect(change.failure?.reason).toContain('24 hours');
    type Listed = { deliveries: { messageId: string; state: string; attempts: number; log: { status?: number }[] }[] };
    const { deliveries } = await waitUntil('the WhatsApp send listed as dead', async () => {
      const listed = await fetch(`${bridge.url}/api/webhooks/deliveries?queue=whatsapp-send`, {
        headers: { authorization: `Bearer ${bridge.agent.token}` },
      });
      const body = (await listed.json()) as Listed;
      return body.deliveries[0]?.state === 'dead' ? body : undefined;
    });
    expect(deliveries).toEqual([expect.objectContaining({ messageId: reply.id, state: 'dead', attempts: 1, log: [expect.objectContaining({ status: 400 })] })]);
    // Ordered markers through the same queue: its passes run one at a time and each claims every due item. The first
    // marker is taken by a pass that would also take a due dead send; the second, queued once the first was sent, only
    // by a later pass, which starts after every attempt of that one has reached Graph.
    await agentReply(socket, conversationId, 'first marker');
    await graph.waitForRequests(2);
    await agentReply(socket, conversationId, 'second marker');
    const sent = await graph.waitForRequests(3);
    expect(sent.map((r) => JSON.parse(r.body.toString('utf8')).text.body)).toEqual(['too late', 'first marker', 'second marker']);

    // message:retry sends it again (the customer may have written since).
    const retried = await emitWithAck(socket, 'message:retry', { conversationId, messageId: reply.id });
    expect(retried.ok).toBe(true);
    await graph.waitForRequests(4);
    const stored = await waitUntil('the reply stored with its Graph API id', async () => {
      const m = await bridge.store.getMessage(conversationId, reply.id);
      return m?.externalId ? m : undefined;
    });
    expect(stored.externalId).toBe(`wamid.TEST${nextWamid}`);
  });
});

describe('what agents see of a reply while WhatsApp is unreachable', () => {
  const unreachable = { status: 503, body: { error: { message: 'Service temporarily unavailable', code: 2 } } } as const;

  it('announces the reply as sent only when Meta accepted it, and a failure after Retry again, live (#15 bugs 1, 2)', async () => {
    // 4 attempts each: the first send and the first retry die; the second retry gets through.
    graph.script.push(...Array.from({ length: 8 }, () => unreachable));
    const conversationId = await inboundConversation();
    const socket = await agent();
    const changes = collect(socket, 'message:status');
    const updates = collect(socket, 'conversation:updated');
    const reply = await agentReply(socket, conversationId, 'are you there?');
    // Stored (the ack) but not accepted by Meta: no external id yet, so the console shows it as sending.
    expect(reply.externalId).toBeUndefined();
    const firstFailure = await waitUntil('the reply announced failed', () => changes.find((c) => c.messageId === reply.id && c.status === 'failed'));
    expect(firstFailure.failure?.code).toBe('upstream_failed');
    expect(changes.some((c) => c.messageId === reply.id && c.externalId !== undefined)).toBe(false);
    // The inbox preview knows the last reply failed.
    const failedPreview = await waitUntil('a conversation update whose preview is failed', () => updates.find((c) => c.id === conversationId && c.lastMessage?.status === 'failed'));
    expect(failedPreview.lastMessage).toMatchObject({ text: 'are you there?', role: 'agent', status: 'failed' });

    // Retry while WhatsApp is still down: the attempt dies again and agents are told so, with a newer rev.
    expect((await emitWithAck(socket, 'message:retry', { conversationId, messageId: reply.id })).ok).toBe(true);
    const secondFailure = await waitUntil('the retried reply announced failed again', () =>
      changes.find((c) => c.messageId === reply.id && c.status === 'failed' && c.rev > firstFailure.rev),
    );
    expect(secondFailure.failure?.reason).toMatch(/could not be reached after 4 attempts/);
    expect(graph.requests).toHaveLength(8);

    // Retry once WhatsApp is back: Meta accepts, and the reply becomes sent with Meta's id, live and in the store.
    expect((await emitWithAck(socket, 'message:retry', { conversationId, messageId: reply.id })).ok).toBe(true);
    const accepted = await waitUntil('the reply announced accepted by Meta', () => changes.find((c) => c.messageId === reply.id && c.externalId !== undefined));
    expect(accepted).toMatchObject({ status: 'sent', externalId: `wamid.TEST${nextWamid}` });
    expect(accepted.rev).toBeGreaterThan(secondFailure.rev);
    expect(accepted.failure).toBeUndefined();
    const stored = await bridge.store.getMessage(conversationId, reply.id);
    expect(stored).toMatchObject({ status: 'sent', externalId: `wamid.TEST${nextWamid}`, rev: accepted.rev });
    expect(stored?.failure).toBeUndefined();
    expect((await bridge.store.getConversation(conversationId))?.lastMessage?.status).toBe('sent');
  });
});

describe('event webhooks of WhatsApp replies', () => {
  /** The events a receiver got, each delivery id counted (a delivery is one event for one receiver). */
  function eventsOf(receiver: ScriptedServer): { deliveries: Map<string, number>; events: EventEnvelope[] } {
    const deliveries = new Map<string, number>();
    const events: EventEnvelope[] = [];
    for (const request of receiver.requests) {
      const id = String(request.headers['x-anonchat-delivery']);
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      if (deliveries.get(id) === 1) events.push(JSON.parse(request.body.toString('utf8')) as EventEnvelope);
    }
    return { deliveries, events };
  }

  it('tell receivers once that Meta accepted a reply (message.status sent with its id), also after a failure and Retry', async () => {
    const receiver = await startScriptedServer();
    receivers.push(receiver);
    await bridge.close();
    bridge = await start({ WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: 'event-webhook-secret-0123', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '40' });
    graph.script.push({ status: 400, body: { error: { message: '(#131047) Re-engagement message', code: 131047 } } });
    const conversationId = await inboundConversation();
    const socket = await agent();
    const statusOf = (messageId: string, status: string) =>
      eventsOf(receiver).events.find((e) => e.type === 'message.status' && e.data.message.id === messageId && e.data.change?.status === status);

    // The first reply is refused, then accepted on Retry: receivers saw `failed`, so they must see `sent`.
    const refused = await agentReply(socket, conversationId, 'too late?');
    await waitUntil('the refused reply’s failed event delivered', () => statusOf(refused.id, 'failed'));
    expect((await emitWithAck(socket, 'message:retry', { conversationId, messageId: refused.id })).ok).toBe(true);
    const resent = await waitUntil('the retried reply’s sent event delivered', () => statusOf(refused.id, 'sent'));
    expect(resent.data.change).toMatchObject({ status: 'sent', externalId: `wamid.TEST${nextWamid}` });
    expect(resent.data.change?.failure).toBeUndefined();

    // A reply Meta accepts at once: created (without Meta's id), then sent with Meta's id.
    const reply = await agentReply(socket, conversationId, 'accepted at once');
    const sent = await waitUntil('the accepted reply’s sent event delivered', () => statusOf(reply.id, 'sent'));
    expect(sent.data.change).toMatchObject({ status: 'sent', externalId: `wamid.TEST${nextWamid}` });
    expect(eventsOf(receiver).events.find((e) => e.type === 'message.created' && e.data.message.id === reply.id)?.data.message.externalId).toBeUndefined();

    // Each delivery once, by its id, once the queue has nothing left to deliver.
    await waitUntil('every event delivery finished', async () => {
      const items = await bridge.store.listQueueItems(EVENT_WEBHOOK_QUEUE, 100);
      return items.length > 0 && items.every((i) => i.state === 'delivered');
    });
    const { deliveries } = eventsOf(receiver);
    expect([...deliveries.values()].every((count) => count === 1)).toBe(true);
    expect((await bridge.store.listQueueItems(EVENT_WEBHOOK_QUEUE, 100)).length).toBe(deliveries.size);
  });
});

describe('agent replies without send settings', () => {
  it('are marked failed with whatsapp_not_configured, pushed live', async () => {
    await bridge.close();
    bridge = await startTestBridge({ config: { webhooks: webhookConfigFromEnv({ WHATSAPP_APP_SECRET: APP_SECRET }) } });
    const conversationId = await inboundConversation();
    const socket = await agent();
    const failed = nextEvent(socket, 'message:status', WAIT_DEADLINE_MS, (c) => c.status === 'failed');
    const reply = await agentReply(socket, conversationId, 'nobody will get this');
    expect(await failed).toMatchObject({ messageId: reply.id, failure: { code: 'whatsapp_not_configured' } });
    expect(graph.requests).toHaveLength(0);
  });
});

describe('statuses', () => {
  async function replyWith(wamid: string): Promise<{ conversationId: string; message: Message; socket: AgentClient }> {
    graph.script.push({ status: 200, body: graphSendOk(wamid) });
    const conversationId = await inboundConversation();
    const socket = await agent();
    // Meta's acceptance is announced after the id is stored: wait for it, so later changes are the test's own.
    const accepted = nextEvent(socket, 'message:status', 5000, (c) => c.externalId === wamid);
    const message = await agentReply(socket, conversationId, 'hello');
    await accepted;
    return { conversationId, message, socket };
  }

  it('read before delivered, and duplicates, end in read (fixtures 07, 06, 07, 06)', async () => {
    const { conversationId, message, socket } = await replyWith('wamid.xyzxyz');
    const changes = collect(socket, 'message:status');
    for (const body of [READ, DELIVERED, READ, DELIVERED]) expect((await postMeta(body)).status).toBe(200);
    const stored = await bridge.store.getMessage(conversationId, message.id);
    expect(stored?.status).toBe('read');
    expect(stored?.statusAt.delivered).toBeDefined();
    // Ordered marker: a webhook is answered only after its status changes were pushed, so a further push (delivered
    // after read, a duplicate) would reach the agent's connection ahead of the next new message's.
    const marker = nextEvent(socket, 'message:new', WAIT_DEADLINE_MS, (m) => m.text === 'any news?');
    expect((await postMeta(inboundMessage('wamid.MARKER2', 'any news?'))).status).toBe(200);
    await marker;
    expect(changes.map((c) => c.status)).toEqual(['read']);
  });

  it('a failed status (fixture 03) records Meta’s code and title', async () => {
    const { conversationId, message } = await replyWith('wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA');
    expect((await postMeta(FAILED)).status).toBe(200);
    const stored = await bridge.store.getMessage(conversationId, message.id);
    expect(stored?.status).toBe('failed');
    expect(stored?.failure).toEqual({
      code: '131049',
      reason: 'This message was not delivered to maintain healthy ecosystem engagement.',
    });
  });

  it('applies every status of a batched body (several entries, several statuses)', async () => {
    const conversationId = await inboundConversation();
    const socket = await agent();
    const replies: Message[] = [];
    for (let i = 0; i < 4; i++) replies.push(await agentReply(socket, conversationId, `r${i}`));
    await graph.waitForRequests(4);
    const ids = await waitUntil('every reply stored with its Graph API id', async () => {
      const all = await Promise.all(replies.map((r) => bridge.store.getMessage(conversationId, r.id)));
      return all.every((m) => m?.externalId) ? all.map((m) => m!.externalId!) : undefined;
    });
    const body = statusBody(
      [
        { id: ids[0]!, status: 'delivered' },
        { id: ids[1]!, status: 'read' },
        { id: ids[2]!, status: 'sent' },
        { id: ids[3]!, status: 'delivered' },
        { id: ids[3]!, status: 'read' },
        { id: 'ABGGFlA5FpafAgo6EAhRj2ZdkeX', status: 'delivered' },
      ],
      3,
    );
    expect((await postMeta(body)).status).toBe(200);
    const statuses = await Promise.all(replies.map(async (r) => (await bridge.store.getMessage(conversationId, r.id))?.status));
    expect(statuses).toEqual(['delivered', 'read', 'sent', 'read']);
  });

  it('a status for an id not known yet is kept, then applied when the send response brings that id', async () => {
    // Meta's delivered webhook arrives before its own send response (fixture 06 for wamid.xyzxyz).
    expect((await postMeta(DELIVERED)).status).toBe(200);
    expect((await postMeta(SENT)).status).toBe(200);
    expect(await bridge.store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.xyzxyz')).toMatchObject({ status: 'delivered' });
    const conversationId = await inboundConversation();
    const socket = await agent();
    const delivered = nextEvent(socket, 'message:status', WAIT_DEADLINE_MS, (c) => c.status === 'delivered');
    graph.script.push({ status: 200, body: graphSendOk('wamid.xyzxyz') });
    const reply = await agentReply(socket, conversationId, 'racing');
    expect((await delivered).messageId).toBe(reply.id);
    expect((await bridge.store.getMessage(conversationId, reply.id))?.status).toBe('delivered');
    expect(await bridge.store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.xyzxyz')).toBeUndefined();
  });
});

describe('concurrency', () => {
  it('applies the statuses of one body together (sharing group commits), those of one id in body order', async () => {
    const conversationId = await inboundConversation();
    const socket = await agent();
    const replies: Message[] = [];
    for (let i = 0; i < 8; i++) replies.push(await agentReply(socket, conversationId, `batch ${i}`));
    await graph.waitForRequests(8);
    const ids = await waitUntil('every reply stored with its Graph API id', async () => {
      const all = await Promise.all(replies.map((r) => bridge.store.getMessage(conversationId, r.id)));
      return all.every((m) => m?.externalId) ? all.map((m) => m!.externalId!) : undefined;
    });
    // The real store, counting how many status writes are in flight at once.
    let inFlight = 0;
    let most = 0;
    const store = new Proxy(bridge.store, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key === 'applyStatus' || key === 'applyStatusByExternalId') {
          const apply = (value as (...a: unknown[]) => Promise<unknown>).bind(target);
          return async (...args: unknown[]) => {
            most = Math.max(most, ++inFlight);
            try {
              return await apply(...args);
            } finally {
              inFlight--;
            }
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { fanout, metrics, logger, clock } = bridge.bridge.context;
    const statuses = new ExternalStatuses({ store, fanout, logger, clock });
    const pushed = collect(socket, 'message:status');
    const body = whatsappWebhookSchema.parse(
      JSON.parse(
        statusBody([
          { id: ids[0]!, status: 'delivered' },
          { id: ids[0]!, status: 'read' },
          { id: ids[1]!, status: 'read' },
          { id: ids[1]!, status: 'delivered' },
          ...ids.slice(2).map((id) => ({ id, status: 'delivered' })),
        ]),
      ),
    );
    const result = await applyWhatsappWebhook({ store, fanout, metrics, logger, clock, statuses }, body);
    expect(most).toBeGreaterThan(1);
    expect(result.statuses).toMatchObject({ changed: 9, unchanged: 1 });
    const final = await Promise.all(replies.map(async (r) => (await bridge.store.getMessage(conversationId, r.id))?.status));
    expect(final).toEqual(['read', 'read', ...ids.slice(2).map(() => 'delivered')]);
    // Acceptances of the replies (`sent`, Meta's id) may still be announced meanwhile: wait for the 9 changes themselves.
    const changes = () => pushed.filter((c) => c.status !== 'sent');
    await waitUntil('9 status changes pushed to the agent', async () => (changes().length >= 9 ? true : undefined));
    // Per message, pushes follow the body order and never go back: delivered then read; read alone (delivered is implied).
    expect(changes().filter((c) => c.messageId === replies[0]!.id).map((c) => c.status)).toEqual(['delivered', 'read']);
    expect(changes().filter((c) => c.messageId === replies[1]!.id).map((c) => c.status)).toEqual(['read']);
  });

  it('concurrent Meta retries of one message store it once; racing first messages share one conversation', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => postMeta(INBOUND)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const second = JSON.parse(INBOUND.toString('utf8'));
    const bodies = Array.from({ length: 5 }, (_, i) => {
      second.entry[0].changes[0].value.contacts[0].wa_id = '447700900123';
      second.entry[0].changes[0].value.messages[0].from = '447700900123';
      second.entry[0].changes[0].value.messages[0].id = `wamid.RACE${i}`;
      return JSON.stringify(second);
    });
    expect((await Promise.all(bodies.map((b) => postMeta(b)))).every((r) => r.status === 200)).toBe(true);
    const conversations = await bridge.store.listConversations({ filter: 'all' });
    expect(conversations.map((c) => c.externalUserId).sort()).toEqual([WA_ID, '447700900123'].sort());
    const first = conversations.find((c) => c.externalUserId === WA_ID)!;
    const raced = conversations.find((c) => c.externalUserId === '447700900123')!;
    expect(await bridge.store.getMessages(first.id, { limit: 10 })).toHaveLength(1);
    expect(await bridge.store.getMessages(raced.id, { limit: 10 })).toHaveLength(5);
  });

  it('every order of sent/failed/delivered/read, posted concurrently, ends in read', async () => {
    const conversationId = await inboundConversation();
    const socket = await agent();
    const statuses = ['sent', 'failed', 'delivered', 'read'];
    const orders: string[][] = [];
    const permute = (rest: string[], done: string[]) => {
      if (rest.length === 0) orders.push(done);
      rest.forEach((s, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...done, s]));
    };
    permute(statuses, []);
    const replies: Message[] = [];
    for (const _ of orders) replies.push(await agentReply(socket, conversationId, 'p'));
    await graph.waitForRequests(orders.length);
    const ids = await waitUntil('every reply stored with its Graph API id', async () => {
      const all = await Promise.all(replies.map((r) => bridge.store.getMessage(conversationId, r.id)));
      return all.every((m) => m?.externalId) ? all.map((m) => m!.externalId!) : undefined;
    });
    // Round k posts the k-th status of every message's order, all at once.
    for (let k = 0; k < statuses.length; k++) {
      const round = orders.map((order, i) => postMeta(statusBody([{ id: ids[i]!, status: order[k]! }])));
      expect((await Promise.all(round)).every((r) => r.status === 200)).toBe(true);
    }
    const final = await Promise.all(replies.map((r) => bridge.store.getMessage(conversationId, r.id)));
    expect(final.map((m) => m?.status)).toEqual(orders.map(() => 'read'));
    expect(final.every((m) => m?.statusAt.delivered !== undefined)).toBe(true);
  });
});

describe('hostile bodies', () => {
  it('malformed JSON, wrong content type, 10 MB and deep nesting get 4xx and change nothing', async () => {
    const before = await snapshotFiles(bridge.dataDir);
    const malformed = await postMeta('{"object":"whatsapp_business_account","entry":[');
    expect(malformed.status).toBe(400);
    const wrongType = await postMeta(INBOUND, { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    const deep = await postMeta(`{"object":"whatsapp_business_account","entry":[],"x":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    expect(deep.status).toBe(400);
    const notMeta = await postMeta('{"entry":"nope"}');
    expect(notMeta.status).toBe(400);
    const huge = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const tooLarge = await postMeta(huge).catch((error: unknown) => error);
    // The bridge refuses before reading the body; the client either gets the 413 or sees the connection closed.
    if (tooLarge instanceof Response) expect(tooLarge.status).toBe(413);
    else expect(tooLarge).toBeInstanceOf(Error);
    for (const res of [malformed, wrongType, deep, notMeta]) expect((await res.json()) as unknown).toHaveProperty('error.code');
    expect(await snapshotFiles(bridge.dataDir)).toEqual(before);
    // The bridge still works afterwards.
    expect((await postMeta(INBOUND)).status).toBe(200);
  });
});
