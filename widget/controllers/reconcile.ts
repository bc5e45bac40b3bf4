/**
 * Pure reconciliation of the visitor's message list: optimistic copies are replaced by the server's copy with the
 * same clientId, statuses only move up in rank, stored messages are ordered by seq and unsent ones follow in
 * outbox order. Every function returns a new array and never mutates its input.
 */
import type { LocalMessage, Message, StatusChange } from '../../protocol/message.ts';
import { STATUS_RANK, maxStatus } from '../../protocol/status.ts';

function findIndex(list: readonly LocalMessage[], id: string | undefined, clientId: string, role?: string): number {
  if (id !== undefined) {
    const byId = list.findIndex((m) => m.id === id);
    if (byId !== -1) return byId;
  }
  // An optimistic copy has no id yet: match it by the idempotency key the sender chose.
  // Client ids are chosen by each sender, so only a copy by the same kind of author can be the same message.
  return list.findIndex((m) => m.id === undefined && m.clientId === clientId && (role === undefined || m.author.role === role));
}

/** Combines what is known of one message: the newer content, the higher status, every recorded status time. */
export function mergeMessage(existing: LocalMessage, incoming: LocalMessage): LocalMessage {
  // The optimistic copy knew nothing the stored copy does not: the server's copy replaces it whole.
  if (existing.seq === undefined) return { ...incoming };
  const newer = (incoming.rev ?? 0) >= (existing.rev ?? 0) ? incoming : existing;
  const status = maxStatus(existing.status, incoming.status);
  const failure = status === 'failed' ? (incoming.failure ?? existing.failure) : undefined;
  const merged: LocalMessage = {
    ...newer,
    status,
    rev: Math.max(existing.rev ?? 0, incoming.rev ?? 0),
    statusAt: { ...existing.statusAt, ...incoming.statusAt },
  };
  if (failure) merged.failure = failure;
  else delete merged.failure;
  return merged;
}

/** Orders stored messages by seq; unsent ones (no seq) keep their relative order after all stored ones. */
export function sortMessages(list: readonly LocalMessage[]): LocalMessage[] {
  return list
    .map((m, i) => ({ m, i }))
    .sort((a, b) => (a.m.seq ?? Infinity) - (b.m.seq ?? Infinity) || a.i - b.i)
    .map(({ m }) => m);
}

/** Inserts or merges stored messages (from an ack, a live event, sync or history). */
export function upsertMessages(list: readonly LocalMessage[], incoming: readonly Message[]): LocalMessage[] {
  if (incoming.length === 0) return list.slice();
  const next = list.slice();
  let appendedOnly = true;
  const lastSeq = (): number => {
    for (let i = next.length - 1; i >= 0; i--) {
      const seq = next[i]!.seq;
      if (seq !== undefined) return seq;
    }
    return 0;
  };
  for (const message of incoming) {
    const index = findIndex(next, message.id, message.clientId, message.author.role);
    if (index === -1) {
      if (message.seq <= lastSeq() || next.some((m) => m.seq === undefined)) appendedOnly = false;
      next.push(message);
    } else {
      next[index] = mergeMessage(next[index]!, message);
      if (list[index]?.seq === undefined) appendedOnly = false;
    }
  }
  // Sorting thousands of messages for every live message is wasted work when it only appended in order.
  return appendedOnly ? next : sortMessages(next);
}

/**
 * Applies a pushed status change. A change that is not an advance in rank is ignored and the same array is returned,
 * so callers can skip work for the many redundant changes a receipt produces.
 */
export function applyStatusChange(list: readonly LocalMessage[], change: StatusChange): readonly LocalMessage[] {
  const index = findIndex(list, change.messageId, change.clientId);
  const current = list[index];
  if (!current || STATUS_RANK[change.status] <= STATUS_RANK[current.status]) return list;
  const next = list.slice();
  const updated: LocalMessage = {
    ...current,
    status: change.status,
    rev: Math.max(current.rev ?? 0, change.rev),
    statusAt: { ...current.statusAt, [change.status]: change.at },
  };
  if (change.failure) updated.failure = change.failure;
  next[index] = updated;
  return next;
}

/** Adds or replaces an unsent (optimistic or failed) message, keyed by clientId. */
export function upsertLocal(list: readonly LocalMessage[], local: LocalMessage): LocalMessage[] {
  const index = list.findIndex((m) => m.id === undefined && m.clientId === local.clientId);
  if (index === -1) {
    // Already stored (an echo or sync won the race): the stored copy is the truth.
    if (list.some((m) => m.clientId === local.clientId && m.author.role === local.author.role)) return list.slice();
    return [...list, local];
  }
  const next = list.slice();
  next[index] = local;
  return next;
}

/** Removes an unsent message (by clientId) that will never be sent, e.g. after reset. */
export function removeLocal(list: readonly LocalMessage[], clientId: string): LocalMessage[] {
  return list.filter((m) => !(m.id === undefined && m.clientId === clientId));
}

/** Highest seq among stored messages of the given roles (0 when none). */
export function maxSeq(list: readonly LocalMessage[], accept: (m: LocalMessage) => boolean = () => true): number {
  let max = 0;
  for (const m of list) if (m.seq !== undefined && m.seq > max && accept(m)) max = m.seq;
  return max;
}

/** Lowest seq among stored messages (undefined when none is stored). */
export function minSeq(list: readonly LocalMessage[]): number | undefined {
  let min: number | undefined;
  for (const m of list) if (m.seq !== undefined && (min === undefined || m.seq < min)) min = m.seq;
  return min;
}

/** Messages from the other side (agent or system) the visitor has not read. */
export function countUnread(list: readonly LocalMessage[], readUpToSeq: number): number {
  let n = 0;
  for (const m of list) {
    if (m.author.role !== 'visitor' && m.seq !== undefined && m.seq > readUpToSeq && m.status !== 'read') n++;
  }
  return n;
}
