/** Agent bearer tokens for REST and the `/agent` namespace (HS256 JWT, 12 hours). */
import { SignJWT, jwtVerify } from 'jose';
import { z } from 'zod';
import { hmacKey } from './secret-key.ts';

/** Audience of agent tokens; a visitor token can never pass as one. */
export const AGENT_AUDIENCE = 'anon-chat:agent';
/** Lifetime of an agent token. */
export const AGENT_TOKEN_TTL_SECONDS = 12 * 3600;

/** What an agent token proves. */
export interface AgentClaims {
  agentId: string;
  name: string;
}

const claimsSchema = z.object({ sub: z.string().min(1).max(100), name: z.string().min(1).max(100) });

/** Signs an agent token; returns it with its expiry. */
export async function signAgentToken(
  secret: string,
  claims: AgentClaims,
  now: Date,
): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + AGENT_TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ name: claims.name })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.agentId)
    .setAudience(AGENT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(await hmacKey(secret));
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Verifies an agent token (HS256 only, audience, expiry); undefined when it is not valid. */
export async function verifyAgentToken(secret: string, token: string, now: Date): Promise<AgentClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, await hmacKey(secret), {
      algorithms: ['HS256'],
      audience: AGENT_AUDIENCE,
      currentDate: now,
      requiredClaims: ['exp', 'sub'],
    });
    const claims = claimsSchema.safeParse(payload);
    return claims.success ? { agentId: claims.data.sub, name: claims.data.name } : undefined;
  } catch {
    return undefined;
  }
}
