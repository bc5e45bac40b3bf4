/**
 * Namespace handshakes: who a socket is is decided here, once, from the signed token — never from a later
 * payload. Refusals reach the client as `connect_error` whose message is an error code (`invalid_token`,
 * `invalid_user_hash`, `unauthorized`, `forbidden`, `rate_limited`, `bad_request`).
 */
import type { IncomingMessage } from 'node:http';
import type { ExtendedError, Socket } from 'socket.io';
import { agentAuthSchema, visitorAuthSchema } from '../../protocol/schemas.ts';
import type { BridgeConfig } from '../config.ts';
import type { BridgeContext } from '../context.ts';
import type { AgentSocketState, VisitorSocketState } from './namespaces.ts';
import { resolveAgentSession } from '../auth/agent-sessions.ts';
import { verifyUserHash } from '../auth/user-hash.ts';
import { verifyVisitorToken, type VisitorClaims } from '../auth/visitor-token.ts';
import { randomId } from '../ids.ts';
import { linkVerifiedVisitor, wasErased } from '../conversations.ts';
import type { SocketLimiters } from './socket-limits.ts';

type Next = (err?: ExtendedError) => void;

/** The connect_error a client sees: message is the code, `data` carries code and a readable message. */
function refusal(code: string, message: string): ExtendedError {
  const error = new Error(code) as ExtendedError;
  error.data = { code, message };
  return error;
}

/** Client IP of a request, honouring X-Forwarded-For only when configured to trust a proxy. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** True when `origin` may open the visitor namespace. A missing Origin is a non-browser client or same-origin GET. */
export function isOriginAllowed(config: BridgeConfig, origin: string | undefined): boolean {
  if (config.allowedOrigins === '*' || origin === undefined) return true;
  return config.allowedOrigins.includes(origin);
}

/** How often one refused origin is logged: a page left open retries for as long as it is open. */
export const REFUSED_ORIGIN_LOG_INTERVAL_MS = 60_000;
/** Origins remembered at once; past this the memory starts over (a flood of made-up origins must not grow it). */
const MAX_REMEMBERED_ORIGINS = 10_000;

/**
 * Tells the operator at the default level which page origins are refused (not in ALLOWED_ORIGINS), at most once
 * per REFUSED_ORIGIN_LOG_INTERVAL_MS per origin, with how many refusals the line stands for.
 */
export class RefusedOriginLog {
  private readonly seen = new Map<string, { loggedAt: number; since: number }>();

  constructor(
    private readonly logger: BridgeContext['logger'],
    private readonly clock: () => Date,
  ) {}

  /** Records one refused handshake from `origin`; logs it unless this origin was logged less than a minute ago. */
  note(origin: string): void {
    const now = this.clock().getTime();
    const entry = this.seen.get(origin);
    if (entry && now - entry.loggedAt < REFUSED_ORIGIN_LOG_INTERVAL_MS) {
      entry.since += 1;
      return;
    }
    if (!entry && this.seen.size >= MAX_REMEMBERED_ORIGINS) this.seen.clear();
    this.logger.warn(
      { origin: origin.slice(0, 200), refused: (entry?.since ?? 0) + 1 },
      'visitor connection refused: origin not in ALLOWED_ORIGINS',
    );
    this.seen.set(origin, { loggedAt: now, since: 0 });
  }
}

