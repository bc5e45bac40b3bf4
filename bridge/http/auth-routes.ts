/** `POST /api/auth/login` (name + password → agent bearer token) and `GET /api/auth/me`. */
import { Router } from 'express';
import { loginSchema } from '../../protocol/schemas.ts';
import type { LoginResult } from '../../protocol/events.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { checkAgentLogin } from '../auth/agent-accounts.ts';
import { signAgentToken } from '../auth/agent-token.ts';
import { RateLimiter } from '../rate-limiter.ts';
import { callerOf, requireBearer } from './bearer-auth.ts';
import { rateLimit, requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';

/** The auth router (mounted under /api, after JSON parsing). */
export function authRouter(ctx: BridgeContext): Router {
  const router = Router();
  const loginLimiter = new RateLimiter(
    ctx.config.rateLimits.loginPerMinute,
    () => ctx.clock().getTime(),
    () => ctx.metrics.rateLimitRefused('login'),
  );

  router.post('/auth/login', rateLimit(loginLimiter), requireJsonBody, async (req, res) => {
    const parsed = loginSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const agent = await checkAgentLogin(ctx.store, parsed.data.name, parsed.data.password);
    if (!agent) throw new BridgeError('unauthorized', 'Wrong name or password.');
    const { token, expiresAt } = await signAgentToken(
      ctx.config.secrets.agentToken,
      { agentId: agent.id, name: agent.name },
      ctx.clock(),
    );
    const result: LoginResult = { token, agent: { id: agent.id, name: agent.name }, expiresAt: expiresAt.toISOString() };
    ctx.logger.info({ agentId: agent.id, reqId: requestIdOf(req) }, 'agent logged in');
    res.json(result);
  });

  router.get('/auth/me', requireBearer(ctx), (req, res) => {
    const caller = callerOf(req);
    res.json(
      caller.kind === 'agent'
        ? { kind: 'agent', agent: { id: caller.agentId, name: caller.name } }
        : { kind: 'api_key' },
    );
  });
  return router;
}
