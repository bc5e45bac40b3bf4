/**
 * An agent's Retry of a WhatsApp reply while the reply's send is still under way, for both store engines
 * (whatsapp-retry.test.ts on lowdb, whatsapp-retry.postgres.test.ts on PostgreSQL): a real bridge, the loopback fake
 * Graph API, a real agent socket. The window each scenario needs is forced by holding a step (the worker's save of
 * a refused send, Meta's answer, a Retry's read of the send) until the test releases it, never by timing. Test support only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import type { QueueItem, Store } from '../store/store.ts';
import { connectAgent, emitWithAck, type AgentClient } from '../testing/clients.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { metaSignature } from './signatures.ts';
import { webhookConfigFromEnv, type WebhookConfig } from './webhook-config.ts';
import { GRAPH_SEND_REFUSED, graphSendOk, startPlannedGraphApi, type PlannedGraphApi, type ScriptedServer } from './test-servers.ts';
import { whatsappConversationId } from './whatsapp-inbound.ts';
import { inboundMessagesBody } from './whatsapp-test-bodies.ts';
import { sendIdOf, WHATSAPP_SEND_QUEUE, type WhatsappSendJob } from './whatsapp-delivery.ts';

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const ACCESS_TOKEN = 'EAAGretry-access-token';
const PHONE_NUMBER_ID = '106540352242922';


/** A running bridge on one engine. */
export interface RetryBridge {
  url: string;
  store: Store;
  agentToken: string;
  close(): Promise<void>;
}


/** An inbound text from `waId` in Meta's webhook shape. */
const inboundBody = (waId: string): Buffer =>
  inboundMessagesBody(waId, PHONE_NUMBER_ID, [{ id: `wamid.IN${waId}`, type: 'text', text: { body: 'Hello?' } }]);

/**
 * Holds each save a worker makes (with its owner) that would record a send of `conversationId` dead, until the test
 * releases it: the gap between deliver() marking the reply failed and the item being saved dead, held open.
 */
function holdDeadSaves(store: Store, conversationId: string) {
  const original = store.updateQueueItem.bind(store);
  const waiting: (() => void)[] = [];
  const saved: boolean[] = [];
  store.updateQueueItem = async <T>(item: QueueItem<T>, owner?: string): Promise<boolean> => {
    const job = item.payload as Partial<WhatsappSendJob>;
    if (owner === undefined || item.state !== 'dead' || job.conversationId !== conversationId) return original(item, owner);
    await new Promise<void>((resolve) => waiting.push(resolve));
    const result = await original(item, owner);
    saved.push(result);
    return result;
  };
  return {
    /** Releases of the saves held now, oldest first. */
    waiting,
    /** What each released save resolved (false: its claim had ended, nothing was written). */
    saved,
    restore() {
      store.updateQueueItem = original;
    },
  };
}

/**
 * Holds the first two reads of send `sendId` a Retry makes (the store's answer to its enqueue) until the test releases
 * them: two Retries that have both read the send before either saves. Later reads pass.
 */
function holdRetryReads(store: Store, sendId: string) {
  const original = store.enqueue.bind(store);
  const waiting: (() => void)[] = [];
  let held = 0;
  store.enqueue = async <T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> => {
    const item = await original(queue, payload, id);
    if (id === sendId && held++ < 2) await new Promise<void>((resolve) => waiting.push(resolve));
    return item;
  };
  return {
    /** Releases of the reads held now, oldest first. */
    waiting,
    restore() {
      store.enqueue = original;
    },
  };
}

