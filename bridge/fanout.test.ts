import { describe, expect, it } from 'vitest';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { collect, connectAgent, connectVisitor, emitWithAck, startTestBridge, waitUntil } from './testing/index.ts';

const shared = useTestBridge();
const { track } = shared;

describe('fanout conversation:updated', () => {
  it('coalesces a burst of messages into a leading and a trailing update carrying the latest summary', async () => {
    const agent = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const visitor = track(await connectVisitor(shared.bridge.url));
    const id = visitor.session.conversationId;
    const seen = collect(agent, 'conversation:updated');
    for (let i = 0; i < 8; i++) await emitWithAck(visitor, 'message:send', { clientId: `b${i}`, text: `burst ${i}` });
    // The trailing update carries the whole burst; nothing follows it.
    await waitUntil('the trailing update with the last message of the burst', () =>
      seen.some((c) => c.id === id && c.lastMessage?.text === 'burst 7' && c.unread === 8),
    );
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
    await waitUntil('an update saying the visitor is offline', () => seen.some((c) => c.id === id && c.visitorOnline === false));
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
    // The leading update is out; the second message's update is held back for CONVERSATION_UPDATE_COALESCE_MS (fanout.ts),
    // which the close below comes well within.
    await waitUntil('the leading update', () => seen.some((c) => c.id === id));
    const before = seen.filter((c) => c.id === id).length;
    await own.close();
    await waitUntil('the held-back update flushed by the close', () => seen.filter((c) => c.id === id).length > before);
    const mine = seen.filter((c) => c.id === id);
    expect(before).toBe(1);
    expect(mine.at(-1)?.lastMessage?.text).toBe('second');
    agent.close();
    visitor.close();
  });
});
