/** `POST /api/auth/login` (name + password → agent bearer token) and `GET /api/auth/me`. */
import { Router, type RequestHandler } from 'express';
import { loginSchema } from '../../protocol/schemas.ts';
import type { AuthMe } from '../../protocol/agents.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { checkAgentLogin, toAgentAccount } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { SharedRateLimiter } from '../rate-limiter.ts';
import { callerOf, requireBearer } from './bearer-auth.ts';
import { rateLimit, requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';

/** The auth router (mounted under /api, after JSON parsing). */
export function authRouter(ctx: BridgeContext): Router {
  const router = Router();
  const loginLimiter = new SharedRateLimiter(ctx.store, 'login', ctx.config.rateLimits.loginPerMinute, () =>
    ctx.metrics.rateLimitRefused('login'),
  );

  router.post('/auth/login', noStore, rateLimit(loginLimiter), requireJsonBody, async (req, res) => {
    const parsed = loginSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    // Per account as well as per IP (bridge/rate-limiter.ts `claimLoginAttempt`): failures from any IP delay the
    // account, for every node; the right password clears them.
    const account = parsed.data.name.toLowerCase();
    const claimed = await ctx.store.claimLoginAttempt(account);
    if (!claimed.ok) {
      ctx.metrics.rateLimitRefused('login_account');
      throw new BridgeError('rate_limited', 'Too many failed logins for this name; try again later.', undefined, claimed.retryAfterMs);
    }
    const agent = await checkAgentLogin(ctx.store, parsed.data.name, parsed.data.password);
    if (!agent) throw new BridgeError('unauthorized', 'Wrong name or password.');
    await ctx.store.clearLoginAttempts(account);
    const result = await startAgentSession(ctx.store, ctx.config.secrets.agentToken, agent, ctx.clock());
    ctx.logger.info({ agentId: agent.id, reqId: requestIdOf(req) }, 'agent logged in');
    res.json(result);
  });

  router.get('/auth/me', requireBearer(ctx), (req, res) => {
    const caller = callerOf(req);
    const attachments = { maxBytes: ctx.config.attachments.maxBytes };
    const me: AuthMe = caller.kind === 'agent' ? { kind: 'agent', agent: toAgentAccount(caller.agent), attachments } : { kind: 'api_key', attachments };
    res.json(me);
  });
  return router;
}

/** Login answers (tokens, refusals) are never kept by a browser or proxy cache. */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};
