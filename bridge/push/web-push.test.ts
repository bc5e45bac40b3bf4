/**
 * Web Push end to end on the embedded store: a real bridge pushes to a loopback push service that verifies each
 * request's VAPID JWT and decrypts its aes128gcm body with the browser keys the test made. A new conversation reaches
 * every agent without a visible console tab; later messages reach the assignee; a visible tab gets nothing; a failed
 * push is retried after a restart and arrives once; a 410 forgets the subscription; bad input changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig, type PushSettings } from '../config.ts';
import { generateVapidKeys } from '../auth/vapid-keys.ts';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { startTestBridge, type TestBridge } from '../testing/test-bridge.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { silentLogger } from '../logger.ts';
import { startTestPushService, type ReceivedPush, type TestPushService } from '../testing/test-push-service.ts';
import { connectAgent, connectVisitor, emitWithAck, type AgentClient, type ConnectedVisitor } from '../testing/clients.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { PUSH_EVENT_QUEUE, PUSH_QUEUE, pushEventIdOf, type PushNotification } from './web-push.ts';
import { checkSharedVapidKey, SecretsMismatchError } from '../cluster/shared-secrets.ts';
import { subscriptionIdOf, subscriptionNamespaceOf } from './push-subscriptions.ts';

let now = Date.parse('2026-03-02T09:00:00.000Z');
const clock = () => new Date(now);
const vapid = generateVapidKeys();
const push: PushSettings = { ...vapid, subject: 'mailto:ops@example.com' };
// Loopback push endpoints need the private-address allowance, as loopback webhook receivers do.
const webhooks = loadConfig(
  { WEBHOOK_ALLOW_PRIVATE: 'true', VISITOR_TOKEN_SECRET: 'v'.repeat(32), AGENT_TOKEN_SECRET: 'a'.repeat(32), SITE_SECRET: 's'.repeat(32) },
  { persistSecrets: false },
).webhooks;
let service: TestPushService;
let tb: TestBridge;
let dataDir: string;
let bea: { id: string; token: string };
const sockets: (AgentClient | ConnectedVisitor)[] = [];
/** The conversation of the first visitor. */
let conversationId = '';

const start = () => startTestBridge({ dataDir, clock, config: { push, webhooks } });

