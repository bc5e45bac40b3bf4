/**
 * HMAC signatures of webhook bodies: Meta's `X-Hub-Signature-256` over the raw request bytes, and the
 * `t=<unix seconds>,v1=<hex>` signature over `${t}.${body}` that the status webhook accepts and outbound event
 * webhooks carry. Every comparison is constant-time over digests of equal length.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Meta sends lower-case hex; upper-case hex of the right digest is accepted too (hex is case-insensitive, and
 * refusing it buys nothing). The `sha256=` prefix itself must be exact.
 */
const META_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/** HMAC-SHA256 of `data` with `secret`. */
function hmac(secret: string, data: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/**
 * True when `header` is `sha256=<hex HMAC-SHA256(appSecret, rawBody)>`. Missing, repeated (Node joins repeats with
 * a comma), prefix-only, wrong-length or non-hex values are false, never an exception.
 */
export function verifyMetaSignature(rawBody: Buffer, header: string | string[] | undefined, appSecret: string): boolean {
  if (typeof header !== 'string') return false;
  const match = META_SIGNATURE.exec(header);
  if (!match?.[1]) return false;
  const presented = Buffer.from(match[1], 'hex');
  const expected = hmac(appSecret, rawBody);
  // Both are 32 bytes here (the regex fixed the length), so timingSafeEqual cannot throw.
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** The `X-Hub-Signature-256` value Meta would send for `rawBody` (tests and tools). */
export function metaSignature(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${hmac(appSecret, rawBody).toString('hex')}`;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>` for `body` signed at `timestampSeconds`. */
export function timestampedSignature(secret: string, timestampSeconds: number, body: Buffer | string): string {
  const signed = Buffer.concat([Buffer.from(`${timestampSeconds}.`, 'utf8'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
  return `t=${timestampSeconds},v1=${hmac(secret, signed).toString('hex')}`;
}

/** Why a timestamped signature was refused. */
export type TimestampedSignatureResult =
  | { ok: true; timestampSeconds: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'mismatch' };

const TIMESTAMPED = /^t=([0-9]{1,12}),v1=([0-9a-fA-F]{64})$/;

/**
 * Checks a `t=…,v1=…` header against `rawBody`: the timestamp must be within `toleranceSeconds` of `now` (either
 * direction, for clock skew) and the HMAC must match.
 */
export function verifyTimestampedSignature(
  rawBody: Buffer,
  header: string | string[] | undefined,
  secret: string,
  now: Date,
  toleranceSeconds = 300,
): TimestampedSignatureResult {
  if (header === undefined) return { ok: false, reason: 'missing' };
  if (typeof header !== 'string') return { ok: false, reason: 'malformed' };
  const match = TIMESTAMPED.exec(header.trim());
  if (!match?.[1] || !match[2]) return { ok: false, reason: 'malformed' };
  const timestampSeconds = Number(match[1]);
  if (Math.abs(now.getTime() / 1000 - timestampSeconds) > toleranceSeconds) return { ok: false, reason: 'expired' };
  const presented = Buffer.from(match[2], 'hex');
  const expected = hmac(secret, Buffer.concat([Buffer.from(`${match[1]}.`, 'utf8'), rawBody]));
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return { ok: false, reason: 'mismatch' };
  return { ok: true, timestampSeconds };
}
