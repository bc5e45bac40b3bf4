/**
 * The hot webhook POSTs answered by a plain `http` request handler ahead of Express: a signed status webhook then
 * costs one body read, one HMAC, one parse and the apply, without Express's per-request router, prototype swaps
 * and body-parser stream plumbing, a measurable share of a webhook's CPU (docs/performance.md). Only the ordinary
 * request shape takes this path — a declared length within the route's limit, no transfer or content encoding, a
 * plain JSON content type — and gets the same answers, JSON error shapes, headers that matter and logs as the
 * Express route; every other request (chunked, compressed, oversized, another content type, a trailing slash…) is
 * left untouched to the Express route, which stays mounted and keeps answering the unusual cases exactly as before.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BridgeError } from '../api-error.ts';
import { errorAnswer } from '../http/error-middleware.ts';
import { requestIdOf } from '../http/request-id.ts';
import { logRequest } from '../http/request-log.ts';

/** One POST route served on the fast path. */
export interface FastWebhookRoute {
  /** Largest body in bytes (the Express route's body-parser limit; larger ones go to Express for its 413). */
  limit: number;
  /** False when the route is not configured: Express answers it (its 404 text names the missing setting). */
  enabled(): boolean;
  /** Verifies and applies the raw body; returns the 200 JSON answer or throws (a BridgeError for client errors). */
  accept(raw: Buffer, headers: IncomingHttpHeaders, reqId: string | undefined): Promise<unknown>;
}

/** Serves a request if it is one of `routes`' ordinary requests; returns false (nothing read) to leave it to Express. */
export type FastPathHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Content types that `req.is('application/json')` accepts and that need no further parsing to be sure of it; any
 * other spelling (parameters, odd spacing, `+json` types) takes the Express route and its full check.
 */
const PLAIN_JSON = /^application\/json(?:; ?charset=(?:"utf-8"|utf-8))?$/i;
/** A content-length header as Node passes it on: digits only (it refuses malformed ones before any handler). */
const DIGITS = /^[0-9]{1,10}$/;

/** The answer Express's `res.json(...)` gives for `body`, with the header the app adds to every response. */
function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'X-Content-Type-Options': 'nosniff',
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Builds the fast-path handler for `routes` (keyed by exact path). */
export function createWebhookFastPath(
  routes: Record<string, FastWebhookRoute>,
  deps: { logger: Logger; storageDegraded: () => boolean },
): FastPathHandler {
  const { logger, storageDegraded } = deps;
  const byPath = new Map(Object.entries(routes));

  const fail = (res: ServerResponse, error: unknown, path: string, reqId: string | undefined): void => {
    const answer = errorAnswer(error, logger, { reqId, method: 'POST', path }, storageDegraded);
    sendJson(res, answer.status, answer.body, answer.headers);
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const route = byPath.get(path);
    if (!route) return false;
    const { headers } = req;
    const length = headers['content-length'];
    if (
      length === undefined ||
      !DIGITS.test(length) ||
      Number(length) > route.limit ||
      headers['transfer-encoding'] !== undefined ||
      headers['content-encoding'] !== undefined ||
      headers['content-type'] === undefined ||
      !PLAIN_JSON.test(headers['content-type']) ||
      !route.enabled()
    ) {
      return false;
    }

    const reqId = requestIdOf(req);
    logRequest(logger, req, res, () => path);

    const expected = Number(length);
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    // A client that goes away mid-body gets no answer (there is no one to read it); nothing was applied.
    req.on('error', () => undefined);
    req.on('end', () => {
      // Node's parser delivers exactly content-length bytes; a mismatch would be a bug, answered as body-parser does.
      if (received !== expected) {
        fail(res, new BridgeError('bad_request', 'The request size does not match its length.'), path, reqId);
        return;
      }
      const raw = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, received);
      route.accept(raw, headers, reqId).then(
        (answer) => sendJson(res, 200, answer),
        (error: unknown) => fail(res, error, path, reqId),
      );
    });
    return true;
  };
}