async function api(path: string, token: string, method: string, json?: unknown) {
  const res = await fetch(`${tb.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
}

function pushesTo(name: string): PushNotification[] {
  return service.received.filter((received: ReceivedPush) => received.name === name).map((received) => received.payload as PushNotification);
}

async function visibility(socket: AgentClient, visible: boolean): Promise<void> {
  expect(await emitWithAck(socket, 'console:visibility', { visible })).toEqual({ ok: true, data: { visible } });
}

async function visitorSays(visitor: ConnectedVisitor, clientId: string, text: string): Promise<void> {
  const ack = (await emitWithAck(visitor, 'message:send', { clientId, text })) as { ok: boolean };
  expect(ack.ok).toBe(true);
}

beforeAll(async () => {
  service = await startTestPushService(vapid.publicKey);
  dataDir = await mkdtemp(join(tmpdir(), 'web-push-'));
  tb = await start();
  const record = await createAgentAccount(tb.store, { name: 'bea', displayName: 'Bea', role: 'agent', password: 'bea-password-1' }, clock());
  bea = { id: record.id, token: (await startAgentSession(tb.store, tb.config.secrets.agentToken, record, clock())).token };
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await tb?.close();
  await service?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('Web Push to agents', () => {
  it('keeps a subscription per agent per browser and refuses bad ones without storing anything', async () => {
    expect((await api('/api/push/config', tb.agent.token, 'GET')).json).toEqual({ publicKey: vapid.publicKey });
    const tess = service.subscription('tess');
    const bad = [
      { ...tess, keys: { ...tess.keys, p256dh: 'short' } },
      { ...tess, keys: { p256dh: tess.keys.p256dh } },
      { ...tess, endpoint: 'ftp://127.0.0.1/push/tess' },
    ];
    for (const body of bad) expect((await api('/api/push/subscriptions', tb.agent.token, 'POST', body)).status).toBe(400);
    // Without the loopback allowance (production), an http or private endpoint is refused.
    tb.config.webhooks.events.allowPrivate = false;
    const refused = await api('/api/push/subscriptions', tb.agent.token, 'POST', tess);
    tb.config.webhooks.events.allowPrivate = true;
    expect(refused).toMatchObject({ status: 400, json: { error: { code: 'bad_request', fields: { endpoint: 'must be an https:// URL' } } } });
    expect(await tb.store.listRecords(subscriptionNamespaceOf(tb.agent.id), 10)).toEqual([]);

    expect((await api('/api/push/subscriptions', tb.agent.token, 'POST', tess)).status).toBe(201);
    expect((await api('/api/push/subscriptions', bea.token, 'POST', service.subscription('bea'))).status).toBe(201);
    expect(await tb.store.listRecords(subscriptionNamespaceOf(tb.agent.id), 10)).toHaveLength(1);
  });

  it('pushes a new conversation to agents without a visible tab, then the assignee\'s messages; a visible tab gets none', async () => {
    const tessConsole = await connectAgent(tb.url, tb.agent.token);
    const beaConsole = await connectAgent(tb.url, bea.token);
    sockets.push(tessConsole, beaConsole);
    await visibility(tessConsole, true);
    await visibility(beaConsole, false);
    const visitor = await connectVisitor(tb.url);
    sockets.push(visitor);
    conversationId = visitor.session.conversationId;

    await visitorSays(visitor, 'm1', 'Hello, is anyone there?');
    await waitUntil('the push of the new conversation to Bea', () => pushesTo('bea').length === 1);
    await tb.bridge.push!.idle();
    const [first] = service.received;
    expect(first!.payload).toEqual({
      title: expect.stringMatching(/^New conversation: /) as string,
      body: 'Hello, is anyone there?',
      url: `${tb.url}/console/#${conversationId}`,
      tag: `conversation:${conversationId}`,
      conversationId,
    });
    expect(first!.claims).toMatchObject({ aud: service.url, sub: 'mailto:ops@example.com' });
    expect(first).toMatchObject({ ttl: '86400', urgency: 'high' });
    // Tess's tab was visible: nothing was queued for her.
    expect(pushesTo('tess')).toEqual([]);
    expect((await tb.store.listQueueItems(PUSH_QUEUE, 100)).map((item) => item.id)).toEqual([
      expect.stringMatching(new RegExp(`^push:${conversationId}:.+:${subscriptionIdOf(`${service.url}/push/bea`)}$`)) as string,
    ]);

    // Tess answers (and so is assigned); her tab is hidden now. The visitor's next message reaches her alone.
    expect((await api(`/api/conversations/${conversationId}/messages`, tb.agent.token, 'POST', { text: 'Hi!' })).status).toBe(201);
    await visibility(tessConsole, false);
    const long = `${'Quite a long question '.repeat(10)}end`;
    await visitorSays(visitor, 'm2', long);
    await waitUntil('the push of the assigned conversation to Tess', () => pushesTo('tess').length === 1);
    await tb.bridge.push!.idle();
    const [toTess] = pushesTo('tess');
    expect(toTess!.title).not.toMatch(/^New conversation/);
    expect([...toTess!.body]).toHaveLength(100);
    expect(toTess!.body.endsWith('…')).toBe(true);
    expect(pushesTo('bea')).toHaveLength(1);
  });

  it('retries a failed push after a restart and delivers it once; a 410, a sign-out or turning it off forgets the subscription', async () => {
    const visitor = sockets[2] as ConnectedVisitor;
    service.answerNext('tess', 503);
    await visitorSays(visitor, 'm3', 'Still there?');
    await waitUntil('the first, refused attempt', () => service.requests.some((request) => request.name === 'tess' && request.status === 503));
    await tb.bridge.push!.idle();
    for (const socket of sockets) socket.close();
    sockets.length = 0;

    await tb.close();
    tb = await start();
    now += 20 * 60_000;
    tb.bridge.push!.worker.kick();
    await waitUntil('the retried push to Tess', () => pushesTo('tess').some((notification) => notification.body === 'Still there?'));
    // Queueing the same message again (as a retried call or another node would) adds nothing.
    const conversation = await tb.store.getConversation(conversationId);
    const message = (await tb.store.getMessages(conversationId, { limit: 10 })).find((m) => m.text === 'Still there?');
    expect(await tb.bridge.push!.queue(message!, conversation!)).toBe(1);
    await tb.bridge.push!.idle();
    tb.bridge.push!.worker.kick();
    await tb.bridge.push!.idle();
    expect(pushesTo('tess').filter((notification) => notification.body === 'Still there?')).toHaveLength(1);
    const retried = (await tb.store.listQueueItems(PUSH_QUEUE, 100)).filter((queued) => queued.id.includes(message!.id));
    expect(retried).toMatchObject([{ state: 'delivered', attempts: 2 }]);

    // Bea's browser has dropped its subscription: the push service answers 410 and the bridge forgets it.
    service.answerNext('bea', 410);
    const newcomer = await connectVisitor(tb.url);
    sockets.push(newcomer);
    await visitorSays(newcomer, 'n1', 'A new question');
    await waitUntil('Bea\'s subscription forgotten after the 410', async () =>
      (await tb.store.listRecords(subscriptionNamespaceOf(bea.id), 10)).length === 0,
    );
    await waitUntil('the new conversation pushed to Tess', () => pushesTo('tess').some((notification) => notification.body === 'A new question'));

    // Signing out forgets the subscriptions made in that sign-in (another browser's stays).
    const other = (await startAgentSession(tb.store, tb.config.secrets.agentToken, (await tb.store.getAgent(tb.agent.id))!, clock())).token;
    expect((await api('/api/push/subscriptions', other, 'POST', service.subscription('tess-laptop'))).status).toBe(201);
    expect(await tb.store.listRecords(subscriptionNamespaceOf(tb.agent.id), 10)).toHaveLength(2);
    expect((await api('/api/auth/logout', other, 'POST', {})).status).toBe(204);
    const left = await tb.store.listRecords(subscriptionNamespaceOf(tb.agent.id), 10);
    expect(left.map((record) => (record.value as { endpoint: string }).endpoint)).toEqual([`${service.url}/push/tess`]);

    // Erasing a conversation erases its queued pushes (they carry previews of its messages).
    expect((await tb.store.listQueueItems(PUSH_QUEUE, 100)).some((item) => item.id.startsWith(`push:${conversationId}:`))).toBe(true);
    expect((await api(`/api/conversations/${conversationId}`, tb.agent.token, 'DELETE')).status).toBe(204);
    expect((await tb.store.listQueueItems(PUSH_QUEUE, 100)).some((item) => item.id.startsWith(`push:${conversationId}:`))).toBe(false);

    // Turning notifications off in the browser forgets its subscription.
    const endpoint = `${service.url}/push/tess`;
    expect((await api('/api/push/subscriptions', tb.agent.token, 'DELETE', { endpoint })).status).toBe(204);
    expect(await tb.store.listRecords(subscriptionNamespaceOf(tb.agent.id), 10)).toEqual([]);
  });

  it('a node killed right after storing a message loses none of its pushes: the restarted node works them out, once', async () => {
    expect((await api('/api/push/subscriptions', tb.agent.token, 'POST', service.subscription('tess'))).status).toBe(201);
    // The crash window: nothing of the message's push is worked out before the kill (this node's push workers stopped).
    await tb.bridge.push!.stop();
    const visitor = await connectVisitor(tb.url);
    await visitorSays(visitor, 'k1', 'Anyone after the crash?');
    visitor.close();
    // Acknowledged: the data directory as a kill -9 leaves it right now (every write before the ack is fsynced).
    const image = await mkdtemp(join(tmpdir(), 'web-push-crash-'));
    await cp(dataDir, image, { recursive: true, filter: (src) => basename(src) !== 'lock' });
    await tb.close();
    await rm(dataDir, { recursive: true, force: true });
    dataDir = image;
    const probe = new LowdbStore({ dataDir: image, logger: silentLogger() });
    await probe.open();
    const events = await probe.listQueueItems(PUSH_EVENT_QUEUE, 100);
    await probe.close();
    // Stored in the message's own journal record: the kill could not keep one without the other.
    const message = events.find((item) => (item.payload as { preview: string }).preview === 'Anyone after the crash?');
    expect(message).toMatchObject({ state: 'pending', attempts: 0 });
    expect(pushesTo('tess').filter((notification) => notification.body === 'Anyone after the crash?')).toEqual([]);

    tb = await start();
    await waitUntil('the push worked out and sent by the restarted node', () => pushesTo('tess').some((notification) => notification.body === 'Anyone after the crash?'));
    await tb.bridge.push!.idle();
    tb.bridge.push!.events.kick();
    tb.bridge.push!.worker.kick();
    await tb.bridge.push!.idle();
    const sent = pushesTo('tess').filter((notification) => notification.body === 'Anyone after the crash?');
    expect(sent).toEqual([expect.objectContaining({ title: expect.stringMatching(/^New conversation: /), conversationId: sent[0]!.conversationId })]);
    const conversation = sent[0]!.conversationId;
    expect((await tb.store.listQueueItems(PUSH_EVENT_QUEUE, 100)).find((item) => item.id.startsWith(`push:${conversation}:`))).toMatchObject({
      state: 'delivered',
      id: pushEventIdOf(conversation, (await tb.store.getMessages(conversation, { limit: 1 }))[0]!.id),
    });
    expect((await tb.store.listQueueItems(PUSH_QUEUE, 100)).filter((item) => item.id.startsWith(`push:${conversation}:`))).toMatchObject([{ state: 'delivered' }]);
  });

  it('refuses to start a cluster node whose VAPID public key is not the one the first node recorded', async () => {
    await checkSharedVapidKey(tb.store, vapid.publicKey);
    await checkSharedVapidKey(tb.store, vapid.publicKey);
    await checkSharedVapidKey(tb.store, undefined);
    await expect(checkSharedVapidKey(tb.store, generateVapidKeys().publicKey)).rejects.toThrow(SecretsMismatchError);
  });
});
