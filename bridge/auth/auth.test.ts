import { describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { signVisitorToken, verifyVisitorToken } from './visitor-token.ts';
import { signAgentToken, verifyAgentToken } from './agent-token.ts';
import { hashPassword, verifyPassword } from './password.ts';
import { userHash, verifyUserHash } from './user-hash.ts';
import { isApiKey } from './api-key.ts';
import { safeEqual } from './safe-equal.ts';

const SECRET = 'visitor-secret-0123456789abcdef';

describe('visitor tokens', () => {
  it('round-trip their claims and expire after 30 days', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const { token, expiresAt } = await signVisitorToken(SECRET, { visitorId: 'v1', conversationId: 'c1', userId: 'u' }, now);
    expect(expiresAt.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(await verifyVisitorToken(SECRET, token, now)).toEqual({ visitorId: 'v1', conversationId: 'c1', userId: 'u' });
    expect(await verifyVisitorToken(SECRET, token, new Date('2026-01-31T00:00:01Z'))).toBeUndefined();
    expect(await verifyVisitorToken('other-secret-0123456789abcdef', token, now)).toBeUndefined();
  });

  it('reject alg:none, other algorithms and agent tokens', async () => {
    const now = new Date();
    const payload = Buffer.from(JSON.stringify({ sub: 'v', cid: 'c', aud: 'anon-chat:visitor', exp: 9e9 })).toString('base64url');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    expect(await verifyVisitorToken(SECRET, none, now)).toBeUndefined();
    const hs384 = await new SignJWT({ cid: 'c' })
      .setProtectedHeader({ alg: 'HS384' })
      .setSubject('v')
      .setAudience('anon-chat:visitor')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    expect(await verifyVisitorToken(SECRET, hs384, now)).toBeUndefined();
    const agent = await signAgentToken(SECRET, { agentId: 'a', sessionId: 's' }, now);
    expect(await verifyVisitorToken(SECRET, agent.token, now)).toBeUndefined();
    expect(await verifyAgentToken(SECRET, agent.token, now)).toEqual({ agentId: 'a', sessionId: 's' });
    const visitor = await signVisitorToken(SECRET, { visitorId: 'v', conversationId: 'c' }, now);
    expect(await verifyAgentToken(SECRET, visitor.token, now)).toBeUndefined();
  });
});

describe('agent tokens', () => {
  it('expire after 12 hours', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const { token } = await signAgentToken(SECRET, { agentId: 'a', sessionId: 's' }, now);
    expect(await verifyAgentToken(SECRET, token, new Date('2026-01-01T11:59:00Z'))).toBeDefined();
    expect(await verifyAgentToken(SECRET, token, new Date('2026-01-01T12:00:01Z'))).toBeUndefined();
  });
});

describe('passwords', () => {
  it('hash with a per-agent salt and verify', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('wrong horse', a)).toBe(false);
    expect(await verifyPassword('correct horse', 'plain')).toBe(false);
    expect(await verifyPassword('correct horse', 'scrypt$x$y$z$salt$hash')).toBe(false);
  });
});

describe('verified user hash and API key', () => {
  it('accepts exactly HMAC-SHA256(siteSecret, userId) and survives unequal lengths', () => {
    const hash = userHash('site-secret-0123456789', 'user-1');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyUserHash('site-secret-0123456789', 'user-1', hash)).toBe(true);
    expect(verifyUserHash('site-secret-0123456789', 'user-2', hash)).toBe(false);
    expect(verifyUserHash('site-secret-0123456789', 'user-1', hash.slice(0, 10))).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(isApiKey(undefined, '')).toBe(false);
    expect(isApiKey('key-0123456789abcdef0123', 'key-0123456789abcdef0123')).toBe(true);
    expect(isApiKey('key-0123456789abcdef0123', 'key')).toBe(false);
  });
});
