import { describe, expect, it } from 'vitest';
import { useTestBridge } from '../testing/use-test-bridge.ts';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import {
  collect,
  connectAgent,
  connectVisitor,
  emitRaw,
  emitWithAck,
  nextEvent,
  type ConnectedVisitor,
  WAIT_DEADLINE_MS,
} from '../testing/index.ts';

const API_KEY = 'integration-key-0123456789abcdef';
const shared = useTestBridge({ config: { apiKey: API_KEY } });
const { track } = shared;
const MISSING = 'AAAAAAAAAAAAAAAAAAAAAA';

async function visitorConversation(): Promise<ConnectedVisitor> {
  const visitor = track(await connectVisitor(shared.bridge.url));
  const ack = await emitWithAck(visitor, 'message:send', { clientId: 'first', text: 'Hello?' });
  if (!ack.ok) throw new Error(ack.error.message);
  return visitor;
}

async function post(path: string, init: { token?: string | null; body?: string; type?: string } = {}) {
  const headers = new Headers();
  if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? shared.bridge.agent.token}`);
  if (init.type) headers.set('Content-Type', init.type);
  const res = await fetch(shared.bridge.url + path, { method: 'POST', headers, body: init.body });
  return { status: res.status, json: (await res.json()) as { conversation?: ConversationSummary; error?: { code: string } } };
}

async function openIds(): Promise<string[]> {
  const list = await emitWithAck(track(await connectAgent(shared.bridge.url, shared.bridge.agent.token)), 'conversations:list', { filter: 'open' });
  if (!list.ok) throw new Error(list.error.message);
  return list.data.conversations.map((c) => c.id);
}

describe('conversation:state (agent socket)', () => {
  it('closes and reopens, acks the summary, tells every agent once per change and keeps it on disk', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    const actor = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const watcher = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const seen = collect(watcher, 'conversation:updated');

    const closed = await emitWithAck(actor, 'conversation:state', { conversationId: id, state: 'closed' });
    expect(closed).toMatchObject({ ok: true, data: { id, state: 'closed', visitorOnline: true, lastSeq: 1 } });
    expect((await shared.bridge.store.getConversation(id))?.state).toBe('closed');
    expect(await openIds()).not.toContain(id);
    // Closing again changes nothing and announces nothing.
    expect(await emitWithAck(actor, 'conversation:state', { conversationId: id, state: 'closed' })).toMatchObject({
      ok: true,
      data: { state: 'closed' },
    });

    const reopenedHeard = nextEvent(watcher, 'conversation:updated', WAIT_DEADLINE_MS, (c) => c.id === id && c.state === 'open');
    const reopened = await emitWithAck(actor, 'conversation:state', { conversationId: id, state: 'open' });
    expect(reopened).toMatchObject({ ok: true, data: { id, state: 'open' } });
    await reopenedHeard;
    expect(seen.filter((c) => c.id === id).map((c) => c.state)).toEqual(['closed', 'open']);
    expect(await openIds()).toContain(id);
  });

  it('is reopened by the next visitor message after an agent closed it', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    await emitWithAck(agent, 'conversation:state', { conversationId: id, state: 'closed' });
    const heard = nextEvent(agent, 'conversation:updated', WAIT_DEADLINE_MS, (c) => c.id === id && c.state === 'open');
    await emitWithAck(visitor, 'message:send', { clientId: 'again', text: 'Still there?' });
    expect(await heard).toMatchObject({ lastSeq: 2, state: 'open' });
  });

  it('answers unknown conversations with not_found and bad payloads with bad_request', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    expect(await emitWithAck(agent, 'conversation:state', { conversationId: MISSING, state: 'closed' })).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(await emitRaw(agent, 'conversation:state', { conversationId: id, state: 'archived' })).toMatchObject({
      ok: false,
      error: { code: 'bad_request', fields: { state: expect.any(String) } },
    });
    expect(await emitRaw(agent, 'conversation:state', { conversationId: '../etc', state: 'closed' })).toMatchObject({
      ok: false,
      error: { code: 'bad_request', fields: { conversationId: expect.any(String) } },
    });
    expect(await emitRaw(agent, 'conversation:state', { conversationId: id, state: 'closed', purge: true })).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
    expect(await emitRaw(agent, 'conversation:state', 'closed')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect((await shared.bridge.store.getConversation(id))?.state).toBe('open');
  });

  it('is not an event of the visitor namespace', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    expect(await emitRaw(visitor, 'conversation:state', { conversationId: id, state: 'closed' })).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
    expect((await shared.bridge.store.getConversation(id))?.state).toBe('open');
  });
});

describe('POST /api/conversations/:id/close and /reopen', () => {
  it('closes and reopens with an agent token or the API key, announcing each change to the agents', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));

    const closedHeard = nextEvent(agent, 'conversation:updated', WAIT_DEADLINE_MS, (c) => c.id === id);
    const closed = await post(`/api/conversations/${id}/close`);
    expect(closed).toMatchObject({ status: 200, json: { conversation: { id, state: 'closed', visitorOnline: true } } });
    expect(await closedHeard).toMatchObject({ id, state: 'closed' });
    const listed = await fetch(`${shared.bridge.url}/api/conversations?filter=open`, { headers: { Authorization: `Bearer ${shared.bridge.agent.token}` } });
    expect(((await listed.json()) as { conversations: { id: string }[] }).conversations.map((c) => c.id)).not.toContain(id);

    const reopenedHeard = nextEvent(agent, 'conversation:updated', WAIT_DEADLINE_MS, (c) => c.id === id);
    const reopened = await post(`/api/conversations/${id}/reopen`, { token: API_KEY, body: '{}', type: 'application/json' });
    expect(reopened).toMatchObject({ status: 200, json: { conversation: { id, state: 'open' } } });
    expect(await reopenedHeard).toMatchObject({ id, state: 'open' });
    expect((await shared.bridge.store.getConversation(id))?.state).toBe('open');
  });

  it('requires a bearer, answers unknown ids with 404 and non-JSON bodies with 415', async () => {
    const visitor = await visitorConversation();
    const id = visitor.session.conversationId;
    expect(await post(`/api/conversations/${id}/close`, { token: null })).toMatchObject({
      status: 401,
      json: { error: { code: 'unauthorized' } },
    });
    expect(await post(`/api/conversations/${id}/close`, { token: 'not-a-token' })).toMatchObject({ status: 401 });
    expect(await post(`/api/conversations/${MISSING}/close`)).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect(await post(`/api/conversations/..%2fetc/reopen`)).toMatchObject({ status: 404 });
    expect(await post(`/api/conversations/${id}/close`, { body: 'state=closed', type: 'text/plain' })).toMatchObject({
      status: 415,
      json: { error: { code: 'unsupported_media_type' } },
    });
    expect((await shared.bridge.store.getConversation(id))?.state).toBe('open');
  });
});
