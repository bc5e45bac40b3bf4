/** Pure inbox rules: ordering by latest activity, live upserts, the open/all filter and unread totals. */
import type { ConversationSummary } from '../../protocol/conversation.ts';

/** Which conversations the inbox lists. */
export type InboxFilter = 'open' | 'all';

/** Newest activity first; ties broken by id so the order is stable. */
export function sortByActivity(list: readonly ConversationSummary[]): ConversationSummary[] {
  return [...list].sort((a, b) => {
    if (a.lastActivityAt !== b.lastActivityAt) return a.lastActivityAt < b.lastActivityAt ? 1 : -1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

/** Whose conversations the inbox lists: the agent's own, the unassigned ones, or everyone's. */
export type AssigneeView = 'mine' | 'unassigned' | 'all';

/** The assignee view with the signed-in agent it is seen by. */
export interface AssigneeScope {
  view: AssigneeView;
  agentId: string | undefined;
}

/** True when `summary` belongs in the inbox under `filter` (and, when given, the assignee scope). */
export function matchesFilter(summary: ConversationSummary, filter: InboxFilter, scope?: AssigneeScope): boolean {
  if (filter !== 'all' && summary.state !== 'open') return false;
  if (!scope || scope.view === 'all') return true;
  return scope.view === 'mine' ? summary.assigneeId === scope.agentId : summary.assigneeId === undefined;
}

/**
 * Puts a changed conversation into the list (or takes it out when the filter no longer admits it) and
 * re-sorts. A copy older than the one listed (lower rev) is ignored, so a late event cannot undo a newer one.
 */
export function upsertConversation(
  list: readonly ConversationSummary[],
  summary: ConversationSummary,
  filter: InboxFilter,
  scope?: AssigneeScope,
): ConversationSummary[] {
  const current = list.find((c) => c.id === summary.id);
  // An assignee change leaves rev as it is: only a lower rev is older.
  if (current && current.rev > summary.rev) return [...list];
  const rest = list.filter((c) => c.id !== summary.id);
  if (!matchesFilter(summary, filter, scope)) return rest;
  return sortByActivity([...rest, summary]);
}

/** Changes one conversation in place by id (presence, a local read), keeping the order. */
export function patchConversation(
  list: readonly ConversationSummary[],
  id: string,
  patch: Partial<ConversationSummary>,
): ConversationSummary[] {
  return list.map((c) => (c.id === id ? { ...c, ...patch } : c));
}

/** The list without conversation `id` (it was erased: no later update may bring it back). */
export function removeConversation(list: readonly ConversationSummary[], id: string): ConversationSummary[] {
  return list.filter((c) => c.id !== id);
}

/** Sum of unread visitor messages over the listed conversations (the tab title count). */
export function totalUnread(list: readonly ConversationSummary[]): number {
  return list.reduce((sum, c) => sum + c.unread, 0);
}

/**
 * A fresh list from the bridge, merged with what live events already brought: a listed copy older than the one
 * shown (an event arrived while the list was on its way) does not replace it.
 */
export function mergeListed(
  current: readonly ConversationSummary[],
  listed: readonly ConversationSummary[],
): ConversationSummary[] {
  const shown = new Map(current.map((c) => [c.id, c]));
  return sortByActivity(
    listed.map((c) => {
      const live = shown.get(c.id);
      return live && live.rev > c.rev ? live : c;
    }),
  );
}
