/** Delivery states of a message, seen from its sender. `sending` exists only on the sender's side. */
export const MessageStatus = {
  sending: 'sending',
  sent: 'sent',
  failed: 'failed',
  delivered: 'delivered',
  read: 'read',
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

/** Statuses the server stores (a stored message is at least `sent`). */
export type StoredStatus = Exclude<MessageStatus, 'sending'>;

/**
 * Rank of each status. A status only ever moves to a higher rank.
 * `failed` sits between `sent` and `delivered`: a failure report after the recipient already got the message
 * (a late or replayed webhook) must not turn a delivered tick into an error; before delivery it wins over `sent`.
 */
export const STATUS_RANK: Readonly<Record<MessageStatus, number>> = {
  sending: 0,
  sent: 1,
  failed: 2,
  delivered: 3,
  read: 4,
};

/** True when moving from `current` to `next` is an advance (never backwards, never a repeat). */
export function isStatusAdvance(current: MessageStatus, next: MessageStatus): boolean {
  return STATUS_RANK[next] > STATUS_RANK[current];
}

/** The higher-ranked of two statuses. */
export function maxStatus<S extends MessageStatus>(a: S, b: S): S {
  return STATUS_RANK[b] > STATUS_RANK[a] ? b : a;
}
