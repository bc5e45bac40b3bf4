/**
 * `POST /api/webhooks/deliveries/:id/redeliver` of a dead WhatsApp send, raced on two nodes of one PostgreSQL
 * database: the customer's phone does not dedupe, so the send goes to the loopback Graph API exactly once more, one
 * request is answered 202 and every other one 409 `conflict`, also when a redeliver that read the dead send lands
 * while the worker is already sending it. The redelivers' reads of the send and Meta's answer to the redelivered send
 * are held until the test releases them, so each window is forced, not hoped for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../protocol/agents.ts';
import type { QueueItem } from '../store/store.ts';
import { connectAgent, emitWithAck, type AgentClient } from '../testing/clients.ts';
import { startPostgresNodes, type PostgresNodes } from '../testing/postgres-nodes.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { metaSignature } from './signatures.ts';
import { GRAPH_SEND_REFUSED, graphSendOk, startPlannedGraphApi, type PlannedGraphApi, type ScriptedServer } from './test-servers.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { sendIdOf, WHATSAPP_SEND_QUEUE, type WhatsappSendJob } from './whatsapp-delivery.ts';
import { whatsappConversationId } from './whatsapp-inbound.ts';

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const PHONE_NUMBER_ID = '106540352242922';
const AGENT = { name: 'ana', displayName: 'Ana', role: 'agent', password: 'ana-password-12' } as const;

let graph: ScriptedServer;
let nodes: PostgresNodes;
let agentToken: string;
let socket: AgentClient;
let plans: PlannedGraphApi['plans'];
let sendsTo: PlannedGraphApi['sendsTo'];

beforeAll(async () => {
  ({ server: graph, plans, sendsTo } = await startPlannedGraphApi());
  const webhooks = webhookConfigFromEnv({
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_ACCESS_TOKEN: 'EAAGredeliver-access-token',
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_API_BASE: `${graph.url}/v21.0`,
  });
  nodes = await startPostgresNodes({ database: 'redeliver_race', agents: [AGENT], configure: (config) => ({ ...config, webhooks }) });
  const login = await fetch(`${nodes.urls[0]}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: AGENT.name, password: AGENT.password }),
  });
  expect(login.status).toBe(200);
  agentToken = ((await login.json()) as LoginResult).token;
  socket = await connectAgent(nodes.urls[0]!, agentToken);
});

afterAll(async () => {
  socket?.disconnect();
  await nodes?.close();
  await graph?.close();
});

/** The send as the database holds it now (read behind the nodes' backs). */
async function sendOf(id: string): Promise<QueueItem<WhatsappSendJob> | undefined> {
  const { rows } = await nodes.admin.query<{ doc: QueueItem<WhatsappSendJob> }>('SELECT doc FROM queue_items WHERE id = $1', [id]);
  return rows[0]?.doc;
}

/** An agent's reply to a new WhatsApp conversation with `waId` whose send Meta refused: the send's id, once it is dead. */
async function deadSend(waId: string): Promise<string> {
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_NUMBER_ID },
    contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: waId }],
    messages: [{ from: waId, id: `wamid.IN${waId}`, timestamp: '1749416383', type: 'text', text: { body: 'Hello?' } }],
  };
  const body = Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [{ field: 'messages', value }] }] }));
  const posted = await fetch(`${nodes.urls[0]}/webhooks/whatsapp`, {
    method: 'POST',
    body: new Uint8Array(body),
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, APP_SECRET) },
  });
  expect(posted.status).toBe(200);
  const conversationId = whatsappConversationId(waId);
  await waitUntil(`the conversation of ${waId} stored`, () => nodes.stores[0]!.getConversation(conversationId));
  plans.set(waId, [() => GRAPH_SEND_REFUSED]);
  const ack = await emitWithAck(socket, 'message:send', { conversationId, clientId: `c-${waId}`, text: 'Sorry for the wait' });
  if (!ack.ok) throw new Error(`reply refused: ${ack.error.code}`);
  const id = sendIdOf(ack.data.id);
  await waitUntil(`send ${id} saved dead after Meta refused it`, async () => (await sendOf(id))?.state === 'dead');
  expect(sendsTo(waId)).toHaveLength(1);
  return id;
}

/** Meta's next answer to a send to `waId` waits until `answer()`: the redelivered send held at Meta. */
function holdMetaAnswer(waId: string): { answer: () => void } {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  plans.set(waId, [() => answered.then(() => ({ status: 200, body: graphSendOk(`wamid.${waId}.again`, waId) }))]);
  return { answer };
}

