/**
 * Outbound event webhooks over real HTTP: a running bridge, real visitor/agent sockets producing events, and
 * receivers that are real servers on loopback (scripted to fail, reset, throttle or redirect).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../protocol/message.ts';
import { connectAgent, connectVisitor, emitWithAck, startTestBridge, waitUntil, type TestBridge } from '../testing/index.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { startScriptedServer, type RecordedRequest, type ScriptedAnswer, type ScriptedServer } from './test-servers.ts';
import type { EventEnvelope } from './event-webhooks.ts';
import type { QueueItem } from '../store/store.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { silentLogger } from '../logger.ts';

const SECRET = 'whsec-test-0123456789abcdef';
const API_KEY = 'test-api-key-0123456789abcdefgh';
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(fallback?: (request: RecordedRequest, index: number) => ScriptedAnswer | Promise<ScriptedAnswer>): Promise<ScriptedServer> {
  const server = await startScriptedServer(fallback);
  cleanups.push(() => server.close());
  return server;
}

async function bridgeFor(urls: string[], env: Record<string, string> = {}, dataDir?: string): Promise<TestBridge> {
  const bridge = await startTestBridge({
    ...(dataDir ? { dataDir } : {}),
    config: {
      apiKey: API_KEY,
      webhooks: webhookConfigFromEnv({
        WEBHOOK_URLS: urls.join(','),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_BASE_MS: '40',
        WEBHOOK_POLL_MS: '30',
        // Far beyond any answered request, however slow a loaded machine makes it: a request given up on would add an
        // attempt (and a log entry) that the exact counts below do not expect. The timeout test sets its own.
        WEBHOOK_TIMEOUT_MS: '30000',
        ...env,
      }),
    },
  });
  cleanups.push(() => bridge.close());
  return bridge;
}

/** The verification a site owner writes (the README's example): `t=…,v1=…` over `${t}.${rawBody}`, 5 minutes. */
function verifyWebhook(secret: string, header: string | undefined, rawBody: Buffer, nowSeconds: number): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const [, t, v1] = match as unknown as [string, string, string];
  if (Math.abs(nowSeconds - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

async function visitorMessage(bridge: TestBridge, text: string): Promise<Message> {
  const visitor = await connectVisitor(bridge.url);
  cleanups.push(() => void visitor.disconnect());
  const ack = await emitWithAck(visitor, 'message:send', { clientId: `v-${Math.random().toString(36).slice(2)}`, text });
  if (!ack.ok) throw new Error(ack.error.code);
  return ack.data;
}

const envelopeOf = (request: RecordedRequest) => JSON.parse(request.body.toString('utf8')) as EventEnvelope;

describe('outbound event webhooks', () => {
  it('POST a signed message.created and message.status for each change, verifiable by the receiver', async () => {
    const hook = await receiver();
    const bridge = await bridgeFor([`${hook.url}/hook`]);
    const message = await visitorMessage(bridge, 'Hallo Welt ✓');
    const agent = await connectAgent(bridge.url, bridge.agent.token);
    cleanups.push(() => void agent.disconnect());
    await emitWithAck(agent, 'receipt', { conversationId: message.conversationId, upToSeq: message.seq, status: 'read' });
    const requests = await hook.waitForRequests(2);
    // Deliveries are not ordered (retries would reorder them anyway); receivers order by message.rev.
    const created = requests.find((r) => r.headers['x-anonchat-event'] === 'message.created');
    const status = requests.find((r) => r.headers['x-anonchat-event'] === 'message.status');
    for (const request of requests) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/hook');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-anonchat-delivery']).toMatch(/^evt:[A-Za-z0-9_-]{10,}:(created|read:r\d+):[0-9a-f]{16}$/);
      expect(verifyWebhook(SECRET, request.headers['x-anonchat-signature'] as string, request.body, Math.floor(Date.now() / 1000))).toBe(true);
      expect(verifyWebhook('wrong-secret-0123456789', request.headers['x-anonchat-signature'] as string, request.body, Math.floor(Date.now() / 1000))).toBe(false);
    }
    expect(envelopeOf(created!)).toMatchObject({
      type: 'message.created',
      data: { message: { id: message.id, text: 'Hallo Welt ✓' }, conversation: { id: message.conversationId, channel: 'web' } },
    });
    expect(envelopeOf(status!)).toMatchObject({
      type: 'message.status',
      data: { change: { messageId: message.id, status: 'read' } },
    });
    // Ids derive from the message and its change, so queueing an event twice (after a crash) sends it once.
    expect(envelopeOf(created!).id).toBe(`evt:${message.id}:created`);
    const read = envelopeOf(status!).data.message;
    expect(envelopeOf(status!).id).toBe(`evt:${message.id}:read:r${read.rev}`);
    expect(created!.headers['x-anonchat-delivery']).toMatch(new RegExp(`^evt:${message.id}:created:[0-9a-f]{16}$`));
  });

  it('sends a status reached again (failed after a Retry, sent after a new acceptance) as a new event with its own id', async () => {
    const hook = await receiver();
    const bridge = await bridgeFor([`${hook.url}/hook`]);
    const { conversationId, id } = await visitorMessage(bridge, 'sent twice');
    // What a channel's sends report: failed, failed again after a Retry, accepted, failed, accepted again.
    const failure = (reason: string) => ({ status: 'failed' as const, failure: { code: 'upstream', reason } });
    await bridge.store.applyStatus(conversationId, id, failure('first'));
    await bridge.store.applyStatus(conversationId, id, { ...failure('second'), again: true });
    await bridge.store.setExternalId(conversationId, id, 'ext-1');
    await bridge.store.applyStatus(conversationId, id, failure('third'));
    await bridge.store.setExternalId(conversationId, id, 'ext-2');
    const requests = await hook.waitForRequests(6);
    const statuses = requests.map(envelopeOf).filter((e) => e.type === 'message.status');
    expect(statuses.map((e) => e.data.message.status).sort()).toEqual(['failed', 'failed', 'failed', 'sent', 'sent']);
    // One id per change, derived from it: the status and the rev the store gave that change.
    expect(new Set(statuses.map((e) => e.id)).size).toBe(5);
    for (const e of statuses) expect(e.id).toBe(`evt:${id}:${e.data.message.status}:r${e.data.message.rev}`);
    expect(new Set(requests.map((r) => r.headers['x-anonchat-delivery'])).size).toBe(6);
  });

  it('retries 500, a reset and 429 with the same delivery id and body, honouring Retry-After', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let itemAtFourth: Promise<QueueItem | undefined> | undefined;
    // The 4th request (after the three scripted answers) is held until the test has read the item as it found it.
    const hook = await receiver(() => {
      itemAtFourth = bridge.store.listQueueItems('webhook', 10).then(([item]) => item);
      return released.then(() => ({ status: 200 }));
    });
    hook.script.push({ status: 500 }, 'reset', { status: 429, headers: { 'Retry-After': '1' } });
    // The request timeout (bridgeFor's) is far beyond the hold, so the held request is never given up on.
    const bridge = await bridgeFor([`${hook.url}/hook`]);
    await visitorMessage(bridge, 'retry me');
    const requests = await hook.waitForRequests(4);
    expect(new Set(requests.map((r) => r.headers['x-anonchat-delivery'])).size).toBe(1);
    expect(new Set(requests.map((r) => r.body.toString('base64'))).size).toBe(1);
    // The 429 asked for 1 s; exponential backoff alone would have scheduled the retry ~160 ms later. Read from the
    // item as the 4th request finds it (the receiver holds that request): the schedule the bridge recorded, not a gap.
    const retried = await itemAtFourth;
    release();
    expect(retried?.attempts).toBe(3);
    expect(retried?.log[2]).toMatchObject({ ok: false, status: 429 });
    expect(Date.parse(retried!.dueAt) - Date.parse(retried!.log[2]!.at)).toBeGreaterThanOrEqual(1000);
    const delivery = await waitUntil('the event delivered', async () => {
      const [item] = await bridge.store.listQueueItems('webhook', 10);
      return item?.state === 'delivered' ? item : undefined;
    });
    expect(delivery.attempts).toBe(4);
    expect(delivery.log.map((l) => l.status ?? 'error')).toEqual([500, 'error', 429, 200]);
  });

  it('gives up on a receiver that does not answer within the timeout and retries', async () => {
    const hook = await receiver();
    // Only the first request hangs, so the test waits for the timeout once; it is long enough that an answered
    // request does not reach it on a loaded machine (one that did would add a timed-out attempt, accepted below).
    hook.script.push('hang');
    const bridge = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_TIMEOUT_MS: '3000' });
    await visitorMessage(bridge, 'slow receiver');
    const item = await waitUntil('the event delivered', async () => {
      const [found] = await bridge.store.listQueueItems('webhook', 10);
      return found?.state === 'delivered' ? found : undefined;
    });
    // The first request is never answered, so only the bridge's request timeout can have ended that attempt (an
    // abort on close would leave the item untouched); a later, answered one delivered it under the same id.
    const timedOut = { ok: false, error: expect.stringMatching(/ECONNABORTED|ETIMEDOUT/) };
    expect(item.log.length).toBeGreaterThanOrEqual(2);
    expect(item.log).toMatchObject([...item.log.slice(0, -1).map(() => timedOut), { ok: true, status: 200 }]);
    expect(item.attempts).toBe(item.log.length);
    expect(hook.requests).toHaveLength(item.attempts);
    for (const request of hook.requests) expect(request.headers['x-anonchat-delivery']).toBe(item.id);
  });

  it('does not follow redirects', async () => {
    const elsewhere = await receiver();
    const hook = await receiver(() => ({ status: 307, headers: { Location: `${elsewhere.url}/stolen` } }));
    const bridge = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_MAX_ATTEMPTS: '2' });
    await visitorMessage(bridge, 'no redirects');
    const dead = await waitUntil('the event marked dead', async () => {
      const [item] = await bridge.store.listQueueItems('webhook', 10);
      return item?.state === 'dead' ? item : undefined;
    });
    expect(dead.log.map((l) => l.status)).toEqual([307, 307]);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('refuses receivers on loopback when private addresses are not allowed (IP literal and a name)', async () => {
    const hook = await receiver();
    const port = new URL(hook.url).port;
    const bridge = await bridgeFor([`http://127.0.0.1:${port}/a`, `http://localhost:${port}/b`], { WEBHOOK_ALLOW_PRIVATE: 'false' });
    await visitorMessage(bridge, 'to the intranet?');
    const items = await waitUntil('both events marked dead', async () => {
      const all = await bridge.store.listQueueItems('webhook', 10);
      return all.length === 2 && all.every((i) => i.state === 'dead') ? all : undefined;
    });
    for (const item of items) {
      expect(item.attempts).toBe(1);
      expect(item.lastError).toMatch(/private or reserved address/);
    }
    expect(hook.requests).toHaveLength(0);
  });

  it('marks a receiver that keeps failing, lists dead deliveries with attempts, and redelivers with the same id', async () => {
    let healthy = false;
    const hook = await receiver(() => (healthy ? { status: 204 } : { status: 502 }));
    const bridge = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_MAX_ATTEMPTS: '5' });
    await visitorMessage(bridge, 'keeps failing');
    await waitUntil('the event marked dead', async () => ((await bridge.store.listQueueItems('webhook', 10))[0]?.state === 'dead' ? true : undefined));

    const unauthenticated = await fetch(`${bridge.url}/api/webhooks/deliveries`);
    expect(unauthenticated.status).toBe(401);
    const listed = await fetch(`${bridge.url}/api/webhooks/deliveries?state=dead`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as {
      deliveries: { id: string; url: string; event: string; state: string; attempts: number; log: { status?: number }[] }[];
      receivers: { url: string; failing: boolean; consecutiveFailures: number }[];
    };
    expect(body.deliveries).toHaveLength(1);
    const [delivery] = body.deliveries;
    expect(delivery).toMatchObject({ url: `${hook.url}/hook`, event: 'message.created', state: 'dead', attempts: 5 });
    expect(delivery!.log.map((l) => l.status)).toEqual([502, 502, 502, 502, 502]);
    expect(body.receivers).toEqual([expect.objectContaining({ url: `${hook.url}/hook`, failing: true, consecutiveFailures: 5 })]);
    expect(hook.requests.every((r) => r.headers['x-anonchat-delivery'] === delivery!.id)).toBe(true);

    healthy = true;
    const redeliver = await fetch(`${bridge.url}/api/webhooks/deliveries/${delivery!.id}/redeliver`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bridge.agent.token}` },
    });
    expect(redeliver.status).toBe(202);
    const requests = await hook.waitForRequests(6);
    expect(requests[5]?.headers['x-anonchat-delivery']).toBe(delivery!.id);
    await waitUntil('the redelivered event delivered', async () => ((await bridge.store.listQueueItems('webhook', 10))[0]?.state === 'delivered' ? true : undefined));
    const after = (await (await fetch(`${bridge.url}/api/webhooks/deliveries`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as typeof body;
    expect(after.receivers[0]).toMatchObject({ failing: false, consecutiveFailures: 0 });
    const missing = await fetch(`${bridge.url}/api/webhooks/deliveries/nope/redeliver`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
    expect(missing.status).toBe(404);
  });

  it('redelivers a dead delivery that no listing of its queue reaches', async () => {
    let healthy = false;
    const hook = await receiver(() => (healthy ? { status: 204 } : { status: 502 }));
    const bridge = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_MAX_ATTEMPTS: '1' });
    await visitorMessage(bridge, 'first');
    await visitorMessage(bridge, 'second');
    const listAll = bridge.store.listQueueItems.bind(bridge.store);
    await waitUntil('both events marked dead', async () => {
      const all = await listAll('webhook', 10);
      return all.length === 2 && all.every((i) => i.state === 'dead') ? true : undefined;
    });
    // A queue longer than any listing returns: here every listing stops after the newest item.
    bridge.store.listQueueItems = <T>(queue: string, limit: number): Promise<QueueItem<T>[]> => listAll<T>(queue, Math.min(limit, 1));
    const listed = await bridge.store.listQueueItems('webhook', 100_000);
    const unlisted = (await listAll('webhook', 10)).find((item) => item.id !== listed[0]?.id)!;

    healthy = true;
    const redeliver = await fetch(`${bridge.url}/api/webhooks/deliveries/${unlisted.id}/redeliver`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(redeliver.status).toBe(202);
    expect(await redeliver.json()).toMatchObject({ delivery: { id: unlisted.id, state: 'pending', attempts: 0 } });
    await waitUntil('the unlisted delivery delivered', async () => (await bridge.store.getQueueItem('webhook', unlisted.id))?.state === 'delivered');
    expect(hook.requests.filter((r) => r.headers['x-anonchat-delivery'] === unlisted.id)).toHaveLength(2);
  });

  it('survives a bridge restart: the queued event is delivered afterwards with the same delivery id and body', async () => {
    let up = false;
    const hook = await receiver(() => (up ? { status: 200 } : { status: 503 }));
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-webhooks-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_ATTEMPTS: '100' }, dataDir);
    await visitorMessage(first, 'across a restart');
    const [failed] = await hook.waitForRequests(1);
    await first.close();
    const attemptsBefore = hook.requests.length;
    // What the closed bridge left on disk: the event still pending, every finished attempt recorded (one the close
    // cut off is not an attempt, so the item may count one fewer than the receiver saw).
    const left = new LowdbStore({ dataDir, logger: silentLogger() });
    await left.open();
    const [pending] = await left.listQueueItems('webhook', 10);
    await left.close();
    expect(pending).toMatchObject({ id: failed!.headers['x-anonchat-delivery'], state: 'pending' });
    expect(pending!.log.every((entry) => entry.status === 503)).toBe(true);
    expect(pending!.attempts).toBeGreaterThanOrEqual(attemptsBefore - 1);
    up = true;

    const second = await bridgeFor([`${hook.url}/hook`], { WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_ATTEMPTS: '100' }, dataDir);
    const item = await waitUntil('the event delivered after the restart', async () => {
      const [found] = await second.store.listQueueItems('webhook', 10);
      return found?.state === 'delivered' ? found : undefined;
    });
    // Exactly one attempt between the close and the delivery: a stopped worker made none while the bridge was down.
    expect(item.attempts).toBe(pending!.attempts + 1);
    expect(hook.requests).toHaveLength(attemptsBefore + 1);
    const delivered = hook.requests[attemptsBefore]!;
    expect(delivered.headers['x-anonchat-delivery']).toBe(failed!.headers['x-anonchat-delivery']);
    expect(delivered.body.equals(failed!.body)).toBe(true);
    expect(envelopeOf(delivered).data.message.text).toBe('across a restart');
  });
});
