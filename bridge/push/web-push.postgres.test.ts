/**
 * Web Push on two nodes of one PostgreSQL store: subscriptions made on either node are the cluster's, an agent's
 * visible console tab on node B keeps the pushes of a visitor on node A away from them, each push reaches the loopback
 * push service once although both nodes' workers run, and a push refused while node A ran is sent by node B once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushSettings } from '../config.ts';
import { generateVapidKeys } from '../auth/vapid-keys.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { startPostgresNodes, type PostgresNodes } from '../testing/postgres-nodes.ts';
import { startTestPushService, type TestPushService } from '../testing/test-push-service.ts';
import { connectAgent, connectVisitor, emitWithAck, type AgentClient, type ConnectedVisitor } from '../testing/clients.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { requeueItem } from '../webhooks/queue-worker.ts';
import { PUSH_EVENT_QUEUE, PUSH_QUEUE, pushEventIdOf, type PushNotification } from './web-push.ts';
import { subscriptionNamespaceOf } from './push-subscriptions.ts';

const vapid = generateVapidKeys();
const push: PushSettings = { ...vapid, subject: 'https://chat.example' };
let service: TestPushService;
let nodes: PostgresNodes;
const tokens: Record<'tess' | 'bea', string> = { tess: '', bea: '' };
const ids: Record<'tess' | 'bea', string> = { tess: '', bea: '' };
const sockets: (AgentClient | ConnectedVisitor)[] = [];

function pushesTo(name: string): PushNotification[] {
  return service.received.filter((received) => received.name === name).map((received) => received.payload as PushNotification);
}

async function subscribe(node: number, who: 'tess' | 'bea'): Promise<void> {
  const res = await fetch(`${nodes.urls[node]}/api/push/subscriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
    body: JSON.stringify(service.subscription(who)),
  });
  expect(res.status).toBe(201);
}

async function visitorSays(node: number, clientId: string, text: string): Promise<ConnectedVisitor> {
  const visitor = await connectVisitor(nodes.urls[node]!);
  sockets.push(visitor);
  expect(await emitWithAck(visitor, 'message:send', { clientId, text })).toMatchObject({ ok: true });
  return visitor;
}

const idle = () => Promise.all(nodes.bridges.map((bridge) => bridge.push!.idle()));

beforeAll(async () => {
  service = await startTestPushService(vapid.publicKey);
  nodes = await startPostgresNodes({
    database: 'web_push',
    agents: [
      { name: 'tess', displayName: 'Tess', role: 'admin', password: 'tess-password-1' },
      { name: 'bea', displayName: 'Bea', role: 'agent', password: 'bea-password-1' },
    ],
    configure: (config) => ({ ...config, push, webhooks: { ...config.webhooks, events: { ...config.webhooks.events, allowPrivate: true } } }),
  });
  const store = nodes.stores[0]!;
  for (const who of ['tess', 'bea'] as const) {
    const agent = (await store.getAgentByName(who))!;
    ids[who] = agent.id;
    tokens[who] = (await startAgentSession(store, nodes.bridges[0]!.context.config.secrets.agentToken, agent, new Date())).token;
  }
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await nodes?.close();
  await service?.close();
});

describe('Web Push across nodes (PostgreSQL)', () => {
  it('reads visibility from every node and pushes each event once; a push refused on node A is sent once by node B', async () => {
    await subscribe(0, 'tess');
    await subscribe(1, 'bea');
    expect(await nodes.stores[1]!.listRecords(subscriptionNamespaceOf(ids.tess), 10)).toHaveLength(1);
    const tessConsole = await connectAgent(nodes.urls[1]!, tokens.tess);
    const beaConsole = await connectAgent(nodes.urls[0]!, tokens.bea);
    sockets.push(tessConsole, beaConsole);
    expect(await emitWithAck(tessConsole, 'console:visibility', { visible: true })).toMatchObject({ ok: true });
    expect(await emitWithAck(beaConsole, 'console:visibility', { visible: false })).toMatchObject({ ok: true });

    // Tess's only tab (on node B) is visible: the visitor on node A notifies Bea alone.
    await visitorSays(0, 'a1', 'First question');
    await waitUntil('the push to Bea', () => pushesTo('bea').length === 1);
    await idle();
    expect(pushesTo('tess')).toEqual([]);
    expect(pushesTo('bea')[0]).toMatchObject({ title: expect.stringMatching(/^New conversation: /) as string, body: 'First question' });

    // Tess hides her tab; the next push to Bea is refused by the push service while node A sends it.
    expect(await emitWithAck(tessConsole, 'console:visibility', { visible: false })).toMatchObject({ ok: true });
    service.answerNext('bea', 503);
    await visitorSays(0, 'b1', 'Second question');
    await waitUntil('the push to Tess and the refused one to Bea', () =>
      pushesTo('tess').length === 1 && service.requests.some((request) => request.name === 'bea' && request.status === 503),
    );
    await idle();
    await nodes.bridges[0]!.close();

    // Node B takes the pending push once it is due (made due now rather than after the backoff).
    const store = nodes.stores[1]!;
    const pending = (await store.listQueueItems(PUSH_QUEUE, 100)).filter((item) => item.state === 'pending');
    expect(pending).toHaveLength(1);
    await requeueItem(store, PUSH_QUEUE, pending[0]!.id, new Date());
    nodes.bridges[1]!.push!.worker.kick();
    await waitUntil('the retried push to Bea from node B', () => pushesTo('bea').length === 2);
    await nodes.bridges[1]!.push!.idle();
    expect(pushesTo('bea').map((notification) => notification.body)).toEqual(['First question', 'Second question']);
    expect(pushesTo('tess').map((notification) => notification.body)).toEqual(['Second question']);
    const items = await store.listQueueItems(PUSH_QUEUE, 100);
    expect(items.map((item) => item.state)).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('a message stored by a node that dies before working out its pushes is pushed once by the other node', async () => {
    // Node A's store with only the push work a bridge registers: its transaction stores the message, and the node
    // does nothing after it (no fan-out sink, no push worker), as if killed right after the commit.
    const storeA = nodes.stores[0]!;
    const remove = storeA.addOutboundWork(nodes.bridges[1]!.push!.outbound());
    await storeA.createConversation({ id: 'crashed-node', channel: 'web', name: 'Visitor after a crash' });
    const { message } = await storeA.appendMessage({ conversationId: 'crashed-node', clientId: 'k1', author: { role: 'visitor' }, text: 'Lost?' });
    remove();
    // Committed with the message, in the same transaction.
    const queued = (await storeA.listQueueItems(PUSH_EVENT_QUEUE, 100)).find((item) => item.id === pushEventIdOf('crashed-node', message.id));
    expect(queued).toBeDefined();

    // Node B's event worker finds it (a poll pass, run now rather than at the next tick), works out who is pushed
    // (nobody's tab is visible now) and sends.
    nodes.bridges[1]!.push!.events.kick();
    await waitUntil('the pushes of the crashed node\'s message from node B', () =>
      pushesTo('tess').some((n) => n.body === 'Lost?') && pushesTo('bea').some((n) => n.body === 'Lost?'),
    );
    nodes.bridges[1]!.push!.events.kick();
    nodes.bridges[1]!.push!.worker.kick();
    await nodes.bridges[1]!.push!.idle();
    expect(pushesTo('tess').filter((n) => n.body === 'Lost?')).toHaveLength(1);
    expect(pushesTo('bea').filter((n) => n.body === 'Lost?')).toHaveLength(1);
    expect((await storeA.listQueueItems(PUSH_EVENT_QUEUE, 100)).find((item) => item.id === queued!.id)?.state).toBe('delivered');
  });
});