/** Handshake of `/visitor`: origin, per-IP rate, auth payload, token, verified user → `socket.data`. */
export function visitorHandshake(ctx: BridgeContext, limiters: SocketLimiters) {
  // Two devices of a new verified user connecting at once must end up in one conversation: link one at a time.
  const linking = new Map<string, Promise<string>>();
  const linkOnce = (input: { conversationId: string; userId: string; name: string; site?: string }): Promise<string> => {
    const previous = linking.get(input.userId) ?? Promise.resolve('');
    const current = previous.catch(() => '').then(() => linkVerifiedVisitor(ctx, input));
    linking.set(input.userId, current);
    void current.finally(() => {
      if (linking.get(input.userId) === current) linking.delete(input.userId);
    }).catch(() => undefined);
    return current;
  };
  const refusedOrigins = new RefusedOriginLog(ctx.logger, ctx.clock);
  return async (socket: Socket, next: Next): Promise<void> => {
    try {
      const req = socket.request;
      const origin = req.headers.origin;
      if (!isOriginAllowed(ctx.config, origin)) {
        refusedOrigins.note(origin ?? '');
        return next(refusal('forbidden', 'This site may not open the chat.'));
      }
      const ip = clientIp(req, ctx.config.trustProxy);
      if (!(await limiters.connections.take(ip)).ok) return next(refusal('rate_limited', 'Too many connections; slow down.'));
      const auth = visitorAuthSchema.safeParse(socket.handshake.auth ?? {});
      if (!auth.success) return next(refusal('bad_request', 'The handshake auth is not valid.'));
      const now = ctx.clock();

      let claims: VisitorClaims | undefined;
      if (auth.data.token !== undefined) {
        claims = await verifyVisitorToken(ctx.config.secrets.visitorToken, auth.data.token, now);
        if (!claims) return next(refusal('invalid_token', 'The visitor token is not valid.'));
      }

      let userId: string | undefined;
      if (auth.data.userId !== undefined && auth.data.userHash !== undefined) {
        if (!verifyUserHash(ctx.config.secrets.site, auth.data.userId, auth.data.userHash)) {
          return next(refusal('invalid_user_hash', 'The user hash does not match the user id.'));
        }
        userId = auth.data.userId;
      }

      // A token issued to a verified user continues only for that same user: after a logout (or another user on
      // the same browser) the widget starts a fresh anonymous conversation instead of showing the old one.
      if (claims && claims.userId !== undefined && claims.userId !== userId) claims = undefined;
      // A token of an erased conversation reaches nothing: the widget continues as a new visitor.
      if (claims && (await wasErased(ctx, claims.conversationId))) claims = undefined;
      const visitorId = claims?.visitorId ?? randomId();
      let conversationId = claims?.conversationId ?? randomId();
      const name = auth.data.name?.trim() || `Visitor ${visitorId.slice(0, 4).toUpperCase()}`;

      if (userId !== undefined) {
        conversationId = await linkOnce({ conversationId, userId, name, site: auth.data.site });
      }

      const data: VisitorSocketState = { visitorId, conversationId, name, ip };
      if (userId !== undefined) data.userId = userId;
      if (auth.data.site !== undefined) data.site = auth.data.site;
      socket.data = data;
      next();
    } catch (error) {
      ctx.logger.error({ err: error }, 'visitor handshake failed');
      next(refusal('internal', 'The chat could not connect; try again.'));
    }
  };
}

/** Handshake of `/agent`: per-IP rate, agent token of a live session of an active agent → `socket.data`. */
export function agentHandshake(ctx: BridgeContext, limiters: SocketLimiters) {
  return async (socket: Socket, next: Next): Promise<void> => {
    try {
      const ip = clientIp(socket.request, ctx.config.trustProxy);
      if (!(await limiters.connections.take(ip)).ok) return next(refusal('rate_limited', 'Too many connections; slow down.'));
      const auth = agentAuthSchema.safeParse(socket.handshake.auth ?? {});
      if (!auth.success) return next(refusal('unauthorized', 'An agent token is required.'));
      const live = await resolveAgentSession(ctx.store, ctx.config.secrets.agentToken, auth.data.token, ctx.clock());
      if (!live) return next(refusal('unauthorized', 'The agent token is not valid or its session has ended.'));
      const { agent, sessionId } = live;
      const data: AgentSocketState = { agentId: agent.id, agentName: agent.name, displayName: agent.displayName, sessionId, ip };
      socket.data = data;
      next();
    } catch (error) {
      ctx.logger.error({ err: error }, 'agent handshake failed');
      next(refusal('internal', 'The console could not connect; try again.'));
    }
  };
}
