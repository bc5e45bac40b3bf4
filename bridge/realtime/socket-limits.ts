/** The per-socket and per-IP rate limiters of one bridge's Socket.IO side. */
import type { RateLimits } from '../config.ts';
import { RateLimiter } from '../rate-limiter.ts';
import type { BridgeMetrics } from '../metrics.ts';

/** One limiter per kind of traffic; keys are socket ids (events) or client IPs (connections). */
export interface SocketLimiters {
  messages: RateLimiter;
  events: RateLimiter;
  typing: RateLimiter;
  connections: RateLimiter;
}

/** Builds the limiters from the configured rates; refusals are counted in `metrics` when given. */
export function createSocketLimiters(limits: RateLimits, now: () => number, metrics?: BridgeMetrics): SocketLimiters {
  return {
    messages: new RateLimiter(limits.messagesPerMinute, now, () => metrics?.rateLimitRefused('messages')),
    events: new RateLimiter(limits.eventsPerMinute, now, () => metrics?.rateLimitRefused('events')),
    typing: new RateLimiter(limits.typingPerMinute, now, () => metrics?.rateLimitRefused('typing')),
    connections: new RateLimiter(limits.connectionsPerMinute, now, () => metrics?.rateLimitRefused('connections')),
  };
}

/** Forgets a disconnected socket's buckets. */
export function forgetSocket(limiters: SocketLimiters, socketId: string): void {
  limiters.messages.forget(socketId);
  limiters.events.forget(socketId);
  limiters.typing.forget(socketId);
}
