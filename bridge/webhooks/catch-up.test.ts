/**
 * The crash window between storing a change and queueing its outbound work: the change is written straight into the
 * data directory through the Store (as if the bridge died right after storing it, before any sink ran), then a
 * bridge starts on that directory. Its catch-up must queue the missing event / WhatsApp send — delivered to a real
 * loopback receiver / fake Graph API exactly once, also when the work had in fact been queued (or delivered) already.
 */
import { afterEach, describe, expect, it } from 'vitest';
import axios from 'axios';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../protocol/message.ts';
import type { LoginResult } from '../../protocol/events.ts';
import { silentLogger } from '../logger.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { PROCESS_ADMIN, connectVisitor, connectAgent, emitWithAck, startBridgeProcess, startTestBridge, waitUntil, type BridgeProcess, type TestBridge } from '../testing/index.ts';
import { metaSignature } from './signatures.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { CATCH_UP_NAMESPACE, CURSOR_NAMESPACE, SinkCatchUp, hasStatusChange, type SinkCursor } from './catch-up.ts';
import { EventWebhooks, type EventEnvelope } from './event-webhooks.ts';
import { graphSendOk, startScriptedServer, type RecordedRequest, type ScriptedServer } from './test-servers.ts';

const SECRET = 'whsec-catch-up-0123456789';
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-catch-up-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function server(answer: (request: RecordedRequest, index: number) => { status: number; body?: unknown }): Promise<ScriptedServer> {
  const started = await startScriptedServer(answer);
  cleanups.push(() => started.close());
  return started;
}