/**
 * Holds the first `perNode` reads of a WhatsApp send on each node (a redeliver's read of the send it requeues) until
 * the test releases them: that many requests per node have read the send before any saves. Later reads pass.
 */
function holdSendReads(perNode: number): { held: (() => void)[][]; restore(): void } {
  const held = nodes.stores.map((): (() => void)[] => []);
  const originals = nodes.stores.map((store, node) => {
    const original = store.getQueueItem.bind(store);
    let holding = perNode;
    store.getQueueItem = async <T>(queue: string, id: string): Promise<QueueItem<T> | undefined> => {
      const item = await original<T>(queue, id);
      if (queue === WHATSAPP_SEND_QUEUE && holding > 0) {
        holding--;
        await new Promise<void>((resolve) => held[node]!.push(resolve));
      }
      return item;
    };
    return original;
  });
  return {
    held,
    restore() {
      nodes.stores.forEach((store, node) => (store.getQueueItem = originals[node]!));
      for (const release of held.flat()) release();
    },
  };
}

/** One redeliver request on node `node`: its HTTP status and error code. */
async function redeliver(node: number, id: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${nodes.urls[node]}/api/webhooks/deliveries/${id}/redeliver`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentToken}` },
  });
  const body = (await res.json()) as { error?: { code: string } };
  return body.error ? { status: res.status, code: body.error.code } : { status: res.status };
}

/**
 * After the one accepted redeliver, with its send held at Meta: no worker on any node may claim the send again, then
 * Meta answers and the send ends delivered after one attempt — the second send to the customer, and the last.
 */
async function expectOneMoreSend(id: string, waId: string, meta: { answer: () => void }): Promise<void> {
  await waitUntil(`the redelivered send ${id} at Meta`, () => sendsTo(waId).length === 2);
  const lease = { owner: 'another-node', until: new Date(Date.now() + 60_000).toISOString() };
  const claimed = await nodes.stores[1]!.claimDueItems(WHATSAPP_SEND_QUEUE, new Date().toISOString(), 1000, lease);
  expect(claimed.map((item) => item.id)).not.toContain(id);
  meta.answer();
  const sent = await waitUntil(`the redelivered send ${id} finished`, async () => {
    const item = await sendOf(id);
    return item?.state !== 'pending' && item;
  });
  expect(sent).toMatchObject({ state: 'delivered', attempts: 1 });
  expect(sent.log.map((entry) => entry.status)).toEqual([400, 200]);
  expect(sendsTo(waId)).toHaveLength(2);
}

describe('redeliver of a dead WhatsApp send, raced on two nodes of one PostgreSQL store', () => {
  it('many redelivers at once on both nodes: one 202, every other one 409 conflict, and Meta gets the reply exactly once more', async () => {
    const waId = '15550003001';
    const id = await deadSend(waId);
    const meta = holdMetaAnswer(waId);
    const reads = holdSendReads(8);
    let answers: Awaited<ReturnType<typeof redeliver>>[];
    try {
      const requests = Array.from({ length: 16 }, (_, n) => redeliver(n % 2, id));
      await waitUntil('all 16 redelivers holding the dead send they read', () => reads.held.every((node) => node.length === 8));
      for (const node of reads.held) for (const release of node) release();
      answers = await Promise.all(requests);
    } finally {
      reads.restore();
    }
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status !== 202)).toEqual(Array.from({ length: 15 }, () => ({ status: 409, code: 'conflict' })));
    await expectOneMoreSend(id, waId, meta);
    // A delivered send is never sent again on request.
    expect(await redeliver(1, id)).toEqual({ status: 409, code: 'conflict' });
  });

  it('a redeliver that read the dead send before another redeliver’s send went out to Meta answers 409 and leaves that send’s claim alone', async () => {
    const waId = '15550003002';
    const id = await deadSend(waId);
    const meta = holdMetaAnswer(waId);
    const reads = holdSendReads(1);
    try {
      const first = redeliver(0, id);
      const second = redeliver(1, id);
      await waitUntil('both redelivers holding the dead send they read', () => reads.held.every((node) => node.length === 1));
      reads.held[0]![0]!();
      expect(await first).toEqual({ status: 202 });
      // The worker (on either node) has claimed the reset send and is sending it when the stale read is saved over.
      await waitUntil(`the redelivered send ${id} at Meta`, () => sendsTo(waId).length === 2);
      reads.held[1]![0]!();
      expect(await second).toEqual({ status: 409, code: 'conflict' });
    } finally {
      reads.restore();
    }
    await expectOneMoreSend(id, waId, meta);
  });
});
