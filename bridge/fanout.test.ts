import { describe, expect, it } from 'vitest';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { collect, connectAgent, connectVisitor, emitWithAck, startTestBridge } from './testing/index.ts';
import { CONVERSATION_UPDATE_COALESCE_MS } from './fanout.ts';

const shared = useTestBridge();
const { track } = shared;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fanout conversation:updated', () => {
  it('coalesces a burst of messages into a leading and a trailing update carrying the latest summary', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const visitor = track(await connectVisitor(shared.bridge.url));
    const id = visitor.session.conversationId;
    const seen = collect(agent, 'conversation:updated');
    for (let i = 0; i < 8; i++) await emitWithAck(visitor, 'message:send', { clientId: `b${i}`, text: `burst ${i}` });
    await sleep(CONVERSATION_UPDATE_COALESCE_MS * 2 + 200);
    const mine = seen.filter((c) => c.id === id);
    // 8 messages sent well within one window (plus possibly a second window on a slow machine): far fewer than 8.
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.length).toBeLessThan(8);
    const last = mine.at(-1);
    expect(last).toMatchObject({ unread: 8, visitorOnline: true });
    expect(last?.lastMessage?.text).toBe('burst 7');
  });

  it('reports the visitor offline after the widget disconnects (in-memory room size)', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const visitor = await connectVisitor(shared.bridge.url);
    const id = visitor.session.conversationId;
    const seen = collect(agent, 'conversation:updated');
    await emitWithAck(visitor, 'message:send', { clientId: 'p1', text: 'hello' });
    visitor.close();
    await sleep(CONVERSATION_UPDATE_COALESCE_MS + 300);
    const mine = seen.filter((c) => c.id === id);
    expect(mine[0]?.visitorOnline).toBe(true);
    expect(mine.at(-1)?.visitorOnline).toBe(false);
  });

  it('sends a held-back update when the bridge closes', async () => {
    const own = await startTestBridge();
    const agent = await connectAgent(own.url, own.agent.token);
    const visitor = await connectVisitor(own.url);
    const id = visitor.session.conversationId;
    const seen = collect(agent, 'conversation:updated');
    await emitWithAck(visitor, 'message:send', { clientId: 'c1', text: 'first' });
    await emitWithAck(visitor, 'message:send', { clientId: 'c2', text: 'second' });
    await sleep(50);
    const before = seen.filter((c) => c.id === id).length;
    await own.close();
    await sleep(100);
    const mine = seen.filter((c) => c.id === id);
    expect(before).toBe(1);
    expect(mine.at(-1)?.lastMessage?.text).toBe('second');
    agent.close();
    visitor.close();
  });
});