/** Opens the data directory with the Store alone (no bridge, no sinks), runs `work`, closes it. */
async function withStore<T>(dataDir: string, work: (store: LowdbStore) => Promise<T>): Promise<T> {
  const store = new LowdbStore({ dataDir, logger: silentLogger() });
  await store.open();
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Webhook settings sending signed events to `hook` (loopback allowed), polled every 30 ms. */
const eventWebhooksTo = (hook: ScriptedServer, extra: Record<string, string> = {}) =>
  webhookConfigFromEnv({
    WEBHOOK_URLS: `${hook.url}/events`,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_POLL_MS: '30',
    ...extra,
  });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const envelopeOf = (request: RecordedRequest) => JSON.parse(request.body.toString('utf8')) as EventEnvelope;
const okRequests = (hook: ScriptedServer, ok: Set<RecordedRequest>) => hook.requests.filter((r) => ok.has(r));

describe('catch-up of outbound work after a crash between storing and queueing', () => {
  it('a child bridge sends the reply and the event stored in the crash window once, and nothing already sent again', async () => {
    const graph = await server((_r, index) => ({ status: 200, body: graphSendOk(`wamid.SEND${index + 1}`) }));
    const hook = await server(() => ({ status: 200 }));
    const dataDir = await tempDir();
    const appSecret = 'meta-app-secret-catch-up-0123';
    const env = {
      WHATSAPP_APP_SECRET: appSecret,
      WHATSAPP_ACCESS_TOKEN: 'EAAG-catch-up-token',
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_API_BASE: `${graph.url}/v21.0`,
      WEBHOOK_URLS: `${hook.url}/events`,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_MS: '50',
    };
    const start = async (): Promise<BridgeProcess> => {
      const child = await startBridgeProcess({ dataDir, env });
      cleanups.push(() => child.kill('SIGKILL'));
      return child;
    };
    const first = await start();
    const inbound = readFileSync(join(import.meta.dirname, 'fixtures', '04-meta-inbound-text.json'));
    const posted = await fetch(`${first.url}/webhooks/whatsapp`, {
      method: 'POST',
      body: new Uint8Array(inbound),
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(inbound, appSecret) },
    });
    expect(posted.status).toBe(200);
    const token = ((await (await fetch(`${first.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(PROCESS_ADMIN),
    })).json()) as LoginResult).token;
    const list = await fetch(`${first.url}/api/conversations?filter=all`, { headers: { authorization: `Bearer ${token}` } });
    const [conversation] = ((await list.json()) as { conversations: { id: string }[] }).conversations;
    const agent = await connectAgent(first.url, token);
    const reply = await emitWithAck(agent, 'message:send', { conversationId: conversation!.id, clientId: 'r1', text: 'first reply' });
    agent.disconnect();
    if (!reply.ok) throw new Error(reply.error.code);
    // Both events (inbound message, reply) and the send are done and recorded as delivered before the crash.
    const settled = async (queue: string, count: number) => {
      const res = await fetch(`${first.url}/api/webhooks/deliveries?queue=${queue}`, { headers: { authorization: `Bearer ${token}` } });
      const { deliveries } = (await res.json()) as { deliveries: { state: string }[] };
      return deliveries.length === count && deliveries.every((d) => d.state === 'delivered') ? true : undefined;
    };
    await waitUntil('both events recorded as delivered by the first bridge', () => settled('webhook', 2));
    await waitUntil('the WhatsApp send recorded as delivered by the first bridge', () => settled('whatsapp-send', 1));
    expect(await first.kill('SIGKILL')).toBeNull();
    expect(graph.requests).toHaveLength(1);
    expect(hook.requests).toHaveLength(2);

    // The crash window, reproduced on disk: a second reply stored, no sink ran. The cursor is dropped as well, so
    // the catch-up also re-derives the work that was queued and delivered (it must stay a no-op).
    const stored = await withStore(dataDir, async (store) => {
      await store.deleteRecord(CURSOR_NAMESPACE, conversation!.id);
      const result = await store.appendMessage({
        conversationId: conversation!.id,
        clientId: 'r2',
        author: { role: 'agent', name: 'Ana' },
        text: 'sent in the crash window',
      });
      return result.message;
    });

    const second = await start();
    const [, sent] = await graph.waitForRequests(2);
    expect(JSON.parse(sent!.body.toString('utf8'))).toMatchObject({ to: '16505551234', text: { body: 'sent in the crash window' } });
    const events = await hook.waitForRequests(3);
    expect(envelopeOf(events[2]!)).toMatchObject({ id: `evt:${stored.id}:created`, type: 'message.created', data: { message: { id: stored.id } } });
    const token2 = ((await (await fetch(`${second.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(PROCESS_ADMIN),
    })).json()) as LoginResult).token;
    await waitUntil('the second reply stored with the Graph API id wamid.SEND2 after the restart', async () => {
      const res = await fetch(`${second.url}/api/conversations/${conversation!.id}/messages`, { headers: { authorization: `Bearer ${token2}` } });
      const messages = ((await res.json()) as { messages: Message[] }).messages;
      return messages.find((m) => m.id === stored.id)?.externalId === 'wamid.SEND2' ? true : undefined;
    });
    // Exactly once: nothing more arrives (queue polls every 50 ms), and the first reply was not sent again.
    await pause(1000);
    expect(graph.requests).toHaveLength(2);
    expect(hook.requests).toHaveLength(3);
    expect(await second.stop()).toBe(0);
  });

  it('in process: pending and missing events after the crash are each delivered once, status changes included', async () => {
    let up = false;
    const ok = new Set<RecordedRequest>();
    const hook = await server((request) => {
      if (up) ok.add(request);
      return { status: up ? 200 : 503 };
    });
    const dataDir = await tempDir();
    const bridgeOn = async (): Promise<TestBridge> => {
      const bridge = await startTestBridge({
        dataDir,
        config: { webhooks: eventWebhooksTo(hook, { WEBHOOK_RETRY_BASE_MS: '200' }) },
      });
      cleanups.push(() => bridge.close());
      return bridge;
    };
    const first = await bridgeOn();
    const visitor = await connectVisitor(first.url);
    const ack = await emitWithAck(visitor, 'message:send', { clientId: 'm1', text: 'queued, receiver down' });
    visitor.disconnect();
    if (!ack.ok) throw new Error(ack.error.code);
    const m1 = ack.data;
    const [failed] = await hook.waitForRequests(1);
    await first.close();

    // The crash window: M1 read, M2 stored in M1's conversation, M3 in a new one — and no sink ran for any of them.
    const { m2, m3 } = await withStore(dataDir, async (store) => {
      await store.deleteRecord(CURSOR_NAMESPACE, m1.conversationId);
      await store.applyReceipt(m1.conversationId, 'visitor', m1.seq, 'read');
      const m2 = (await store.appendMessage({ conversationId: m1.conversationId, clientId: 'm2', author: { role: 'agent' }, text: 'two' })).message;
      await store.createConversation({ id: 'crash-window-conversation', channel: 'web', name: 'Visitor' });
      const m3 = (await store.appendMessage({ conversationId: 'crash-window-conversation', clientId: 'm3', author: { role: 'visitor' }, text: 'three' })).message;
      return { m2, m3 };
    });

    up = true;
    const second = await bridgeOn();
    await waitUntil('4 events answered 200 by the receiver', () => ok.size >= 4);
    await pause(600);
    const delivered = okRequests(hook, ok);
    const ids = delivered.map((r) => envelopeOf(r).id).sort();
    expect(ids).toEqual([`evt:${m1.id}:created`, `evt:${m1.id}:read`, `evt:${m2.id}:created`, `evt:${m3.id}:created`].sort());
    expect(new Set(delivered.map((r) => r.headers['x-anonchat-delivery'])).size).toBe(4);
    // The event queued before the crash keeps its delivery id and body.
    const m1Created = delivered.find((r) => envelopeOf(r).id === `evt:${m1.id}:created`)!;
    expect(m1Created.headers['x-anonchat-delivery']).toBe(failed!.headers['x-anonchat-delivery']);
    expect(m1Created.body.equals(failed!.body)).toBe(true);
    expect(envelopeOf(delivered.find((r) => envelopeOf(r).id === `evt:${m1.id}:read`)!)).toMatchObject({
      type: 'message.status',
      data: { change: { messageId: m1.id, status: 'read' }, message: { status: 'read' } },
    });

    // A clean close leaves every cursor at its conversation's state: the next start reads no changes.
    const conversations = await second.store.listConversations({ filter: 'all' });
    await second.close();
    await withStore(dataDir, async (store) => {
      for (const c of conversations) {
        expect(await store.getRecord<SinkCursor>(CURSOR_NAMESPACE, c.id)).toEqual({ rev: c.rev, seq: c.lastSeq });
      }
    });
  });

  it('the first start on existing data takes it as handled (no events for what was stored before); cursors follow the traffic', async () => {
    const hook = await server(() => ({ status: 200 }));
    const dataDir = await tempDir();
    const old = await withStore(dataDir, async (store) => {
      await store.createConversation({ id: 'older', channel: 'web', name: 'Old' });
      return (await store.appendMessage({ conversationId: 'older', clientId: 'o1', author: { role: 'visitor' }, text: 'old' })).message;
    });
    const bridge = await startTestBridge({
      dataDir,
      config: { webhooks: eventWebhooksTo(hook) },
    });
    cleanups.push(() => bridge.close());
    await waitUntil('the catch-up baseline record', () => bridge.store.getRecord(CATCH_UP_NAMESPACE, 'baseline'));
    expect(await bridge.store.getRecord(CURSOR_NAMESPACE, 'older')).toEqual({ rev: old.rev, seq: old.seq });
    const visitor = await connectVisitor(bridge.url);
    cleanups.push(() => void visitor.disconnect());
    const ack = await emitWithAck(visitor, 'message:send', { clientId: 'n1', text: 'new' });
    if (!ack.ok) throw new Error(ack.error.code);
    const [only] = await hook.waitForRequests(1);
    // Shortly after traffic pauses the running bridge advances the cursor (a crash now would catch up nothing).
    await waitUntil('the running bridge to advance the cursor to the new message', async () => {
      const cursor = await bridge.store.getRecord<SinkCursor>(CURSOR_NAMESPACE, ack.data.conversationId);
      return cursor?.rev === ack.data.rev && cursor.seq === ack.data.seq;
    });
    await pause(300);
    expect(hook.requests).toHaveLength(1);
    expect(envelopeOf(only!).id).toBe(`evt:${ack.data.id}:created`);
  });

  it('a bridge without event webhooks writes nothing for web chats; turning them on later sends only later events', async () => {
    const hook = await server(() => ({ status: 200 }));
    const dataDir = await tempDir();
    const plain = await startTestBridge({ dataDir });
    const visitor = await connectVisitor(plain.url);
    const before = await emitWithAck(visitor, 'message:send', { clientId: 'b1', text: 'before webhooks' });
    visitor.disconnect();
    if (!before.ok) throw new Error(before.error.code);
    await pause(200);
    expect(await plain.store.getRecord(CURSOR_NAMESPACE, before.data.conversationId)).toBeUndefined();
    await plain.close();

    const hooked = await startTestBridge({
      dataDir,
      config: { webhooks: eventWebhooksTo(hook) },
    });
    cleanups.push(() => hooked.close());
    const again = await connectVisitor(hooked.url, { token: visitor.session.token });
    cleanups.push(() => void again.disconnect());
    const after = await emitWithAck(again, 'message:send', { clientId: 'b2', text: 'after webhooks' });
    if (!after.ok) throw new Error(after.error.code);
    const [only] = await hook.waitForRequests(1);
    await pause(400);
    expect(hook.requests).toHaveLength(1);
    expect(envelopeOf(only!).id).toBe(`evt:${after.data.id}:created`);
  });

  it('tells a status change from the status a message was stored with', () => {
    const base = { createdAt: '2026-01-01T00:00:00.000Z' };
    const at = (status: Message['status'], statusAt: Message['statusAt']) => ({ ...base, status, statusAt }) as Message;
    expect(hasStatusChange(at('sent', { sent: base.createdAt }))).toBe(false);
    expect(hasStatusChange(at('read', { read: base.createdAt, delivered: base.createdAt }))).toBe(false);
    expect(hasStatusChange(at('delivered', { sent: base.createdAt, delivered: base.createdAt }))).toBe(true);
    expect(hasStatusChange(at('read', { delivered: base.createdAt, read: '2026-01-01T00:00:05.000Z' }))).toBe(true);
    expect(hasStatusChange(at('read', { sent: base.createdAt, delivered: base.createdAt, read: base.createdAt }))).toBe(true);
    expect(hasStatusChange(at('failed', { sent: base.createdAt, failed: base.createdAt }))).toBe(true);
  });
});

