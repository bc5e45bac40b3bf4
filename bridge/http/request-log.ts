/** The one `http request` log line, written for Express routes and the webhook fast path alike. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { requestIdOf } from './request-id.ts';

/**
 * Logs `req` at debug once `res` has finished: request id, method, path, status and duration. `pathOf` is read at
 * that moment and names the path only, never the query string (it may carry webhook verify tokens).
 */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, pathOf: () => string): void {
  if (!logger.isLevelEnabled('debug')) return;
  const started = performance.now();
  res.on('finish', () =>
    logger.debug(
      { reqId: requestIdOf(req), method: req.method, path: pathOf(), status: res.statusCode, ms: Math.round(performance.now() - started) },
      'http request',
    ),
  );
}
