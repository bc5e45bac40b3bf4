/** `GET /metrics`: the Prometheus text exposition, for a scraper presenting `Authorization: Bearer <METRICS_TOKEN>`. */
import { Router } from 'express';
import type { BridgeContext } from '../context.ts';
import { BridgeError } from '../api-error.ts';
import { safeEqual } from '../auth/safe-equal.ts';

/** The metrics router; without METRICS_TOKEN `/metrics` is a 404, as if there were no such endpoint. */
export function metricsRouter(ctx: BridgeContext): Router {
  const router = Router();
  const token = ctx.config.metricsToken;
  router.get('/metrics', async (req, res) => {
    // Answered here rather than left to later routers: the static routes would otherwise serve a page for it.
    if (!token) throw new BridgeError('not_found', 'No such resource.');
    const match = /^Bearer ([^\s]{1,4096})$/.exec(req.headers.authorization ?? '');
    // safeEqual hashes both sides first: timingSafeEqual alone throws on unequal lengths and would leak the length.
    if (!match?.[1] || !safeEqual(match[1], token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new BridgeError('unauthorized', 'A valid metrics token is required.');
    }
    const { contentType, body } = await ctx.metrics.render();
    res.setHeader('Cache-Control', 'no-store');
    res.type(contentType).send(body);
  });
  return router;
}
