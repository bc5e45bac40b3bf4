/**
 * The signed-in agent's own account: `POST /api/auth/logout`, `POST /api/auth/password`, `PATCH /api/auth/me`
 * (display name), `PUT /api/auth/availability` (Online or Away), and `POST /api/auth/invite` where an invited agent sets their password.
 */
import { Router, type Request } from 'express';
import { availabilityUpdateSchema, inviteAcceptSchema, passwordChangeSchema, profileUpdateSchema } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { isAgentPassword, toAgentAccount } from '../auth/agent-accounts.ts';
import { redeemInvite } from '../auth/agent-invites.ts';
import { disconnectAgentSockets, endAgentSession, startAgentSession } from '../auth/agent-sessions.ts';
import { hashPassword } from '../auth/password.ts';
import { forgetSessionSubscriptions } from '../push/push-subscriptions.ts';
import { callerOf, requireBearer, type RestCaller } from './bearer-auth.ts';
import { requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';

/** The calling agent; the API key has no account of its own (403). */
function agentCaller(req: Request): Extract<RestCaller, { kind: 'agent' }> {
  const caller = callerOf(req);
  if (caller.kind !== 'agent') throw new BridgeError('forbidden', 'The API key has no account; sign in as an agent.');
  return caller;
}

/** The account router (mounted under /api, after JSON parsing). */
export function accountRouter(ctx: BridgeContext): Router {
  const router = Router();
  const secret = ctx.config.secrets.agentToken;

  router.post('/auth/logout', requireBearer(ctx), requireJsonBody, async (req, res) => {
    const caller = agentCaller(req);
    await endAgentSession(ctx.store, ctx.agentNs, caller.sessionId);
    await forgetSessionSubscriptions(ctx.store, caller.agent.id, caller.sessionId);
    ctx.logger.info({ agentId: caller.agent.id, reqId: requestIdOf(req) }, 'agent signed out');
    res.status(204).end();
  });

  // Every session ends (a stolen token with it); the caller gets a new one so this console carries on.
  router.post('/auth/password', requireBearer(ctx), requireJsonBody, async (req, res) => {
    const caller = agentCaller(req);
    const parsed = passwordChangeSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    if (!(await isAgentPassword(caller.agent, parsed.data.current))) {
      throw new BridgeError('forbidden', 'The current password is wrong.', { current: 'wrong password' });
    }
    const agent = await ctx.store.updateAgent(caller.agent.id, {
      passwordHash: await hashPassword(parsed.data.next),
      revokeSessions: true,
    });
    disconnectAgentSockets(ctx.agentNs, agent.id);
    ctx.logger.info({ agentId: agent.id, reqId: requestIdOf(req) }, 'agent changed their password');
    res.setHeader('Cache-Control', 'no-store');
    res.json(await startAgentSession(ctx.store, secret, agent, ctx.clock()));
  });

  router.patch('/auth/me', requireBearer(ctx), requireJsonBody, async (req, res) => {
    const caller = agentCaller(req);
    const parsed = profileUpdateSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const agent = await ctx.store.updateAgent(caller.agent.id, { displayName: parsed.data.displayName });
    // Their sockets reconnect carrying the new name: replies from now on show it.
    disconnectAgentSockets(ctx.agentNs, agent.id);
    res.json({ agent: toAgentAccount(agent) });
  });

  // Sockets stay connected: they join or leave the available room on every node.
  router.put('/auth/availability', requireBearer(ctx), requireJsonBody, async (req, res) => {
    const caller = agentCaller(req);
    const parsed = availabilityUpdateSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const agent = await ctx.availability.setAgentAvailability(caller.agent.id, parsed.data.availability);
    ctx.logger.info({ agentId: agent.id, availability: agent.availability, reqId: requestIdOf(req) }, 'agent availability set');
    res.json({ agent: toAgentAccount(agent) });
  });

  router.post('/auth/invite', requireJsonBody, async (req, res) => {
    const parsed = inviteAcceptSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const refused = new BridgeError('unauthorized', 'This invite link is not valid any more. Ask an admin for a new one.');
    const agentId = await redeemInvite(ctx.store, parsed.data.token, ctx.clock());
    if (agentId === undefined) throw refused;
    const current = await ctx.store.getAgent(agentId);
    if (!current?.active) throw refused;
    const agent = await ctx.store.updateAgent(agentId, {
      passwordHash: await hashPassword(parsed.data.password),
      revokeSessions: true,
    });
    ctx.logger.info({ agentId, reqId: requestIdOf(req) }, 'agent accepted their invite');
    res.setHeader('Cache-Control', 'no-store');
    res.json(await startAgentSession(ctx.store, secret, agent, ctx.clock()));
  });
  return router;
}
