/**
 * The `rev` continuity rule clients rely on: every change of a stored message (created, status advanced) takes its
 * conversation's next `rev`, so a client that has every change up to its cursor knows the rev the next live event must
 * carry. An event further ahead means events were lost on the way (with several bridges, Socket.IO's PostgreSQL
 * adapter drops broadcasts while a node's LISTEN connection reconnects): the client syncs from its cursor.
 */

/** How a live event's rev relates to a client's cursor: already had, the next one, or past a gap. */
export type RevStep = 'seen' | 'next' | 'gap';

/** Classifies a live event's `rev` against `cursor` (the highest rev up to which the client has every change). */
export function revStep(cursor: number, rev: number): RevStep {
  if (rev <= cursor) return 'seen';
  return rev === cursor + 1 ? 'next' : 'gap';
}
