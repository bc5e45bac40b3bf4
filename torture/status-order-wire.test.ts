/**
 * Case 6 over the wire: statuses for agent messages arrive through the signed status webhook in every order, with
 * duplicates and replays, many at once. Every client (the visitor and an agent) sees each message's status only
 * move up, each step once, ending at the highest rank the store holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig } from '../bridge/config.ts';
import { connectAgent, connectVisitor, type AgentClient, type ConnectedVisitor } from '../bridge/testing/clients.ts';
import { startTestBridge, type TestBridge } from '../bridge/testing/test-bridge.ts';
import { waitUntil } from '../bridge/testing/wait-until.ts';
import { timestampedSignature } from '../bridge/webhooks/signatures.ts';
import type { StatusChange } from '../protocol/message.ts';
import { STATUS_RANK, type StoredStatus } from '../protocol/status.ts';

const SECRET = 'torture-status-webhook-secret-0123';
const STATUSES: StoredStatus[] = ['sent', 'delivered', 'read', 'failed'];

describe('status ordering over the wire', () => {
  let bridge: TestBridge;
  let visitor: ConnectedVisitor;
  let agent: AgentClient;
  beforeAll(async () => {
    const webhooks = loadConfig(
      { DATA_DIR: '/nonexistent', VISITOR_TOKEN_SECRET: 'x'.repeat(32), AGENT_TOKEN_SECRET: 'y'.repeat(32), SITE_SECRET: 'z'.repeat(32), STATUS_WEBHOOK_SECRET: SECRET },
      { persistSecrets: false },
    ).webhooks;
    bridge = await startTestBridge({ config: { webhooks } });
    visitor = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
    agent = await connectAgent(bridge.url, bridge.agent.token);
  });
  afterAll(async () => {
    visitor?.close();
    agent?.close();
    await bridge?.close();
  });

  it('shuffled, duplicated and replayed statuses, sent concurrently: pushed statuses never regress or repeat, final = highest rank', async () => {
    const conversationId = visitor.session.conversationId;
    await visitor.timeout(5000).emitWithAck('message:send', { clientId: 'v-open', text: 'hello' });
    const seen = { visitor: [] as StatusChange[], agent: [] as StatusChange[] };
    visitor.on('message:status', (c) => seen.visitor.push(c));
    agent.on('message:status', (c) => seen.agent.push(c));
    const sequences = fc.sample(fc.array(fc.constantFrom(...STATUSES), { minLength: 1, maxLength: 10 }), { numRuns: 30, seed: 7 });
    const messages: { id: string; sequence: StoredStatus[] }[] = [];
    for (const [i, sequence] of sequences.entries()) {
      const ack = await agent.timeout(5000).emitWithAck('message:send', { conversationId, clientId: `agent-${i}`, text: `status target ${i}` });
      if (!ack.ok) throw new Error(ack.error.code);
      // A replay of the whole sequence at the end, as a provider resending its webhooks would.
      messages.push({ id: ack.data.id, sequence: [...sequence, ...sequence] });
    }
    let delivery = 0;
    const post = async (messageId: string, status: StoredStatus): Promise<number> => {
      const body = JSON.stringify({
        conversationId,
        messageId,
        status,
        timestamp: new Date().toISOString(),
        ...(status === 'failed' ? { error: { code: '131047', reason: 'window closed' } } : {}),
      });
      const res = await fetch(`${bridge.url}/webhooks/status`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-anonchat-signature': timestampedSignature(SECRET, Math.floor(Date.now() / 1000), body),
          'x-anonchat-delivery': `torture-${++delivery}`,
        },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    };
    // Every message's sequence in order, all messages at once (races between messages and within one).
    const statuses = await Promise.all(messages.map(async (m) => Promise.all(m.sequence.map((s) => post(m.id, s)))));
    expect(statuses.flat().every((s) => s === 200)).toBe(true);
    const finalStatus = (m: (typeof messages)[number]): StoredStatus =>
      m.sequence.reduce<StoredStatus>((a, b) => (STATUS_RANK[b] > STATUS_RANK[a] ? b : a), 'sent');
    // The pushes follow the stores: wait until both sides were told each message's final status (a message whose
    // sequence never rises above 'sent' has nothing to push).
    await waitUntil('every final status pushed to the visitor and the agent', () =>
      messages.every((m) =>
        (['visitor', 'agent'] as const).every((who) => (seen[who].filter((c) => c.messageId === m.id).at(-1)?.status ?? 'sent') === finalStatus(m)),
      ),
    );

    for (const m of messages) {
      const expected = m.sequence.reduce<StoredStatus>((a, b) => (STATUS_RANK[b] > STATUS_RANK[a] ? b : a), 'sent');
      const stored = await bridge.store.getMessage(conversationId, m.id);
      expect(stored?.status).toBe(expected);
      for (const who of ['visitor', 'agent'] as const) {
        const pushed = seen[who].filter((c) => c.messageId === m.id);
        for (let k = 1; k < pushed.length; k++) {
          expect(STATUS_RANK[pushed[k]!.status], `${who} ${m.id}: ${pushed.map((p) => p.status).join('→')}`).toBeGreaterThan(STATUS_RANK[pushed[k - 1]!.status]);
          expect(pushed[k]!.rev).toBeGreaterThan(pushed[k - 1]!.rev);
        }
        expect(pushed.at(-1)?.status ?? 'sent', `${who} ${m.id}`).toBe(expected);
      }
    }
  });
});
