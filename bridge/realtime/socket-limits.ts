/**
 * The rate limiters of one bridge's Socket.IO side. Per-socket budgets (messages, events, typing) are counted on the
 * node holding the socket: its id exists nowhere else, so sharing them would add a database round trip to every event
 * and change no decision. Across a cluster, how many sockets one IP opens is bounded by the connection rate, which is
 * shared by every node through the store, so an IP gets the same budget from a cluster as from one node.
 */
import type { RateLimits } from '../config.ts';
import { RateLimiter, SharedRateLimiter } from '../rate-limiter.ts';
import type { BridgeMetrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import { VISITOR_CONTEXT_REPORTS_PER_MINUTE } from '../../protocol/visitor-context.ts';

/** One limiter per kind of traffic; keys are socket ids (events) or client IPs (connections). */
export interface SocketLimiters {
  messages: RateLimiter;
  events: RateLimiter;
  typing: RateLimiter;
  /** Visitor context reports: a fixed budget well above what the widget sends (protocol/visitor-context.ts). */
  context: RateLimiter;
  connections: SharedRateLimiter;
}

/** Builds the limiters from the configured rates; refusals are counted in `metrics` when given. */
export function createSocketLimiters(
  limits: RateLimits,
  store: Pick<Store, 'takeRateToken'>,
  now: () => number,
  metrics?: BridgeMetrics,
): SocketLimiters {
  return {
    messages: new RateLimiter(limits.messagesPerMinute, now, () => metrics?.rateLimitRefused('messages')),
    events: new RateLimiter(limits.eventsPerMinute, now, () => metrics?.rateLimitRefused('events')),
    typing: new RateLimiter(limits.typingPerMinute, now, () => metrics?.rateLimitRefused('typing')),
    context: new RateLimiter(VISITOR_CONTEXT_REPORTS_PER_MINUTE, now, () => metrics?.rateLimitRefused('context')),
    connections: new SharedRateLimiter(store, 'connections', limits.connectionsPerMinute, () =>
      metrics?.rateLimitRefused('connections'),
    ),
  };
}

/** Forgets a disconnected socket's buckets. */
export function forgetSocket(limiters: SocketLimiters, socketId: string): void {
  limiters.messages.forget(socketId);
  limiters.events.forget(socketId);
  limiters.typing.forget(socketId);
  limiters.context.forget(socketId);
}
