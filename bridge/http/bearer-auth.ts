/** REST authentication: `Authorization: Bearer <agent token>` or `Bearer <API_KEY>`. */
import type { Request, RequestHandler } from 'express';
import type { Author } from '../../protocol/message.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError } from '../api-error.ts';
import { verifyAgentToken } from '../auth/agent-token.ts';
import { isApiKey } from '../auth/api-key.ts';

/** Who made an authenticated REST request. */
export type RestCaller =
  | { kind: 'agent'; agentId: string; name: string }
  | { kind: 'api_key' };

/** The caller set by `requireBearer`. */
export function callerOf(req: Request): RestCaller {
  const caller = (req as Request & { caller?: RestCaller }).caller;
  if (!caller) throw new BridgeError('unauthorized', 'Authentication is required.');
  return caller;
}

/** How a caller appears as a message author. */
export function authorOf(caller: RestCaller): Author {
  return caller.kind === 'agent'
    ? { role: 'agent', agentId: caller.agentId, name: caller.name }
    : { role: 'agent', name: 'API' };
}

/**
 * Who may erase conversations. Agents have no roles yet (issue #13 adds them), so every agent account counts as an
 * admin today and so does the site owner's API key; once roles exist, an agent without the admin role gets 403 here.
 */
export function mayErase(caller: RestCaller): boolean {
  return caller.kind === 'api_key' || caller.kind === 'agent';
}

/** Refuses erasure to callers that may not erase (403); mount after `requireBearer`. */
export const requireEraser: RequestHandler = (req, _res, next) => {
  if (!mayErase(callerOf(req))) return next(new BridgeError('forbidden', 'Only admins may erase conversations.'));
  next();
};

/** Refuses requests without a valid agent token or API key (401). */
export function requireBearer(ctx: BridgeContext): RequestHandler {
  return async (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([^\s]{1,4096})$/.exec(header);
    if (!match?.[1]) return next(new BridgeError('unauthorized', 'Authentication is required.'));
    const presented = match[1];
    let caller: RestCaller | undefined;
    if (isApiKey(ctx.config.apiKey, presented)) caller = { kind: 'api_key' };
    else {
      const claims = await verifyAgentToken(ctx.config.secrets.agentToken, presented, ctx.clock());
      const agent = claims ? await ctx.store.getAgent(claims.agentId) : undefined;
      if (agent) caller = { kind: 'agent', agentId: agent.id, name: agent.name };
    }
    if (!caller) return next(new BridgeError('unauthorized', 'The token is not valid.'));
    (req as Request & { caller?: RestCaller }).caller = caller;
    next();
  };
}
