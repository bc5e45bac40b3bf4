/**
 * Short-lived signed URLs to read an attachment without a token (an `<img src>`, a download link). The signature is
 * an HMAC over the variant, the id and the expiry, keyed by a key derived from the visitor-token secret (so every
 * node of a cluster, which shares that secret, verifies every link); changing any part of the URL breaks it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AttachmentVariant } from '../store/store.ts';

/** Signs and checks attachment links of one bridge. */
export class AttachmentLinks {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = createHmac('sha256', secret).update('anon-chat attachment links v1').digest();
  }

  private sign(variant: AttachmentVariant, id: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${variant}\n${id}\n${expires}`).digest('base64url');
  }

  /** The query string (`expires=…&signature=…`) of a link valid for the TTL from `now`, and its expiry. */
  issue(variant: AttachmentVariant, id: string, now: Date): { query: string; expiresAt: Date } {
    const expires = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    return { query: `expires=${expires}&signature=${this.sign(variant, id, expires)}`, expiresAt: new Date(expires * 1000) };
  }

  /** True when `signature` was issued for exactly this variant, id and expiry, and the expiry is still ahead. */
  verify(variant: AttachmentVariant, id: string, expires: unknown, signature: unknown, now: Date): boolean {
    if (typeof expires !== 'string' || typeof signature !== 'string' || !/^\d{1,12}$/.test(expires)) return false;
    const expiry = Number(expires);
    if (expiry * 1000 <= now.getTime()) return false;
    const expected = Buffer.from(this.sign(variant, id, expiry));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
