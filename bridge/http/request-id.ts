/**
 * The request id every HTTP log line carries: a caller's (or proxy's) `X-Request-Id` when it is a sane token,
 * else a fresh one; echoed in the response so a user's report can be matched to the log.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The header carrying the id both ways. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Ids accepted from the outside: short, printable, no spaces or quotes (they end up in JSON logs and headers). */
const SANE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Where a request keeps its id: a symbol property (a WeakMap entry costs more per request and more GC work). */
const REQUEST_ID = Symbol('anon-chat.requestId');
type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string };

/** Gives `req` its id (once) and sets the response header; returns the id. */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const known = (req as WithRequestId)[REQUEST_ID];
  if (known !== undefined) return known;
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming : randomUUID();
  (req as WithRequestId)[REQUEST_ID] = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The id `assignRequestId` gave `req` (undefined for a request that never passed it, e.g. Socket.IO's own). */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as WithRequestId)[REQUEST_ID];
}
