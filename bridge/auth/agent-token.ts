/** Agent bearer tokens for REST and the `/agent` namespace (HS256 JWT, 12 hours), each naming its session. */
import { z } from 'zod';
import { signHs256, verifyHs256 } from './hs256.ts';

/** Audience of agent tokens; a visitor token can never pass as one. */
export const AGENT_AUDIENCE = 'anon-chat:agent';
/** Lifetime of an agent token. */
export const AGENT_TOKEN_TTL_SECONDS = 12 * 3600;

/** What an agent token claims; the session it names must still be live in the store (agent-sessions.ts). */
export interface AgentClaims {
  agentId: string;
  sessionId: string;
}

// Tokens from before sessions existed carry no `sid`: they no longer pass, and their agents sign in again.
const claimsSchema = z.object({ sub: z.string().min(1).max(100), sid: z.string().min(1).max(100) });

/** Signs an agent token; returns it with its expiry. */
export async function signAgentToken(
  secret: string,
  claims: AgentClaims,
  now: Date,
): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + AGENT_TOKEN_TTL_SECONDS;
  const token = signHs256(secret, { sub: claims.agentId, sid: claims.sessionId, aud: AGENT_AUDIENCE, iat, exp });
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Verifies an agent token's signature (HS256 only), audience and expiry; undefined when it is not valid. */
export async function verifyAgentToken(secret: string, token: string, now: Date): Promise<AgentClaims | undefined> {
  const payload = verifyHs256(secret, token, AGENT_AUDIENCE, now);
  if (!payload) return undefined;
  const claims = claimsSchema.safeParse(payload);
  return claims.success ? { agentId: claims.data.sub, sessionId: claims.data.sid } : undefined;
}
