/**
 * Turns a socket event into validate → rate limit → run → ack, for every event of both namespaces, and answers
 * events the contract does not know with `chat:error` `bad_request`.
 */
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import type { Ack, ApiError } from '../../protocol/errors.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, toApiError, validationError } from '../api-error.ts';
import type { RateLimiter } from '../rate-limiter.ts';

type Reply = (res: Ack<unknown>) => void;

/** The ack callback if the client asked for one, else a reply that reports failures as `chat:error`. */
function replyFor(socket: Socket, args: unknown[]): Reply {
  const last = args.at(-1);
  if (typeof last === 'function') {
    args.pop();
    return (res) => (last as Reply)(res);
  }
  return (res) => {
    if (!res.ok) socket.emit('chat:error', res.error);
  };
}

/** Options of one event handler. */
export interface EventHandler<S extends z.ZodType, T> {
  schema: S;
  limiter: RateLimiter;
  /**
   * Does the work; its result is the ack's data. Throw `BridgeError` for client errors. Work passed to `afterAck`
   * runs once the ack is sent (the broadcast of a new message, so the sender hears its ack first).
   */
  run: (payload: z.infer<S>, afterAck: (work: () => Promise<void>) => void) => Promise<T>;
  /** Told the seconds from receiving the event to sending its successful ack (the send→ack latency metric). */
  observeAck?: (seconds: number) => void;
}

/** Registers `event` on `socket` with validation, the socket's rate limit and a closed-set error ack. */
export function onEvent<S extends z.ZodType, T>(
  ctx: BridgeContext,
  socket: Socket,
  event: string,
  handler: EventHandler<S, T>,
): void {
  const { observeAck } = handler;
  socket.on(event, async (...args: unknown[]) => {
    const started = observeAck ? performance.now() : 0;
    const reply = replyFor(socket, args);
    const limited = handler.limiter.take(socket.id);
    if (!limited.ok) {
      reply({ ok: false, error: rateLimited(limited.retryAfterMs) });
      return;
    }
    const parsed = handler.schema.safeParse(args[0]);
    if (!parsed.success || args.length > 1) {
      const error = parsed.success
        ? new BridgeError('bad_request', 'Unexpected extra arguments.')
        : validationError(parsed.error);
      reply({ ok: false, error: error.toApiError() });
      return;
    }
    let result: T;
    let after: (() => Promise<void>) | undefined;
    try {
      result = await handler.run(parsed.data, (work) => {
        after = work;
      });
    } catch (error) {
      reply({
        ok: false,
        error: toApiError(error, ctx.logger, { event, socket: socket.id }, !ctx.store.health().ok),
      });
      return;
    }
    reply({ ok: true, data: result });
    observeAck?.((performance.now() - started) / 1000);
    if (after) {
      try {
        await after();
      } catch (error) {
        ctx.logger.error({ err: error, event }, 'after-ack step failed');
      }
    }
  });
}

/** The `rate_limited` error with its retry hint. */
export function rateLimited(retryAfterMs: number): ApiError {
  return { code: 'rate_limited', message: 'Too many requests; slow down.', retryAfterMs };
}

/** Answers every event not in `known` with `bad_request` (ack if asked for, else `chat:error`). */
export function refuseUnknownEvents(socket: Socket, known: ReadonlySet<string>): void {
  socket.onAny((event: string, ...args: unknown[]) => {
    if (known.has(event)) return;
    const reply = replyFor(socket, args);
    reply({ ok: false, error: { code: 'bad_request', message: `Unknown event "${String(event).slice(0, 50)}".` } });
  });
}
