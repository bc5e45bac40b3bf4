import { describe, expect, it } from 'vitest';
import { useTestBridge } from '../testing/use-test-bridge.ts';
import type { Message } from '../../protocol/message.ts';
import {
  collect,
  connectAgent,
  connectVisitor,
  emitRaw,
  emitWithAck,
  nextEvent,
  waitUntil,
  WAIT_DEADLINE_MS,
} from '../testing/index.ts';
import { signAgentToken } from '../auth/agent-token.ts';

const shared = useTestBridge();
const { track } = shared;

describe('agent namespace', () => {
  it('requires a valid agent token of an existing agent', async () => {
    await expect(connectAgent(shared.bridge.url, 'not-a-token')).rejects.toMatchObject({ code: 'unauthorized' });
    const expired = await signAgentToken(
      shared.bridge.config.secrets.agentToken,
      { agentId: shared.bridge.agent.id, sessionId: 'expired' },
      new Date(Date.now() - 13 * 3600_000),
    );
    await expect(connectAgent(shared.bridge.url, expired.token)).rejects.toMatchObject({ code: 'unauthorized' });
    const ghost = await signAgentToken(shared.bridge.config.secrets.agentToken, { agentId: 'deleted', sessionId: 'ghost' }, new Date());
    await expect(connectAgent(shared.bridge.url, ghost.token)).rejects.toMatchObject({ code: 'unauthorized' });
    expect(track(await connectAgent(shared.bridge.url, shared.bridge.agent.token)).connected).toBe(true);
  });

  it('lists conversations newest first with unread counts, replies, and pages history', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const older = track(await connectVisitor(shared.bridge.url));
    await emitWithAck(older, 'message:send', { clientId: 'o1', text: 'older' });
    const newer = track(await connectVisitor(shared.bridge.url));
    await emitWithAck(newer, 'message:send', { clientId: 'n1', text: 'newer' });
    await emitWithAck(newer, 'message:send', { clientId: 'n2', text: 'newer again' });

    const list = await emitWithAck(agent, 'conversations:list', { filter: 'open' });
    if (!list.ok) throw new Error('list failed');
    const ids = list.data.conversations.map((c) => c.id);
    expect(ids.indexOf(newer.session.conversationId)).toBeLessThan(ids.indexOf(older.session.conversationId));
    expect(list.data.conversations.find((c) => c.id === newer.session.conversationId)).toMatchObject({
      unread: 2,
      visitorOnline: true,
      channel: 'web',
    });

    const visitorGot = nextEvent(newer, 'message:new');
    const updated = nextEvent(agent, 'conversation:updated', WAIT_DEADLINE_MS, (c) => c.id === newer.session.conversationId);
    const reply = await emitWithAck(agent, 'message:send', {
      conversationId: newer.session.conversationId,
      clientId: 'reply-1',
      text: 'On it',
    });
    expect(reply.ok).toBe(true);
    expect((await visitorGot).clientId).toBe('reply-1');
    expect(await updated).toMatchObject({ lastSeq: 3, visitorOnline: true });
    // The other visitor never sees it.
    const olderPage = await emitWithAck(older, 'history', {});
    expect(olderPage.ok && olderPage.data.messages.map((m) => m.clientId)).toEqual(['o1']);

    const read = await emitWithAck(agent, 'receipt', {
      conversationId: newer.session.conversationId,
      upToSeq: 2,
      status: 'read',
    });
    expect(read).toEqual({ ok: true, data: { changed: 2 } });
    const history = await emitWithAck(agent, 'history', { conversationId: newer.session.conversationId, limit: 2 });
    expect(history.ok && history.data).toMatchObject({ hasMore: true });
    expect(history.ok && history.data.messages.map((m) => m.seq)).toEqual([2, 3]);
    const sync = await emitWithAck(agent, 'sync', { conversationId: newer.session.conversationId, afterRev: 0 });
    expect(sync.ok && sync.data.messages.map((m) => [m.seq, m.status])).toEqual([
      [1, 'read'],
      [2, 'read'],
      [3, 'sent'],
    ]);
  });

  it('answers unknown conversations with not_found and unknown events with bad_request', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const missing = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(await emitWithAck(agent, 'message:send', { conversationId: missing, clientId: 'x', text: 'hi' })).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(await emitWithAck(agent, 'history', { conversationId: missing })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await emitWithAck(agent, 'sync', { conversationId: missing, afterRev: 0 })).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(await emitRaw(agent, 'admin:delete-everything', {})).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await emitRaw(agent, 'message:send', { conversationId: '../etc', clientId: 'x', text: 'hi' })).toMatchObject({
      ok: false,
      error: { code: 'bad_request', fields: { conversationId: expect.any(String) } },
    });
  });

  it('retries external delivery through a fan-out sink, and refuses web conversations', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const web = track(await connectVisitor(shared.bridge.url));
    await emitWithAck(web, 'message:send', { clientId: 'w', text: 'web' });
    const webReply = await emitWithAck(agent, 'message:send', {
      conversationId: web.session.conversationId,
      clientId: 'wr',
      text: 'reply',
    });
    if (!webReply.ok) throw new Error('send failed');
    expect(
      await emitWithAck(agent, 'message:retry', { conversationId: web.session.conversationId, messageId: webReply.data.id }),
    ).toMatchObject({ ok: false, error: { code: 'bad_request' } });

    // XMTP conversations have no bridge-side delivery unless a sink provides one (WhatsApp has the webhook sink).
    const wa = await shared.bridge.store.createConversation({ channel: 'xmtp', name: 'Ana', externalUserId: 'inbox-1' });
    const sent = await emitWithAck(agent, 'message:send', { conversationId: wa.id, clientId: 'wa-1', text: 'hola' });
    if (!sent.ok) throw new Error('send failed');
    expect(await emitWithAck(agent, 'message:retry', { conversationId: wa.id, messageId: sent.data.id })).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });

    const retried: Message[] = [];
    let fail = false;
    const remove = shared.bridge.bridge.context.fanout.addSink({
      name: 'test-xmtp',
      retryDelivery: async (message, conversation) => {
        if (conversation.channel !== 'xmtp') return undefined;
        if (fail) throw new Error('meta said no');
        retried.push(message);
        return message;
      },
    });
    try {
      const ok = await emitWithAck(agent, 'message:retry', { conversationId: wa.id, messageId: sent.data.id });
      expect(ok).toMatchObject({ ok: true, data: { id: sent.data.id } });
      expect(retried.map((m) => m.id)).toEqual([sent.data.id]);
      fail = true;
      expect(await emitWithAck(agent, 'message:retry', { conversationId: wa.id, messageId: sent.data.id })).toMatchObject({
        ok: false,
        error: { code: 'upstream_failed' },
      });
    } finally {
      remove();
    }
  });

  it('calls fan-out sinks for created messages and status changes, and survives a throwing sink', async () => {
    const created: string[] = [];
    const statuses: string[] = [];
    const removeBad = shared.bridge.bridge.context.fanout.addSink({
      name: 'broken',
      messageCreated: () => {
        throw new Error('sink down');
      },
    });
    const removeGood = shared.bridge.bridge.context.fanout.addSink({
      name: 'recorder',
      messageCreated: (m) => void created.push(m.clientId),
      statusChanged: (ms) => void statuses.push(...ms.map((m) => `${m.clientId}:${m.status}`)),
    });
    try {
      const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
      const v = track(await connectVisitor(shared.bridge.url));
      const ack = await emitWithAck(v, 'message:send', { clientId: 'sink-1', text: 'hi' });
      expect(ack.ok).toBe(true);
      await emitWithAck(v, 'message:send', { clientId: 'sink-1', text: 'hi' });
      await emitWithAck(agent, 'receipt', { conversationId: v.session.conversationId, upToSeq: 1, status: 'read' });
      // The read status reaches the sinks after anything the duplicate send could have fanned out.
      await waitUntil('the recorder sink to see the read status', () => statuses.length > 0);
      expect(created).toEqual(['sink-1']);
      expect(statuses).toEqual(['sink-1:read']);
    } finally {
      removeBad();
      removeGood();
    }
  });

  it('shows agent typing to the conversation and to other agents, not to other visitors', async () => {
    const typist = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const colleague = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const v = track(await connectVisitor(shared.bridge.url));
    const stranger = track(await connectVisitor(shared.bridge.url));
    const strangerSaw = collect(stranger, 'typing');
    const typistSaw = collect(typist, 'typing');
    const colleagueSees = nextEvent(colleague, 'typing');
    const visitorSees = nextEvent(v, 'typing');
    typist.emit('typing', { conversationId: v.session.conversationId, typing: true });
    expect(await visitorSees).toMatchObject({ role: 'agent', typing: true });
    expect(await colleagueSees).toMatchObject({ conversationId: v.session.conversationId, role: 'agent' });
    // Ordered marker: the typing was forwarded before the others saw it, so a copy to the stranger or back to the typist
    // would reach their connections ahead of the stranger's message, which goes to both of them.
    const strangerGets = nextEvent(stranger, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'marker');
    const typistGets = nextEvent(typist, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'marker');
    expect((await emitWithAck(stranger, 'message:send', { clientId: 'marker', text: 'marker' })).ok).toBe(true);
    await Promise.all([strangerGets, typistGets]);
    expect(strangerSaw).toEqual([]);
    expect(typistSaw).toEqual([]);
  });
});
