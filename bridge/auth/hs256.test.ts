import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SignJWT, jwtVerify } from 'jose';
import { signHs256, verifyHs256 } from './hs256.ts';
import { signVisitorToken, verifyVisitorToken } from './visitor-token.ts';

const SECRET = 'hs256-secret-0123456789abcdef';
const AUD = 'anon-chat:visitor';
const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const claims = { sub: 'v1', aud: AUD, iat: NOW_S, exp: NOW_S + 60, cid: 'c1' };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A token from a hand-made header and payload, correctly signed with `secret`, so only the property under test is wrong. */
function forge(header: unknown, payload: unknown, secret = SECRET): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe('HS256 tokens', () => {
  it('round-trip and expire at exp (not a second later)', () => {
    const token = signHs256(SECRET, claims);
    expect(verifyHs256(SECRET, token, AUD, NOW)).toEqual(claims);
    expect(verifyHs256(SECRET, token, AUD, new Date((NOW_S + 59) * 1000))).toBeDefined();
    expect(verifyHs256(SECRET, token, AUD, new Date((NOW_S + 60) * 1000))).toBeUndefined();
    expect(verifyHs256('another-secret-0123456789', token, AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, token, 'anon-chat:agent', NOW)).toBeUndefined();
  });

  it('refuse alg:none, HS512, crit headers, tampered parts, bad nbf/exp and malformed tokens', async () => {
    expect(verifyHs256(SECRET, forge({ alg: 'HS256', typ: 'JWT' }, claims), AUD, NOW)).toEqual(claims);
    expect(verifyHs256(SECRET, `${b64({ alg: 'none' })}.${b64(claims)}.`, AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'none' }, claims), AUD, NOW)).toBeUndefined();
    const hs512 = await new SignJWT({ cid: 'c1' })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('v1')
      .setAudience(AUD)
      .setExpirationTime(NOW_S + 60)
      .sign(new TextEncoder().encode(SECRET));
    expect(verifyHs256(SECRET, hs512, AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256', crit: ['b64'], b64: false }, claims), AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, { ...claims, nbf: NOW_S + 10 }), AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, { ...claims, nbf: NOW_S }), AUD, NOW)).toBeDefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, { ...claims, exp: undefined }), AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, { ...claims, exp: String(NOW_S + 60) }), AUD, NOW)).toBeUndefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, { ...claims, aud: [AUD, 'other'] }), AUD, NOW)).toBeDefined();
    expect(verifyHs256(SECRET, forge({ alg: 'HS256' }, [claims]), AUD, NOW)).toBeUndefined();

    const token = signHs256(SECRET, claims);
    const [h, p, s] = token.split('.') as [string, string, string];
    const tamperedPayload = `${h}.${b64({ ...claims, cid: 'c2' })}.${s}`;
    expect(verifyHs256(SECRET, tamperedPayload, AUD, NOW)).toBeUndefined();
    // The last base64url character of a 32-byte MAC carries 2 unused bits: flipping them must not pass either.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = `${h}.${p}.${s.slice(0, -1)}${alphabet[alphabet.indexOf(s.at(-1) ?? 'A') ^ 1]}`;
    expect(Buffer.from(twin.split('.')[2]!, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    expect(verifyHs256(SECRET, twin, AUD, NOW)).toBeUndefined();
    for (const bad of ['', 'a.b', `${h}.${p}`, `${h}.${p}.${s}.x`, `${h}!.${p}.${s}`, `${h}.${p}.${s}=`]) {
      expect(verifyHs256(SECRET, bad, AUD, NOW)).toBeUndefined();
    }
  });

  it('are interchangeable with jose (tokens issued before this module still verify, and vice versa)', async () => {
    const raw = new TextEncoder().encode(SECRET);
    const legacy = await new SignJWT({ cid: 'c1' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('v1')
      .setAudience(AUD)
      .setExpirationTime('1h')
      .sign(raw);
    const now = new Date();
    expect(await verifyVisitorToken(SECRET, legacy, now)).toEqual({ visitorId: 'v1', conversationId: 'c1', userId: undefined });
    const { token } = await signVisitorToken(SECRET, { visitorId: 'v2', conversationId: 'c2', userId: 'u2' }, now);
    const { payload, protectedHeader } = await jwtVerify(token, raw, { algorithms: ['HS256'], audience: AUD });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'v2', cid: 'c2', uid: 'u2', aud: AUD });
  });
});
