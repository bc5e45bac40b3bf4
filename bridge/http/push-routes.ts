/**
 * Web Push opt-in of the signed-in agent's browser: `GET /api/push/config` (the VAPID public key the console subscribes
 * with; 404 while Web Push is off), `POST /api/push/subscriptions` (keep this browser's subscription) and
 * `DELETE /api/push/subscriptions` (forget it).
 */
import { Router, type Request } from 'express';
import { pushSubscriptionSchema, pushUnsubscribeSchema } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { callerOf, requireBearer } from './bearer-auth.ts';
import { requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';
import { assertLiteralHostAllowed } from '../webhooks/ssrf-guard.ts';
import { deleteSubscription, saveSubscription } from '../push/push-subscriptions.ts';

function agentOf(req: Request): { agentId: string; sessionId: string } {
  const caller = callerOf(req);
  if (caller.kind !== 'agent') throw new BridgeError('forbidden', 'The API key has no account; sign in as an agent.');
  return { agentId: caller.agent.id, sessionId: caller.sessionId };
}

/** The push router (mounted under /api, after JSON parsing). */
export function pushRouter(ctx: BridgeContext): Router {
  const router = Router();
  const settings = ctx.config.push;
  router.use('/push', requireBearer(ctx), (_req, _res, next) => {
    next(settings ? undefined : new BridgeError('not_found', 'Web Push is off on this bridge (no VAPID keys).'));
  });

  router.get('/push/config', (_req, res) => {
    res.json({ publicKey: settings!.publicKey });
  });

  router.post('/push/subscriptions', requireJsonBody, async (req, res) => {
    const { agentId, sessionId } = agentOf(req);
    const parsed = pushSubscriptionSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const endpoint = new URL(parsed.data.endpoint);
    const { allowPrivate } = ctx.config.webhooks.events;
    // The bridge will POST to this URL: the same guard as webhook receivers (host names are checked again when sent).
    let refused: string | undefined;
    if (endpoint.protocol !== 'https:' && !allowPrivate) refused = 'must be an https:// URL';
    else if (!allowPrivate) {
      try {
        assertLiteralHostAllowed(endpoint);
      } catch {
        refused = 'must not be a private or reserved address';
      }
    }
    if (refused) throw new BridgeError('bad_request', 'The push endpoint is refused.', { endpoint: refused });
    const stored = await saveSubscription(ctx.store, agentId, parsed.data, sessionId, ctx.clock());
    ctx.logger.info({ agentId, subscriptionId: stored.id, reqId: requestIdOf(req) }, 'push subscription kept');
    res.status(201).json({ id: stored.id });
  });

  router.delete('/push/subscriptions', requireJsonBody, async (req, res) => {
    const { agentId } = agentOf(req);
    const parsed = pushUnsubscribeSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    await deleteSubscription(ctx.store, agentId, parsed.data.endpoint);
    res.status(204).end();
  });
  return router;
}
