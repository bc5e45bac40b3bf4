import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metaSignature, timestampedSignature, verifyMetaSignature, verifyTimestampedSignature } from './signatures.ts';

const SECRET = 'app-secret-for-tests';
const FIXTURES = join(import.meta.dirname, 'fixtures');
const raw = readFileSync(join(FIXTURES, '04-meta-inbound-text.json'));
const hex = createHmac('sha256', SECRET).update(raw).digest('hex');

describe('verifyMetaSignature', () => {
  it('accepts the HMAC of the raw fixture bytes, in lower- and upper-case hex', () => {
    expect(verifyMetaSignature(raw, `sha256=${hex}`, SECRET)).toBe(true);
    expect(verifyMetaSignature(raw, `sha256=${hex.toUpperCase()}`, SECRET)).toBe(true);
    expect(metaSignature(raw, SECRET)).toBe(`sha256=${hex}`);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['"sha256=" only', 'sha256='],
    ['no prefix', hex],
    ['wrong length (short)', `sha256=${hex.slice(0, -2)}`],
    ['wrong length (long)', `sha256=${hex}00`],
    ['non-hex at the right length', `sha256=zz${hex.slice(2)}`],
    ['prefix in capitals', `SHA256=${hex}`],
    ['repeated header (joined by Node)', `sha256=${hex}, sha256=${hex}`],
    ['array of headers', [`sha256=${hex}`]],
    ['wrong secret', `sha256=${createHmac('sha256', 'other').update(raw).digest('hex')}`],
  ])('refuses %s without throwing', (_name, header) => {
    expect(verifyMetaSignature(raw, header, SECRET)).toBe(false);
  });

  it('refuses the signature of the same JSON re-serialised', () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
    expect(verifyMetaSignature(reserialised, `sha256=${hex}`, SECRET)).toBe(false);
  });
});

describe('timestamped signatures', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const t = Math.floor(now.getTime() / 1000);
  const body = Buffer.from('{"status":"read"}');

  it('round-trips and names the signed string `${t}.${body}`', () => {
    const header = timestampedSignature(SECRET, t, body);
    const expected = createHmac('sha256', SECRET).update(`${t}.${body.toString()}`).digest('hex');
    expect(header).toBe(`t=${t},v1=${expected}`);
    expect(verifyTimestampedSignature(body, header, SECRET, now)).toEqual({ ok: true, timestampSeconds: t });
  });

  it('refuses outside the 5-minute window, tampering, and malformed headers', () => {
    expect(verifyTimestampedSignature(body, timestampedSignature(SECRET, t - 301, body), SECRET, now)).toMatchObject({ reason: 'expired' });
    expect(verifyTimestampedSignature(body, timestampedSignature(SECRET, t + 301, body), SECRET, now)).toMatchObject({ reason: 'expired' });
    expect(verifyTimestampedSignature(body, timestampedSignature(SECRET, t - 299, body), SECRET, now).ok).toBe(true);
    expect(verifyTimestampedSignature(Buffer.from('{"status":"sent"}'), timestampedSignature(SECRET, t, body), SECRET, now)).toMatchObject({ reason: 'mismatch' });
    expect(verifyTimestampedSignature(body, undefined, SECRET, now)).toMatchObject({ reason: 'missing' });
    expect(verifyTimestampedSignature(body, `t=${t},v1=abc`, SECRET, now)).toMatchObject({ reason: 'malformed' });
    expect(verifyTimestampedSignature(body, `v1=${'0'.repeat(64)}`, SECRET, now)).toMatchObject({ reason: 'malformed' });
  });
});
