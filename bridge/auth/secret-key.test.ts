import { describe, expect, it } from 'vitest';
import { SignJWT, jwtVerify } from 'jose';
import { hmacKey } from './secret-key.ts';
import { signVisitorToken, verifyVisitorToken } from './visitor-token.ts';

describe('hmacKey', () => {
  it('returns the same key object for the same secret and a different one for another secret', () => {
    expect(hmacKey('secret-a-0123456789')).toBe(hmacKey('secret-a-0123456789'));
    expect(hmacKey('secret-b-0123456789')).not.toBe(hmacKey('secret-a-0123456789'));
  });

  it('is interchangeable with the raw secret bytes (tokens from before the cache still verify)', async () => {
    const secret = 'interop-secret-0123456789abcdef';
    const raw = new TextEncoder().encode(secret);
    const legacy = await new SignJWT({ cid: 'c1' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('v1')
      .setAudience('anon-chat:visitor')
      .setExpirationTime('1h')
      .sign(raw);
    const now = new Date();
    expect(await verifyVisitorToken(secret, legacy, now)).toEqual({ visitorId: 'v1', conversationId: 'c1', userId: undefined });
    const { token } = await signVisitorToken(secret, { visitorId: 'v2', conversationId: 'c2' }, now);
    await expect(jwtVerify(token, raw, { algorithms: ['HS256'] })).resolves.toBeTruthy();
    expect(await verifyVisitorToken('another-secret-0123456789', token, now)).toBeUndefined();
  });
});
