/**
 * The team, for admins (and the API key): `GET/POST /api/agents`, `PATCH /api/agents/:id`, and
 * `POST /api/agents/:id/invite` (a new invite link). Agents get 403.
 */
import { Router, type Request } from 'express';
import type { AgentCreated } from '../../protocol/agents.ts';
import { agentCreateSchema, agentUpdateSchema, entityId } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { StoreError } from '../store/store.ts';
import { createAgentAccount, toAgentAccount } from '../auth/agent-accounts.ts';
import { createInvite } from '../auth/agent-invites.ts';
import { disconnectAgentSockets } from '../auth/agent-sessions.ts';
import { requireAdmin, requireBearer } from './bearer-auth.ts';
import { releaseAgentConversations } from '../conversations.ts';
import { requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';

/** `:id` as an agent id; an id that cannot exist is simply not found. */
function agentIdOf(req: Request): string {
  const parsed = entityId.safeParse(req.params.id);
  if (!parsed.success) throw new BridgeError('not_found', 'No such agent.');
  return parsed.data;
}

/** The team router (mounted under /api, after JSON parsing). */
export function agentRouter(ctx: BridgeContext): Router {
  const router = Router();
  router.use('/agents', requireBearer(ctx), requireAdmin);

  router.get('/agents', async (_req, res) => {
    res.json({ agents: (await ctx.store.listAgents()).map(toAgentAccount) });
  });

  router.post('/agents', requireJsonBody, async (req, res) => {
    const parsed = agentCreateSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const now = ctx.clock();
    let agent;
    try {
      agent = await createAgentAccount(ctx.store, parsed.data, now);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'conflict') {
        throw new BridgeError('conflict', 'That name is taken.', { name: 'taken' });
      }
      throw error;
    }
    const result: AgentCreated = { agent: toAgentAccount(agent) };
    if (parsed.data.password === undefined) result.inviteUrl = await createInvite(ctx.store, ctx.config.publicUrl, agent.id, now);
    ctx.logger.info({ agentId: agent.id, role: agent.role, reqId: requestIdOf(req) }, 'agent added');
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json(result);
  });

  router.patch('/agents/:id', requireJsonBody, async (req, res) => {
    const id = agentIdOf(req);
    const parsed = agentUpdateSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const { displayName, role, active, email } = parsed.data;
    let agent;
    try {
      agent = await ctx.store.updateAgent(id, {
        ...(displayName !== undefined ? { displayName } : {}),
        ...(role !== undefined ? { role } : {}),
        ...(active !== undefined ? { active } : {}),
        ...(email !== undefined ? { email } : {}),
        // Deactivating ends every session at once (reactivating brings none back: the epoch has moved on).
        revokeSessions: active === false,
      });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'not_found') throw new BridgeError('not_found', 'No such agent.');
      throw error;
    }
    // Deactivated: their consoles are cut off. Otherwise their sockets reconnect carrying the new name and role.
    disconnectAgentSockets(ctx.agentNs, id);
    if (!agent.active) await releaseAgentConversations(ctx, id);
    ctx.logger.info({ agentId: id, changed: Object.keys(parsed.data), reqId: requestIdOf(req) }, 'agent changed');
    res.json({ agent: toAgentAccount(agent) });
  });

  // A lost or expired link: a new one, and the old one stops working. Only for an active agent without a password
  // (one with a password resets it through their own account or `npm run reset-password`).
  router.post('/agents/:id/invite', requireJsonBody, async (req, res) => {
    const id = agentIdOf(req);
    const agent = await ctx.store.getAgent(id);
    if (!agent) throw new BridgeError('not_found', 'No such agent.');
    if (!agent.active) throw new BridgeError('conflict', 'Reactivate the agent first.');
    if (agent.passwordHash !== '') throw new BridgeError('conflict', 'This agent has set a password already.');
    const result: AgentCreated = {
      agent: toAgentAccount(agent),
      inviteUrl: await createInvite(ctx.store, ctx.config.publicUrl, agent.id, ctx.clock()),
    };
    ctx.logger.info({ agentId: id, reqId: requestIdOf(req) }, 'agent invite issued again');
    res.setHeader('Cache-Control', 'no-store');
    res.json(result);
  });
  return router;
}
