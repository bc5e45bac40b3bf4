import { describe, expect, it } from 'vitest';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { collect, connectAgent, connectVisitor, emitWithAck, nextEvent } from './testing/index.ts';
import { ERASED_NAMESPACE } from './conversations.ts';

const DAY = 24 * 3600 * 1000;
// The bridge's clock (store, retention) is this test's: time moves only when a test moves it.
let now = Date.parse('2026-03-01T00:00:00.000Z');
const shared = useTestBridge({
  clock: () => new Date(now),
  config: { retention: { conversationDays: 30, queueDays: 30, sweepIntervalMs: 3_600_000 } },
});
const { track } = shared;

async function conversationWith(text: string): Promise<string> {
  const visitor = track(await connectVisitor(shared.bridge.url));
  const ack = await emitWithAck(visitor, 'message:send', { clientId: 'c1', text });
  if (!ack.ok) throw new Error(ack.error.message);
  return visitor.session.conversationId;
}

describe('retention sweep', () => {
  it('erases conversations closed longer ago than RETENTION_DAYS, keeps open and recently closed ones', async () => {
    const { store, bridge } = shared.bridge;
    // Connected before the clock moves past the agent token's lifetime.
    const watcher = track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
    const erased = collect(watcher, 'conversation:erased');
    const old = await conversationWith('closed long ago');
    const recent = await conversationWith('closed recently');
    const open = await conversationWith('still open');
    const reopened = await conversationWith('closed, then written to again');
    await store.setConversationState(old, 'closed');
    await store.setConversationState(reopened, 'closed');
    now += 20 * DAY;
    await store.setConversationState(recent, 'closed');
    await store.appendMessage({ conversationId: reopened, clientId: 'late', author: { role: 'visitor' }, text: 'late' });
    now += 11 * DAY;

    const heard = nextEvent(watcher, 'conversation:erased', 10_000);
    expect(await bridge.retention.sweep()).toMatchObject({ erasedConversations: 1 });
    expect(await heard).toEqual({ conversationId: old });
    expect(await store.getConversation(old)).toBeUndefined();
    for (const id of [recent, open, reopened]) expect(await store.getConversation(id)).toBeDefined();
    // Remembered as every erasure is (what visitor tokens and WhatsApp webhooks check), only for the erased one.
    const erasedRecords = await store.listRecords(ERASED_NAMESPACE, 10);
    expect(erasedRecords).toEqual([
      { namespace: ERASED_NAMESPACE, key: old, value: { at: new Date(now).toISOString() }, expiresAt: new Date(now + 31 * DAY).toISOString() },
    ]);
    expect(await bridge.retention.sweep()).toMatchObject({ erasedConversations: 0 });

    // 31 days after `recent` was closed and after the late message in `reopened`.
    now += 20 * DAY;
    expect(await bridge.retention.sweep()).toMatchObject({ erasedConversations: 2 });
    expect(await store.getConversation(recent)).toBeUndefined();
    expect(await store.getConversation(reopened)).toBeUndefined();
    expect(await store.getConversation(open)).toBeDefined();
    expect(erased.map((e) => e.conversationId).sort()).toEqual([old, recent, reopened].sort());
  });

  it('erases more closed conversations than one batch holds, in several batches', async () => {
    const { store, bridge } = shared.bridge;
    const ids: string[] = [];
    for (let i = 0; i < 70; i++) {
      const { id } = await store.createConversation({ channel: 'web', name: `batch ${i}` });
      await store.appendMessage({ conversationId: id, clientId: 'c', author: { role: 'visitor' }, text: `batch text ${i}` });
      await store.setConversationState(id, 'closed');
      ids.push(id);
    }
    now += 31 * DAY;
    const sweep = await bridge.retention.sweep();
    expect(sweep.erasedConversations).toBeGreaterThanOrEqual(70);
    for (const id of ids) expect(await store.getConversation(id)).toBeUndefined();
  });

  it('removes delivered and dead queue items after QUEUE_RETENTION_DAYS, never pending ones', async () => {
    const { store, bridge } = shared.bridge;
    const delivered = await store.enqueue('webhook', { n: 1 });
    const dead = await store.enqueue('whatsapp-send', { n: 2 });
    const pending = await store.enqueue('webhook', { n: 3 });
    const at = new Date(now).toISOString();
    await store.updateQueueItem({ ...delivered, state: 'delivered', updatedAt: at });
    await store.updateQueueItem({ ...dead, state: 'dead', updatedAt: at });
    now += 29 * DAY;
    const fresh = await store.enqueue('webhook', { n: 4 });
    await store.updateQueueItem({ ...fresh, state: 'delivered', updatedAt: new Date(now).toISOString() });
    // Counted on this test's items: the bridge's workers may still be finishing items the earlier tests' messages
    // queued (Web Push events), stamped with this test's clock, and the sweep removes those too when they are old enough.
    const stored = async () => (await Promise.all([delivered, dead, pending, fresh].map((i) => store.getQueueItem(i.queue, i.id)))).filter((i) => i !== undefined);
    await bridge.retention.sweep();
    expect((await stored()).map((i) => i.id)).toEqual([delivered.id, dead.id, pending.id, fresh.id]);
    now += 2 * DAY;
    expect((await bridge.retention.sweep()).prunedQueueItems).toBeGreaterThanOrEqual(2);
    expect((await stored()).map((i) => i.id)).toEqual([pending.id, fresh.id]);
    const left = [...(await store.listQueueItems('webhook', 100)), ...(await store.listQueueItems('whatsapp-send', 100))];
    expect(left.map((i) => i.id).sort()).toEqual([pending.id, fresh.id].sort());
  });
});
