/** Signed visitor tokens: which visitor and which conversation a widget belongs to (HS256 JWT, 30 days). */
import { z } from 'zod';
import { signHs256, verifyHs256 } from './hs256.ts';
import { entityId } from '../../protocol/schemas.ts';

/** Audience of visitor tokens; an agent token can never pass as one. */
export const VISITOR_AUDIENCE = 'anon-chat:visitor';
/** Lifetime of a visitor token; every connect issues a fresh one. */
export const VISITOR_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

/** What a visitor token proves. */
export interface VisitorClaims {
  visitorId: string;
  conversationId: string;
  /** Verified site user id, when the token was issued after a valid user hash. */
  userId?: string;
}

const claimsSchema = z.object({
  sub: entityId,
  cid: entityId,
  uid: z.string().min(1).max(200).optional(),
});

/** Signs a visitor token; returns it with its expiry. */
export async function signVisitorToken(
  secret: string,
  claims: VisitorClaims,
  now: Date,
): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + VISITOR_TOKEN_TTL_SECONDS;
  const token = signHs256(secret, {
    cid: claims.conversationId,
    ...(claims.userId !== undefined ? { uid: claims.userId } : {}),
    sub: claims.visitorId,
    aud: VISITOR_AUDIENCE,
    iat,
    exp,
  });
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Verifies a visitor token (HS256 only, audience, expiry); undefined when it is not valid for any reason. */
export async function verifyVisitorToken(secret: string, token: string, now: Date): Promise<VisitorClaims | undefined> {
  const payload = verifyHs256(secret, token, VISITOR_AUDIENCE, now);
  if (!payload) return undefined;
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) return undefined;
  return { visitorId: claims.data.sub, conversationId: claims.data.cid, userId: claims.data.uid };
}
