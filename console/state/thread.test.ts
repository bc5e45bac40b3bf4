import { describe, expect, it } from 'vitest';
import type { Message, StatusChange } from '../../protocol/message.ts';
import { ThreadState } from './thread.ts';

const CID = 'conv1';

function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    conversationId: CID,
    seq,
    rev: seq,
    clientId: `c${seq}`,
    author: { role: 'visitor' },
    text: `text ${seq}`,
    createdAt: new Date(Date.UTC(2026, 0, 1, 12, seq)).toISOString(),
    status: 'sent',
    statusAt: {},
    ...over,
  };
}

function change(m: Message, status: StatusChange['status'], rev: number, failure?: StatusChange['failure']): StatusChange {
  return { conversationId: CID, messageId: m.id, clientId: m.clientId, seq: m.seq, rev, status, at: '2026-01-01T13:00:00.000Z', ...(failure ? { failure } : {}) };
}

describe('ThreadState', () => {
  it('orders stored messages by seq and keeps pending sends after them', () => {
    const t = new ThreadState(CID);
    t.addPending('p1', 'pending', { role: 'agent', agentId: 'a', name: 'Ann' }, '2026-01-01T00:00:00.000Z');
    t.addPage({ messages: [msg(3), msg(1), msg(2)], hasMore: false });
    expect(t.messages.map((m) => m.clientId)).toEqual(['c1', 'c2', 'c3', 'p1']);
    expect(t.oldestSeq).toBe(1);
  });

  it('replaces an optimistic send by the server copy with the same clientId (no duplicate)', () => {
    const t = new ThreadState(CID);
    t.addPage({ messages: [msg(1)], hasMore: false });
    t.addPending('mine', 'hello', { role: 'agent', agentId: 'a', name: 'Ann' }, '2026-01-01T12:05:00.000Z');
    const stored = msg(2, { clientId: 'mine', author: { role: 'agent', agentId: 'a', name: 'Ann' }, text: 'hello' });
    expect(t.upsert(stored)).toBe(true);
    // The broadcast of the same message after the ack changes nothing.
    expect(t.upsert(stored)).toBe(false);
    expect(t.messages.map((m) => [m.clientId, m.status, m.seq])).toEqual([
      ['c1', 'sent', 1],
      ['mine', 'sent', 2],
    ]);
    expect(t.pending()).toEqual([]);
  });

  it('applies status changes by rev and never moves back on a stale or replayed copy', () => {
    const t = new ThreadState(CID);
    const m = msg(1, { author: { role: 'agent' } });
    t.addPage({ messages: [m], hasMore: false });
    expect(t.applyStatus(change(m, 'read', 5))).toBe(true);
    expect(t.applyStatus(change(m, 'delivered', 4))).toBe(false);
    // A sync replay of the older stored copy must not undo `read` either.
    expect(t.upsert({ ...m, status: 'delivered', rev: 4 })).toBe(false);
    expect(t.get('c1')?.status).toBe('read');
  });

  it('moves the sync cursor only along contiguous live revs, so a lost broadcast is synced, not skipped', () => {
    const t = new ThreadState(CID);
    t.addPage({ messages: [msg(1), msg(2)], hasMore: false });
    expect(t.rev).toBe(2);
    expect(t.follow(3)).toBe('next');
    expect(t.follow(3)).toBe('seen');
    // rev 4 never arrived: the cursor stays where every change is known, and the next sync starts there.
    t.upsert(msg(4, { rev: 5 }));
    expect(t.follow(5)).toBe('gap');
    expect(t.rev).toBe(3);
  });

  it('takes a retried message back from failed to sent when its rev is newer', () => {
    const t = new ThreadState(CID);
    const m = msg(1, { author: { role: 'agent' } });
    t.addPage({ messages: [m], hasMore: false });
    t.applyStatus(change(m, 'failed', 2, { code: '131047', reason: 'Re-engagement message' }));
    expect(t.get('c1')?.failure?.reason).toBe('Re-engagement message');
    expect(t.upsert({ ...m, rev: 3, status: 'sent' })).toBe(true);
    expect(t.get('c1')?.status).toBe('sent');
    expect(t.get('c1')?.failure).toBeUndefined();
  });

  it('ignores sync replays of messages older than the loaded page while older history exists', () => {
    const t = new ThreadState(CID);
    t.addPage({ messages: [msg(10), msg(11)], hasMore: true });
    expect(t.upsert(msg(3, { rev: 20, status: 'read' }))).toBe(false);
    expect(t.messages).toHaveLength(2);
    t.addPage({ messages: [msg(8), msg(9)], hasMore: false });
    expect(t.messages.map((m) => m.seq)).toEqual([8, 9, 10, 11]);
  });

  it('marks an unstored send failed and back to sending for a retry', () => {
    const t = new ThreadState(CID);
    t.addPending('p', 'x'.repeat(10), { role: 'agent' }, '2026-01-01T00:00:00.000Z');
    t.markFailed('p', { code: 'text_too_long', reason: 'The message is too long.' });
    expect(t.get('p')?.status).toBe('failed');
    expect(t.pending()).toEqual([]);
    t.markSending('p');
    expect(t.get('p')?.status).toBe('sending');
    expect(t.get('p')?.failure).toBeUndefined();
    expect(t.pending().map((m) => m.clientId)).toEqual(['p']);
  });

  it('reports the last visitor seq for read receipts and ignores other conversations', () => {
    const t = new ThreadState(CID);
    t.addPage({ messages: [msg(1), msg(2, { author: { role: 'agent' } }), msg(3)], hasMore: false });
    expect(t.upsert(msg(9, { conversationId: 'other' }))).toBe(false);
    expect(t.lastSeqOf('visitor')).toBe(3);
    expect(t.lastSeqOf('agent')).toBe(2);
  });
});

describe('ThreadState retry of an externally failed message', () => {
  it('shows it as sending until the next status change and can restore it', () => {
    const t = new ThreadState(CID);
    const m = msg(1, { author: { role: 'agent' }, status: 'failed', rev: 4, failure: { code: '131049', reason: 'not delivered' } });
    t.addPage({ messages: [m], hasMore: false });
    const before = t.markRetrying('c1');
    expect(before?.status).toBe('failed');
    expect(t.get('c1')?.status).toBe('sending');
    expect(t.get('c1')?.failure).toBeUndefined();
    // The retry ack carries the same rev: not newer than the local state.
    expect(t.upsert({ ...m })).toBe(false);
    expect(t.applyStatus(change(m, 'delivered', 6))).toBe(true);
    expect(t.get('c1')?.status).toBe('delivered');
    // Restoring an older copy after a newer change is ignored.
    t.restore(before!);
    expect(t.get('c1')?.status).toBe('delivered');
  });
});
