/** REST authentication: `Authorization: Bearer <agent token>` or `Bearer <API_KEY>`; and who may do what. */
import type { Request, RequestHandler } from 'express';
import type { Author } from '../../protocol/message.ts';
import type { BridgeContext } from '../context.ts';
import type { AgentRecord } from '../store/store.ts';
import { BridgeError } from '../api-error.ts';
import { resolveAgentSession } from '../auth/agent-sessions.ts';
import { isApiKey } from '../auth/api-key.ts';

/**
 * Who made an authenticated REST request: an agent in one of their sessions, or the site owner's API key (which may
 * do whatever an admin may, and has no password or session).
 */
export type RestCaller = { kind: 'agent'; agent: AgentRecord; sessionId: string } | { kind: 'api_key' };

/** The caller set by `requireBearer`. */
export function callerOf(req: Request): RestCaller {
  const caller = (req as Request & { caller?: RestCaller }).caller;
  if (!caller) throw new BridgeError('unauthorized', 'Authentication is required.');
  return caller;
}

/** How a caller appears as a message author: visitors see an agent's display name, never the login name. */
export function authorOf(caller: RestCaller): Author {
  return caller.kind === 'agent'
    ? { role: 'agent', agentId: caller.agent.id, name: caller.agent.displayName }
    : { role: 'agent', name: 'API' };
}

/** True for admins and the API key: they manage the team and erase conversations. */
export function isAdmin(caller: RestCaller): boolean {
  return caller.kind === 'api_key' || caller.agent.role === 'admin';
}

/** Refuses callers that are not admins (403); mount after `requireBearer`. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!isAdmin(callerOf(req))) return next(new BridgeError('forbidden', 'Only admins may do this.'));
  next();
};

/** Refuses erasure to callers that are not admins (403); mount after `requireBearer`. */
export const requireEraser: RequestHandler = (req, _res, next) => {
  if (!isAdmin(callerOf(req))) return next(new BridgeError('forbidden', 'Only admins may erase conversations.'));
  next();
};

/** Refuses requests without a valid API key or an agent token of a live session (401). */
export function requireBearer(ctx: BridgeContext): RequestHandler {
  return async (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([^\s]{1,4096})$/.exec(header);
    if (!match?.[1]) return next(new BridgeError('unauthorized', 'Authentication is required.'));
    const presented = match[1];
    let caller: RestCaller | undefined;
    if (isApiKey(ctx.config.apiKey, presented)) caller = { kind: 'api_key' };
    else {
      const live = await resolveAgentSession(ctx.store, ctx.config.secrets.agentToken, presented, ctx.clock());
      if (live) caller = { kind: 'agent', agent: live.agent, sessionId: live.sessionId };
    }
    if (!caller) return next(new BridgeError('unauthorized', 'The token is not valid.'));
    (req as Request & { caller?: RestCaller }).caller = caller;
    next();
  };
}
