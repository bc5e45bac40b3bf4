/** Small request guards: per-IP rate limits and the JSON content-type requirement for bodies. */
import type { RequestHandler } from 'express';
import { BridgeError } from '../api-error.ts';
import type { SharedRateLimiter } from '../rate-limiter.ts';

/**
 * 429 `rate_limited` when the client IP (Express `req.ip`, proxy-aware per TRUST_PROXY) is over `limiter`, which
 * every node of a cluster shares.
 */
export function rateLimit(limiter: SharedRateLimiter): RequestHandler {
  return async (req, _res, next) => {
    const decision = await limiter.take(req.ip ?? 'unknown');
    if (decision.ok) return next();
    next(new BridgeError('rate_limited', 'Too many requests; slow down.', undefined, decision.retryAfterMs));
  };
}

/** 415 for a request that carries a body that is not `application/json`. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is('application/json')) {
    return next(new BridgeError('unsupported_media_type', 'Send the body as application/json.'));
  }
  next();
};
