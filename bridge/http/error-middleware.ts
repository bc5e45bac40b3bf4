/**
 * The one JSON error renderer, used by the error middleware (mounted last) and the webhook fast path, and the 404
 * handler: every HTTP failure becomes `{error: {code, message, fields?}}` with a fitting status; never a stack, never
 * a 500 for bad input.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { ApiError, ErrorCode } from '../../protocol/errors.ts';
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import { BridgeError, toApiError } from '../api-error.ts';
import { requestIdOf } from './request-id.ts';

/** HTTP status of each error code. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  text_empty: 400,
  text_too_long: 400,
  text_invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  upstream_failed: 502,
  storage_unavailable: 503,
};

// body-parser (used by express.json) marks its errors with a `type`; map them to our codes.
const PARSER_ERRORS: Record<string, BridgeError> = {
  'entity.parse.failed': new BridgeError('bad_request', 'The body is not valid JSON.'),
  'entity.too.large': new BridgeError('payload_too_large', 'The body is too large.'),
  'encoding.unsupported': new BridgeError('unsupported_media_type', 'The body encoding is not supported.'),
  'charset.unsupported': new BridgeError('unsupported_media_type', 'The body charset is not supported.'),
  'request.aborted': new BridgeError('bad_request', 'The request was aborted.'),
  'request.size.invalid': new BridgeError('bad_request', 'The request size does not match its length.'),
  'stream.encoding.set': new BridgeError('internal', 'The request could not be read.'),
};

/** Answers unmatched routes with `not_found`. */
export const notFound: RequestHandler = (_req, _res, next) => {
  next(new BridgeError('not_found', 'No such resource.'));
};

/** The JSON answer to a failed HTTP request. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: { error: ApiError };
}

/**
 * The answer for any thrown value: client errors keep their code; anything else is logged (with `request`) and
 * answered with a fixed text. `storageDegraded` is asked only for an unexpected error.
 */
export function errorAnswer(
  error: unknown,
  logger: Logger,
  request: { reqId: string | undefined; method: string | undefined; path: string },
  storageDegraded: () => boolean,
): ErrorAnswer {
  const parserType = (error as { type?: unknown } | undefined)?.type;
  const known = typeof parserType === 'string' ? PARSER_ERRORS[parserType] : undefined;
  let body: ApiError;
  if (known) body = known.toApiError();
  else if (typeof (error as { status?: unknown })?.status === 'number' && (error as { status: number }).status < 500
    && !(error instanceof BridgeError)) {
    // Other client errors raised by Express itself (e.g. a malformed URI): a 4xx, never their text.
    body = { code: 'bad_request', message: 'The request is not valid.' };
  } else body = toApiError(error, logger, request, storageDegraded());
  const headers: Record<string, string> = {};
  if (body.code === 'rate_limited' && body.retryAfterMs !== undefined) {
    headers['Retry-After'] = String(Math.ceil(body.retryAfterMs / 1000));
  }
  return { status: HTTP_STATUS[body.code], headers, body: { error: body } };
}

/** The JSON error middleware. */
export function errorMiddleware(logger: Logger, store: Store): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) return next(error);
    const request = { reqId: requestIdOf(req), method: req.method, path: req.path };
    const answer = errorAnswer(error, logger, request, () => !store.health().ok);
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
    res.status(answer.status).json(answer.body);
  };
}