/**
 * One start of the catch-up on `dataDir` (the real store, after `before` changed it without a bridge); returns the
 * conversations whose changes it read — a start must not build the change index of up-to-date conversations.
 */
async function startCatchUpOnce(
  deps: {
    dataDir: string;
    logger: ReturnType<typeof silentLogger>;
    events: (store: LowdbStore) => EventWebhooks;
    whatsapp: ConstructorParameters<typeof SinkCatchUp>[0]['whatsapp'];
  },
  before?: (store: LowdbStore) => Promise<void>,
): Promise<string[]> {
  const { dataDir, logger, whatsapp } = deps;
  const store = new LowdbStore({ dataDir, logger });
  await store.open();
  try {
    await before?.(store);
    const read: string[] = [];
    const counted = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key === 'getChangesSince') {
          return (conversationId: string, afterRev: number, limit: number) => {
            read.push(conversationId);
            return target.getChangesSince(conversationId, afterRev, limit);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const catchUp = new SinkCatchUp({ store: counted, logger, clock: () => new Date(), events: deps.events(store), whatsapp });
    catchUp.start();
    await catchUp.idle();
    await catchUp.stop();
    return [...new Set(read)];
  } finally {
    await store.close();
  }
}

describe('catch-up cost at start', () => {
  it('reads the changes of only the conversations above their cursor', async () => {
    const dataDir = await tempDir();
    const logger = silentLogger();
    const events = (store: LowdbStore) =>
      new EventWebhooks({
        store,
        logger,
        clock: () => new Date(),
        http: axios.create(),
        config: webhookConfigFromEnv({ WEBHOOK_URLS: 'https://receiver.invalid/h', WEBHOOK_SECRET: SECRET }).events,
        pollMs: 60_000,
      });
    const whatsapp = {
      queueSend: () => Promise.reject(new Error('web conversations have no WhatsApp sends')),
    };
    const startOnce = (before?: (store: LowdbStore) => Promise<void>) =>
      startCatchUpOnce({ dataDir, logger, events, whatsapp }, before);
    expect(
      await startOnce(async (store) => {
        for (let i = 0; i < 50; i++) {
          await store.createConversation({ id: `c${i}`, channel: 'web', name: 'V' });
          await store.appendMessage({ conversationId: `c${i}`, clientId: 'a', author: { role: 'visitor' }, text: 'hi' });
        }
      }),
    ).toEqual([]);
    expect(await startOnce()).toEqual([]);
    // Two changes made without a bridge (the crash window): only those two conversations are read.
    const read = await startOnce(async (store) => {
      await store.appendMessage({ conversationId: 'c7', clientId: 'b', author: { role: 'agent' }, text: 'reply' });
      await store.applyReceipt('c31', 'visitor', 1, 'read');
    });
    expect(read.sort()).toEqual(['c31', 'c7']);
    expect(await startOnce()).toEqual([]);
    await withStore(dataDir, async (store) => {
      const queued = await store.listQueueItems<{ type: string }>('webhook', 10);
      expect(queued.map((item) => item.id.split(':').slice(0, 3).join(':')).sort()).toEqual(
        [`evt:${(await store.getMessages('c7', { limit: 1 }))[0]!.id}:created`, `evt:${(await store.getMessages('c31', { limit: 1 }))[0]!.id}:read`].sort(),
      );
    });
  });
});

describe('catch-up cost without event webhooks', () => {
  it('does not read a WhatsApp conversation whose only changes are statuses, yet advances its cursor', async () => {
    const dataDir = await tempDir();
    const logger = silentLogger();
    const queuedSends: string[] = [];
    const whatsapp = { queueSend: async (message: Message) => void queuedSends.push(message.id) };
    // Event webhooks off: no receivers configured.
    const events = (store: LowdbStore) =>
      new EventWebhooks({ store, logger, clock: () => new Date(), http: axios.create(), config: webhookConfigFromEnv({}).events, pollMs: 60_000 });
    const startOnce = (before?: (store: LowdbStore) => Promise<void>) =>
      startCatchUpOnce({ dataDir, logger, events, whatsapp }, before);
    const reply = (store: LowdbStore, conversationId: string, n: number, externalId?: string) =>
      store.appendMessage({ conversationId, clientId: `r${n}`, author: { role: 'agent', name: 'A' }, text: 'hello', ...(externalId ? { externalId } : {}) });
    let sentId = '';
    expect(
      await startOnce(async (store) => {
        for (const id of ['w1', 'w2']) await store.createConversation({ id, channel: 'whatsapp', name: id, externalUserId: id });
        sentId = (await reply(store, 'w1', 1, 'wamid.CU1')).message.id;
        await reply(store, 'w2', 1, 'wamid.CU2');
      }),
    ).toEqual([]);
    // In the crash window: a status for w1's reply, and a new (unsent) reply in w2 — which has work to queue.
    const read = await startOnce(async (store) => {
      await store.applyStatus('w1', sentId, { status: 'delivered' });
      await reply(store, 'w2', 2);
    });
    expect(read).toEqual(['w2']);
    expect(queuedSends).toHaveLength(1);
    await withStore(dataDir, async (store) => {
      const w1 = await store.getConversation('w1');
      expect(await store.getRecord<SinkCursor>(CURSOR_NAMESPACE, 'w1')).toEqual({ rev: w1!.rev, seq: w1!.lastSeq });
    });
    expect(await startOnce()).toEqual([]);
  });
});