/** The Retry scenarios on the bridge `start` makes. */
export function describeWhatsappRetry(engine: string, start: (webhooks: WebhookConfig) => Promise<RetryBridge>): void {
  describe(`Retry of a WhatsApp reply while its send is under way (${engine})`, () => {
    let graph: ScriptedServer;
    let bridge: RetryBridge;
    let socket: AgentClient;
    let plans: PlannedGraphApi['plans'];
    let sendsTo: PlannedGraphApi['sendsTo'];

    beforeAll(async () => {
      ({ server: graph, plans, sendsTo } = await startPlannedGraphApi());
      bridge = await start(
        webhookConfigFromEnv({
          WHATSAPP_APP_SECRET: APP_SECRET,
          WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
          WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
          WHATSAPP_API_BASE: `${graph.url}/v21.0`,
          WHATSAPP_RETRY_BASE_MS: '40',
          WHATSAPP_MAX_ATTEMPTS: '4',
          WEBHOOK_POLL_MS: '40',
        }),
      );
      socket = await connectAgent(bridge.url, bridge.agentToken);
    });

    afterAll(async () => {
      socket?.disconnect();
      await bridge?.close();
      await graph?.close();
    });

    async function conversationOf(waId: string): Promise<string> {
      const body = inboundBody(waId);
      const posted = await fetch(`${bridge.url}/webhooks/whatsapp`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, APP_SECRET) },
      });
      expect(posted.status).toBe(200);
      const id = whatsappConversationId(waId);
      await waitUntil(`the conversation of ${waId} stored`, () => bridge.store.getConversation(id));
      return id;
    }

    async function reply(conversationId: string, text: string): Promise<Message> {
      const ack = await emitWithAck(socket, 'message:send', { conversationId, clientId: `c-${Math.random().toString(36).slice(2)}`, text });
      if (!ack.ok) throw new Error(`send failed: ${ack.error.code}`);
      return ack.data;
    }

    async function retry(conversationId: string, messageId: string, from: AgentClient = socket): Promise<void> {
      expect(await emitWithAck(from, 'message:retry', { conversationId, messageId })).toMatchObject({ ok: true });
    }

    const sendOf = async (messageId: string) =>
      (await bridge.store.listQueueItems<WhatsappSendJob>(WHATSAPP_SEND_QUEUE, 1000)).find((item) => item.id === sendIdOf(messageId));

    it('a Retry pressed after Meta refused the reply but before its send was saved dead is not lost, also when the retried send is refused too: the reply ends sent, once', async () => {
      const waId = '15550002001';
      const conversationId = await conversationOf(waId);
      plans.set(waId, [() => GRAPH_SEND_REFUSED, () => GRAPH_SEND_REFUSED]);
      const hold = holdDeadSaves(bridge.store, conversationId);
      try {
        const message = await reply(conversationId, 'refused twice');
        // Twice: the send queued with the reply, then the send the first Retry made due again.
        for (const attempt of [1, 2]) {
          await waitUntil(`refused attempt ${attempt}: its dead save held`, () => hold.waiting.length === 1);
          expect(await bridge.store.getMessage(conversationId, message.id)).toMatchObject({ status: 'failed', failure: { code: '131047' } });
          expect((await sendOf(message.id))?.state).toBe('pending');
          await retry(conversationId, message.id);
          hold.waiting.shift()!();
          // The Retry ended the attempt's claim: its dead is not saved over the Retry, the worker sends again.
          await waitUntil(`refused attempt ${attempt}: its dead save answered`, () => hold.saved.length === attempt);
          expect(hold.saved[attempt - 1]).toBe(false);
        }
        const sent = await waitUntil('the send finished', async () => {
          const item = await sendOf(message.id);
          return item?.state !== 'pending' && item;
        });
        expect(sent.state).toBe('delivered');
        const stored = await bridge.store.getMessage(conversationId, message.id);
        expect(stored).toMatchObject({ status: 'sent', externalId: `wamid.${waId}.3` });
        expect(stored?.failure).toBeUndefined();
        // Two refusals and one accepted send: Meta got the reply exactly once.
        expect(sendsTo(waId)).toHaveLength(3);
      } finally {
        hold.restore();
      }
    });

    it('a second Retry while the first Retry’s send is on its way to Meta leaves that send alone: no second send', async () => {
      const waId = '15550002002';
      const conversationId = await conversationOf(waId);
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      plans.set(waId, [() => GRAPH_SEND_REFUSED, () => answered.then(() => ({ status: 200, body: graphSendOk(`wamid.${waId}.accepted`, waId) }))]);
      const message = await reply(conversationId, 'retried twice');
      await waitUntil('the refused send saved dead', async () => (await sendOf(message.id))?.state === 'dead');

      await retry(conversationId, message.id);
      // Meta holds its answer to the retried send: the attempt is under way while the agent presses Retry again.
      await waitUntil('the retried send at Meta', () => sendsTo(waId).length === 2);
      await retry(conversationId, message.id);
      // Still the attempt's claim: no worker, on any node, may start a second send of it meanwhile.
      const due = await bridge.store.dueItems<WhatsappSendJob>(WHATSAPP_SEND_QUEUE, new Date().toISOString(), 1000);
      expect(due.map((item) => item.id)).not.toContain(sendIdOf(message.id));
      answer();

      await waitUntil('the retried send delivered', async () => (await sendOf(message.id))?.state === 'delivered');
      expect(await bridge.store.getMessage(conversationId, message.id)).toMatchObject({ status: 'sent', externalId: `wamid.${waId}.accepted` });
      expect(sendsTo(waId)).toHaveLength(2);
    });

    it('two Retries that read the refused send at the same moment reset it once: the worker that claimed the reset keeps its claim, Meta gets the reply once', async () => {
      const waId = '15550002003';
      const conversationId = await conversationOf(waId);
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      plans.set(waId, [() => GRAPH_SEND_REFUSED, () => answered.then(() => ({ status: 200, body: graphSendOk(`wamid.${waId}.accepted`, waId) }))]);
      const message = await reply(conversationId, 'retried on two consoles');
      await waitUntil('the refused send saved dead', async () => (await sendOf(message.id))?.state === 'dead');

      // A second console (on another node in a cluster): both agents press Retry and both read the dead send.
      const second = await connectAgent(bridge.url, bridge.agentToken);
      const hold = holdRetryReads(bridge.store, sendIdOf(message.id));
      try {
        const retries = [retry(conversationId, message.id), retry(conversationId, message.id, second)];
        await waitUntil('both Retries read the dead send', () => hold.waiting.length === 2);
        hold.waiting.shift()!();
        // The first Retry's reset is claimed by the worker, whose send waits at Meta for its answer.
        await waitUntil('the retried send at Meta', () => sendsTo(waId).length === 2);
        hold.waiting.shift()!();
        await Promise.all(retries);
        // The second Retry's reset came from a stale read: the send is still the claim of the attempt at Meta, so a
        // worker polling on another node finds nothing to send.
        const lease = { owner: 'another-node', until: new Date(Date.now() + 60_000).toISOString() };
        const claimed = await bridge.store.claimDueItems<WhatsappSendJob>(WHATSAPP_SEND_QUEUE, new Date().toISOString(), 1000, lease);
        expect(claimed.map((item) => item.id)).not.toContain(sendIdOf(message.id));
      } finally {
        hold.restore();
        second.disconnect();
        answer();
      }

      // The attempt's own save counts (its claim never ended): delivered after one accepted send.
      const sent = await waitUntil('the retried send finished', async () => {
        const item = await sendOf(message.id);
        return item?.state !== 'pending' && item;
      });
      expect(sent).toMatchObject({ state: 'delivered', attempts: 1 });
      expect(await bridge.store.getMessage(conversationId, message.id)).toMatchObject({ status: 'sent', externalId: `wamid.${waId}.accepted` });
      // One refusal, one accepted send: the reply is on the customer's phone once.
      expect(sendsTo(waId)).toHaveLength(2);
    });
  });
}
