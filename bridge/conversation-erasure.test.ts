import { describe, expect, it } from 'vitest';
import type { ConversationExport } from '../protocol/events.ts';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { collect, connectAgent, connectVisitor, emitWithAck, nextEvent, type ConnectedVisitor } from './testing/index.ts';
import { eventIdOf } from './webhooks/event-webhooks.ts';
import { sendIdOf } from './webhooks/whatsapp-delivery.ts';
import { PENDING_STATUS_NAMESPACE } from './webhooks/external-statuses.ts';
import { filesHolding } from './testing/store-files.ts';

const API_KEY = 'integration-key-0123456789abcdef';
const shared = useTestBridge({ config: { apiKey: API_KEY } });
const { track } = shared;

async function api(method: string, path: string, token: string | null = shared.bridge.agent.token) {
  const headers = new Headers();
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  const res = await fetch(shared.bridge.url + path, { method, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** A visitor with `texts` sent, each unique to this test run. */
async function visitorWith(texts: string[]): Promise<ConnectedVisitor> {
  const visitor = track(await connectVisitor(shared.bridge.url));
  for (const [i, text] of texts.entries()) {
    const ack = await emitWithAck(visitor, 'message:send', { clientId: `m${i}`, text });
    if (!ack.ok) throw new Error(ack.error.message);
  }
  return visitor;
}

describe('GET /api/conversations/:id/export', () => {
  it('returns the conversation and every message with statuses and an empty attachment list, to agents only', async () => {
    const visitor = await visitorWith(['export one', 'export two']);
    const id = visitor.session.conversationId;
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const reply = await emitWithAck(agent, 'message:send', { conversationId: id, clientId: 'a1', text: 'export reply' });
    expect(reply.ok).toBe(true);
    await emitWithAck(agent, 'receipt', { conversationId: id, upToSeq: 2, status: 'read' });

    const res = await api('GET', `/api/conversations/${id}/export`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="conversation-${id}.json"`);
    const doc = res.body as ConversationExport;
    expect(doc).toMatchObject({ format: 'anon-chat.conversation-export.v1', conversation: { id, lastSeq: 3 } });
    expect(doc.messages.map((m) => [m.seq, m.author.role, m.text, m.status, m.attachments])).toEqual([
      [1, 'visitor', 'export one', 'read', []],
      [2, 'visitor', 'export two', 'read', []],
      [3, 'agent', 'export reply', 'sent', []],
    ]);
    expect(doc.messages[0]?.statusAt).toMatchObject({ sent: expect.any(String), delivered: expect.any(String), read: expect.any(String) });

    expect((await api('GET', `/api/conversations/${id}/export`, API_KEY)).status).toBe(200);
    expect((await api('GET', `/api/conversations/${id}/export`, null)).status).toBe(401);
    expect((await api('GET', `/api/conversations/${id}/export`, 'not-a-token')).status).toBe(401);
    expect((await api('GET', '/api/conversations/AAAAAAAAAAAAAAAAAAAAAA/export')).status).toBe(404);
  });
});

describe('DELETE /api/conversations/:id', () => {
  it('erases durably: the text is in no file under DATA_DIR, agents see it leave, the visitor starts fresh', async () => {
    const { store, dataDir } = shared.bridge;
    const secret = `erase-me-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const visitor = await visitorWith([`${secret} first`]);
    const id = visitor.session.conversationId;
    // The text in several journal generations and in checkpointed segment and bucket files.
    await store.checkpoint();
    const second = await emitWithAck(visitor, 'message:send', { clientId: 'm-second', text: `${secret} second` });
    if (!second.ok) throw new Error('second send failed');
    await store.checkpoint();
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const reply = await emitWithAck(agent, 'message:send', { conversationId: id, clientId: 'r1', text: `${secret} reply` });
    if (!reply.ok) throw new Error('reply failed');
    // Data that lives elsewhere: a webhook delivery and a WhatsApp send carrying the text, a pending status.
    await store.setExternalId(id, reply.data.id, 'wamid.erase-test');
    await store.putRecord(PENDING_STATUS_NAMESPACE, 'wamid.erase-test', { status: 'read' });
    await store.enqueue('webhook', { body: `${secret} in a webhook body` }, `${eventIdOf('message.created', second.data)}:feedc0de`);
    const sent = await store.enqueue('whatsapp-send', { text: `${secret} reply` }, sendIdOf(reply.data.id));
    await store.updateQueueItem({ ...sent, state: 'dead' });
    expect((await filesHolding(dataDir, secret)).length).toBeGreaterThan(0);

    const watcher = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const agentHeard = nextEvent(watcher, 'conversation:erased', 10_000, (e) => e.conversationId === id);
    const visitorHeard = nextEvent(visitor, 'conversation:erased', 10_000);
    const visitorDropped = nextEvent(visitor, 'disconnect', 10_000);

    const res = await api('DELETE', `/api/conversations/${id}`);
    expect(res.status).toBe(204);
    // Answered only when durable and rewritten: nothing to wait for.
    expect(await filesHolding(dataDir, secret)).toEqual([]);
    expect(await filesHolding(dataDir, reply.data.id)).toEqual([]);
    expect(await store.getConversation(id)).toBeUndefined();
    expect(await store.listQueueItems('webhook', 1000)).not.toContainEqual(expect.objectContaining({ payload: expect.anything(), id: expect.stringContaining(second.data.id) }));
    expect(await store.listQueueItems('whatsapp-send', 1000)).toEqual([]);
    expect(await store.getRecord(PENDING_STATUS_NAMESPACE, 'wamid.erase-test')).toBeUndefined();

    expect(await agentHeard).toEqual({ conversationId: id });
    expect(await visitorHeard).toEqual({ conversationId: id });
    expect(await visitorDropped).toBe('io server disconnect');
    const list = await emitWithAck(watcher, 'conversations:list', { filter: 'all' });
    expect(list.ok && list.data.conversations.map((c) => c.id)).not.toContain(id);

    // The old token reaches nothing: a new visitor with a new conversation, which stays empty.
    const again = track(await connectVisitor(shared.bridge.url, { token: visitor.session.token }));
    expect(again.session.conversationId).not.toBe(id);
    expect(again.session.visitorId).not.toBe(visitor.session.visitorId);
    const history = await emitWithAck(again, 'history', {});
    expect(history).toEqual({ ok: true, data: { messages: [], hasMore: false } });

    expect((await api('DELETE', `/api/conversations/${id}`)).status).toBe(404);
    expect(await filesHolding(dataDir, secret)).toEqual([]);
  });

  it('needs agent authentication; the API key may erase too', async () => {
    const visitor = await visitorWith(['erase by key']);
    const id = visitor.session.conversationId;
    expect((await api('DELETE', `/api/conversations/${id}`, null)).status).toBe(401);
    expect((await api('DELETE', `/api/conversations/${id}`, 'wrong')).status).toBe(401);
    expect(await shared.bridge.store.getConversation(id)).toBeDefined();
    expect((await api('DELETE', `/api/conversations/${id}`, API_KEY)).status).toBe(204);
    expect(await shared.bridge.store.getConversation(id)).toBeUndefined();
  });

  it('a message racing the erasure from the still-connected widget cannot bring the conversation back', async () => {
    const visitor = await visitorWith(['racing']);
    const id = visitor.session.conversationId;
    const { store } = shared.bridge;
    // The erasure at store level only (no disconnect yet), as when a send lands between the two.
    await store.putRecord('erased-conversation', id, { at: new Date().toISOString() });
    await store.eraseConversation(id);
    const late = await emitWithAck(visitor, 'message:send', { clientId: 'late', text: 'after the erasure' });
    expect(late).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await store.getConversation(id)).toBeUndefined();
  });
});

describe('conversation:erase (visitor socket)', () => {
  it('erases the visitor’s own conversation, acks, tells agents, and the next connection is a new visitor', async () => {
    const { dataDir, store } = shared.bridge;
    const secret = `visitor-erase-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const visitor = await visitorWith([secret]);
    const other = await visitorWith(['someone else stays']);
    const id = visitor.session.conversationId;
    const watcher = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const erasedEvents = collect(watcher, 'conversation:erased');
    const agentHeard = nextEvent(watcher, 'conversation:erased', 10_000);
    const otherHeard = collect(other, 'conversation:erased');

    const ack = await emitWithAck(visitor, 'conversation:erase', {}, 20_000);
    expect(ack).toEqual({ ok: true, data: { erased: true } });
    expect(await filesHolding(dataDir, secret)).toEqual([]);
    expect(await agentHeard).toEqual({ conversationId: id });
    expect(erasedEvents).toEqual([{ conversationId: id }]);
    expect(otherHeard).toEqual([]);
    expect(await store.getConversation(other.session.conversationId)).toBeDefined();

    const again = track(await connectVisitor(shared.bridge.url, { token: visitor.session.token }));
    expect(again.session.conversationId).not.toBe(id);
  });
});
