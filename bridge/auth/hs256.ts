/**
 * Compact HS256 JWTs signed and verified with `node:crypto` HMAC directly, shared by visitor and agent tokens.
 *
 * Why not jose: jose 6 runs on WebCrypto, whose promise round trip per sign or verify costs several times a direct
 * HMAC over a few hundred bytes even with a cached CryptoKey, and a restart storm verifies and signs once per
 * reconnecting widget (docs/performance.md has the measurement). Only what the bridge issues is accepted: alg exactly HS256, no `crit`, a canonical
 * signature, the expected audience, `exp` in the future, `nbf` (when present) not in the future — the same checks
 * jose's `jwtVerify` made with `algorithms: ['HS256']`, so tokens issued before remain valid, and vice versa.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Registered claims every bridge token carries; the caller adds its own (`cid`, `uid`, `name`). */
export interface Hs256Claims {
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}

function mac(secret: string, signingInput: string): string {
  return createHmac('sha256', secret).update(signingInput).digest('base64url');
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  if (!SEGMENT.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Signs `claims` as an HS256 JWT with the UTF-8 bytes of `secret` as the key. */
export function signHs256(secret: string, claims: Hs256Claims): string {
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signingInput}.${mac(secret, signingInput)}`;
}

/** The payload of `token` when it is an HS256 JWT signed with `secret`, for `audience`, valid at `now`; else undefined. */
export function verifyHs256(secret: string, token: string, audience: string, now: Date): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, signature] = parts as [string, string, string];
  const header = decodeJsonObject(h);
  // `crit` names extensions the verifier must understand; the bridge understands none, so such a token is refused.
  if (!header || header.alg !== 'HS256' || 'crit' in header) return undefined;
  // Compared as canonical base64url text: a signature differing only in unused trailing bits is refused too.
  const expected = Buffer.from(mac(secret, `${h}.${p}`));
  const presented = Buffer.from(signature);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
  const payload = decodeJsonObject(p);
  if (!payload) return undefined;
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const { aud, exp, nbf, iat } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= nowSeconds) return undefined;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return undefined;
  if (iat !== undefined && typeof iat !== 'number') return undefined;
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) return undefined;
  return payload;
}
