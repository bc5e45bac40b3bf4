import { describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import { MergedTimeline } from './merged-timeline.ts';

const EPOCH = 5_000;

/** One message as one network numbers it. */
function message(
  id: string,
  seq: number,
  clientId: string,
  options: { role?: 'visitor' | 'agent'; at?: string; status?: Message['status']; conversationId?: string } = {},
): Message {
  const at = options.at ?? '2026-01-01T00:00:00.000Z';
  const status = options.status ?? 'sent';
  return {
    id,
    conversationId: options.conversationId ?? 'network-conv',
    seq,
    rev: seq,
    clientId,
    author: { role: options.role ?? 'visitor' },
    text: clientId,
    createdAt: at,
    status,
    statusAt: { sent: at, [status]: at },
  };
}

describe('MergedTimeline', () => {
  it('keeps one entry per author and clientId whichever networks carried it, numbered by the timeline', () => {
    const timeline = new MergedTimeline(EPOCH);
    timeline.conversationId = 'conv-1';
    const first = timeline.add('primary', message('x-7', 7, 'c1'));
    expect(first.change).toEqual({ message: first.message });
    expect(first.message).toMatchObject({ seq: MergedTimeline.SEQ_BASE + 1, rev: EPOCH + 1, conversationId: 'conv-1' });

    // The same message over the bridge is no second entry; an agent's message with the same clientId is one.
    expect(timeline.add('fallback', message('b-3', 3, 'c1')).change).toBeUndefined();
    timeline.add('fallback', message('b-4', 4, 'c1', { role: 'agent' }));
    expect(timeline.since(0).map((m) => `${m.author.role}:${m.clientId}`)).toEqual(['visitor:c1', 'agent:c1']);
    expect(timeline.rev).toBe(EPOCH + 2);
  });

  it('advances a status only forward and reports it in its own numbering', () => {
    const timeline = new MergedTimeline(EPOCH);
    const { message: sent } = timeline.add('primary', message('x-1', 1, 'c1'));
    const { change } = timeline.add('fallback', message('b-9', 9, 'c1', { status: 'delivered' }));
    expect(change).toEqual({ status: expect.objectContaining({ messageId: 'x-1', seq: sent.seq, status: 'delivered' }) });

    const read = timeline.applyStatus('fallback', {
      conversationId: 'network-conv',
      messageId: 'b-9',
      clientId: 'c1',
      seq: 9,
      rev: 10,
      status: 'read',
      at: '2026-01-01T00:01:00.000Z',
    });
    expect(read).toMatchObject({ seq: sent.seq, status: 'read', at: '2026-01-01T00:01:00.000Z' });
    expect(read!.rev).toBeGreaterThan(sent.rev);
    // Going back to `delivered`, or a status for an id no network linked, changes nothing.
    expect(timeline.add('primary', message('x-1', 1, 'c1', { status: 'delivered' })).change).toBeUndefined();
    expect(timeline.applyStatus('primary', { ...read!, messageId: 'unknown' })).toBeUndefined();
    expect(timeline.since(read!.rev)).toEqual([]);
  });

  it('interleaves both networks by creation time and numbers older pages below everything known', () => {
    const timeline = new MergedTimeline(EPOCH);
    timeline.add('fallback', message('b-10', 10, 'now'));
    timeline.addBatch(
      [
        { source: 'fallback', message: message('b-2', 2, 'second', { at: '2025-12-01T00:00:02.000Z' }) },
        { source: 'primary', message: message('x-5', 5, 'first', { at: '2025-12-01T00:00:01.000Z' }) },
        { source: 'primary', message: message('x-6', 6, 'third', { at: '2025-12-01T00:00:03.000Z' }) },
      ],
      'older',
    );
    expect(timeline.before(undefined).map((m) => m.clientId)).toEqual(['first', 'second', 'third', 'now']);
    const now = timeline.before(undefined).at(-1)!;
    expect(timeline.before(now.seq).map((m) => m.clientId)).toEqual(['first', 'second', 'third']);
    expect(timeline.before(now.seq)[0]!.seq).toBeLessThan(MergedTimeline.SEQ_BASE);
  });

  it('maps its seqs back to each network for receipts and history pages', () => {
    const timeline = new MergedTimeline(EPOCH);
    timeline.add('primary', message('x-4', 4, 'c1'));
    timeline.add('fallback', message('b-8', 8, 'c2'));
    const last = timeline.add('primary', message('x-5', 5, 'c3')).message;
    const middle = timeline.before(last.seq).at(-1)!;
    expect(timeline.sourceSeqUpTo('primary', middle.seq)).toBe(4);
    expect(timeline.sourceSeqUpTo('primary', last.seq)).toBe(5);
    expect(timeline.sourceSeqUpTo('fallback', middle.seq - 1)).toBe(0);
    expect(timeline.oldestSourceSeq('primary')).toBe(4);
    expect(timeline.oldestSourceSeq('fallback')).toBe(8);
  });
});
