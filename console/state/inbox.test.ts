import { describe, expect, it } from 'vitest';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import { mergeListed, patchConversation, removeConversation, sortByActivity, totalUnread, upsertConversation } from './inbox.ts';

function conv(id: string, minute: number, over: Partial<ConversationSummary> = {}): ConversationSummary {
  const at = new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();
  return {
    id,
    channel: 'web',
    name: `Visitor ${id}`,
    state: 'open',
    createdAt: at,
    lastActivityAt: at,
    lastSeq: 0,
    rev: minute,
    agentReadSeq: 0,
    visitorReadSeq: 0,
    unread: 0,
    visitorOnline: false,
    ...over,
  };
}

describe('inbox rules', () => {
  it('keeps Mine and Unassigned live: a conversation leaves when its assignee changes away, joins when it arrives', () => {
    const mine = { view: 'mine' as const, agentId: 'me' };
    const unassigned = { view: 'unassigned' as const, agentId: 'me' };
    let list = upsertConversation([], conv('a', 1, { assigneeId: 'me' }), 'open', mine);
    expect(list.map((c) => c.id)).toEqual(['a']);
    list = upsertConversation(list, conv('a', 1, { assigneeId: 'other' }), 'open', mine);
    expect(list).toEqual([]);
    expect(upsertConversation([], conv('b', 2), 'open', unassigned).map((c) => c.id)).toEqual(['b']);
    expect(upsertConversation([conv('b', 2)], conv('b', 2, { assigneeId: 'me' }), 'open', unassigned)).toEqual([]);
    expect(upsertConversation([], conv('c', 3, { assigneeId: 'x' }), 'open', { view: 'all', agentId: 'me' })).toHaveLength(1);
  });

  it('drops an erased conversation and keeps the others in order', () => {
    expect(removeConversation([conv('a', 3), conv('b', 2), conv('c', 1)], 'b').map((c) => c.id)).toEqual(['a', 'c']);
    expect(removeConversation([conv('a', 3)], 'x').map((c) => c.id)).toEqual(['a']);
  });

  it('sorts newest activity first', () => {
    expect(sortByActivity([conv('a', 1), conv('b', 3), conv('c', 2)]).map((c) => c.id)).toEqual(['b', 'c', 'a']);
  });

  it('moves a conversation with new activity to the top and adds unknown ones', () => {
    const list = [conv('a', 5), conv('b', 4)];
    const moved = upsertConversation(list, conv('b', 6, { unread: 1 }), 'open');
    expect(moved.map((c) => c.id)).toEqual(['b', 'a']);
    expect(moved[0]?.unread).toBe(1);
    expect(upsertConversation(moved, conv('w', 7, { channel: 'whatsapp' }), 'open').map((c) => c.id)).toEqual(['w', 'b', 'a']);
  });

  it('ignores a copy older than the listed one', () => {
    const list = [conv('a', 5, { unread: 0 })];
    expect(upsertConversation(list, conv('a', 5, { rev: 2, unread: 3 }), 'open')[0]?.unread).toBe(0);
  });

  it('drops a closed conversation under the open filter but keeps it under all', () => {
    const list = [conv('a', 5), conv('b', 4)];
    expect(upsertConversation(list, conv('a', 5, { state: 'closed' }), 'open').map((c) => c.id)).toEqual(['b']);
    expect(upsertConversation(list, conv('a', 5, { state: 'closed' }), 'all').map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('patches presence in place and totals unread', () => {
    const list = patchConversation([conv('a', 5, { unread: 2 }), conv('b', 4, { unread: 3 })], 'b', { visitorOnline: true });
    expect(list.map((c) => [c.id, c.visitorOnline])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(totalUnread(list)).toBe(5);
  });

  it('merges a fresh list without undoing a newer live update, and drops what the list no longer has', () => {
    const shown = [conv('a', 9, { rev: 9, unread: 2 }), conv('gone', 8)];
    const listed = [conv('a', 5, { rev: 5, unread: 0 }), conv('b', 6)];
    const merged = mergeListed(shown, listed);
    expect(merged.map((c) => [c.id, c.unread])).toEqual([
      ['a', 2],
      ['b', 0],
    ]);
  });
});
