import { describe, expect, it } from 'vitest';
import { useTestBridge } from '../testing/use-test-bridge.ts';
import { collect, connectVisitor, emitWithAck, nextEvent, waitUntil, WAIT_DEADLINE_MS } from '../testing/index.ts';
import { applyReceipt } from '../conversations.ts';
import { ReceiptBatch, type ReceiptOutcome } from './receipt-batch.ts';

const shared = useTestBridge();
const { track } = shared;

/** A batch whose application is recorded and answers `changed` = upToSeq. */
function recording() {
  const calls: string[] = [];
  const batch = new ReceiptBatch(async (id, status, upToSeq): Promise<ReceiptOutcome> => {
    calls.push(`${id}:${status}:${upToSeq}`);
    if (upToSeq < 0) throw new Error('refused');
    return { changed: upToSeq };
  });
  return { calls, batch };
}

describe('ReceiptBatch', () => {
  it('applies the highest read first, then the highest delivered, once per conversation and turn', async () => {
    const { calls, batch } = recording();
    const acks = await Promise.all([
      batch.submit('c1', 'delivered', 4),
      batch.submit('c1', 'read', 2),
      batch.submit('c1', 'read', 3),
      batch.submit('c2', 'delivered', 1),
    ]);
    // Conversations are applied concurrently; within one, read goes first.
    expect(calls.filter((c) => c.startsWith('c1:'))).toEqual(['c1:read:3', 'c1:delivered:4']);
    expect(calls.filter((c) => c.startsWith('c2:'))).toEqual(['c2:delivered:1']);
    expect(acks).toEqual([{ changed: 4 }, { changed: 3 }, { changed: 3 }, { changed: 1 }]);
  });

  it('answers a delivered the read of its turn covers without applying it; one beyond the read is applied', async () => {
    const { calls, batch } = recording();
    const acks = await Promise.all([
      batch.submit('c1', 'delivered', 3),
      batch.submit('c1', 'read', 3),
      batch.submit('c2', 'delivered', 2),
      batch.submit('c2', 'read', 5),
      batch.submit('c3', 'delivered', 6),
      batch.submit('c3', 'read', 5),
    ]);
    expect(calls.sort()).toEqual(['c1:read:3', 'c2:read:5', 'c3:delivered:6', 'c3:read:5']);
    expect(acks).toEqual([{ changed: 0 }, { changed: 3 }, { changed: 0 }, { changed: 5 }, { changed: 6 }, { changed: 5 }]);
  });

  it('applies receipts of later turns separately, in order', async () => {
    const { calls, batch } = recording();
    await batch.submit('c1', 'delivered', 1);
    await batch.submit('c1', 'read', 1);
    expect(calls).toEqual(['c1:delivered:1', 'c1:read:1']);
  });

  it('rejects only the receipts whose application failed', async () => {
    const { batch } = recording();
    const read = batch.submit('c1', 'read', -1);
    const delivered = batch.submit('c1', 'delivered', 2);
    await expect(read).rejects.toThrow('refused');
    await expect(delivered).resolves.toEqual({ changed: 2 });
  });

  it('with the real store: delivered + read of one turn push each message once, as read with a delivered time', async () => {
    const { context } = shared.bridge.bridge;
    const visitor = track(await connectVisitor(shared.bridge.url));
    for (let i = 1; i <= 3; i++) await emitWithAck(visitor, 'message:send', { clientId: `m${i}`, text: `message ${i}` });
    const pushed = collect(visitor, 'message:status');
    const id = visitor.session.conversationId;
    const batch = new ReceiptBatch((conversationId, status, upToSeq) =>
      applyReceipt(context, conversationId, 'agent', upToSeq, status),
    );
    const acks = await Promise.all([batch.submit(id, 'delivered', 3), batch.submit(id, 'read', 3)]);
    expect(acks).toEqual([{ changed: 0 }, { changed: 3 }]);
    // Read before the marker below, which adds a fourth (sent) message.
    const stored = await context.store.getMessages(id, { limit: 10 });
    expect(stored).toHaveLength(3);
    for (const m of stored) {
      expect(m.status).toBe('read');
      expect(m.statusAt.delivered).toBe(m.statusAt.read);
    }
    await waitUntil('the three status pushes', () => pushed.length >= 3);
    // Ordered marker: both acks resolve only after their status changes were pushed to the conversation's room, so a
    // separate 'delivered' push would reach the visitor's connection ahead of the visitor's next message.
    const marker = nextEvent(visitor, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'marker');
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'marker', text: 'marker' })).ok).toBe(true);
    await marker;
    expect(pushed.map((c) => [c.seq, c.status])).toEqual([
      [1, 'read'],
      [2, 'read'],
      [3, 'read'],
    ]);
  });
});
