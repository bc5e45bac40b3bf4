/**
 * Answered by e-mail (#13): with SMTP_URL the visitor's session offers it, the visitor leaves, changes and removes
 * an address (validated), agents see it on the conversation live; without SMTP_URL nothing is offered or taken.
 */
import { describe, expect, it } from 'vitest';
import { connectAgent, connectVisitor, emitWithAck, nextEvent, startTestBridge } from './testing/index.ts';
import { useTestBridge } from './testing/use-test-bridge.ts';

const mail = { smtpUrl: 'smtp://127.0.0.1:2525', from: 'support@example.com', unansweredAfterMs: 300_000, visitorAfterMs: 600_000 };

describe('reply by e-mail, with SMTP_URL', () => {
  const shared = useTestBridge({ config: { mail } });

  it('is offered; the address is stored on the conversation, shown to agents, changed and removed by the visitor', async () => {
    const { url, agent } = shared.bridge;
    const visitor = shared.track(await connectVisitor(url));
    expect(visitor.session.replyByEmail).toEqual({});
    const agentSocket = shared.track(await connectAgent(url, agent.token));
    // No message yet: leaving an address starts the conversation.
    const updated = nextEvent(agentSocket, 'conversation:updated', undefined, (c) => c.visitorEmail === 'ann@example.com');
    expect(await emitWithAck(visitor, 'visitor:email', { email: 'ann@example.com' })).toEqual({ ok: true, data: { email: 'ann@example.com' } });
    expect((await updated).id).toBe(visitor.session.conversationId);

    for (const email of ['not an address', 'ann@example.com\r\nBcc: eve@example.com', `${'a'.repeat(250)}@example.com`]) {
      const refused = await emitWithAck(visitor, 'visitor:email', { email });
      expect(refused, email).toMatchObject({ ok: false, error: { code: 'bad_request', fields: { email: expect.any(String) } } });
    }
    expect((await shared.bridge.store.getConversation(visitor.session.conversationId))?.visitorEmail).toBe('ann@example.com');

    // The next visit shows the address kept; the visitor changes it, then removes it.
    visitor.close();
    const back = shared.track(await connectVisitor(url, { token: visitor.session.token }));
    expect(back.session.replyByEmail).toEqual({ email: 'ann@example.com' });
    expect(await emitWithAck(back, 'visitor:email', { email: 'ann@example.org' })).toEqual({ ok: true, data: { email: 'ann@example.org' } });
    // The inbox lists conversations with messages: the address shows with the summary.
    expect(await emitWithAck(back, 'message:send', { clientId: 'q1', text: 'Anyone there?' })).toMatchObject({ ok: true });
    const { conversations } = ((await emitWithAck(agentSocket, 'conversations:list', { filter: 'all' })) as { data: { conversations: { id: string; visitorEmail?: string }[] } }).data;
    expect(conversations.find((c) => c.id === back.session.conversationId)?.visitorEmail).toBe('ann@example.org');
    expect(await emitWithAck(back, 'visitor:email', { email: null })).toEqual({ ok: true, data: {} });
    expect(await shared.bridge.store.getConversation(back.session.conversationId)).not.toHaveProperty('visitorEmail');
  });
});

describe('reply by e-mail, without SMTP_URL', () => {
  it('is neither offered nor taken', async () => {
    const tb = await startTestBridge();
    try {
      const visitor = await connectVisitor(tb.url);
      expect(visitor.session).not.toHaveProperty('replyByEmail');
      expect(await emitWithAck(visitor, 'visitor:email', { email: 'ann@example.com' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      expect(await tb.store.getConversation(visitor.session.conversationId)).toBeUndefined();
      visitor.close();
    } finally {
      await tb.close();
    }
  });
});
