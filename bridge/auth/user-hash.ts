/** Verified site users: the site passes `userId` and `HMAC-SHA256(SITE_SECRET, userId)` as hex. */
import { createHmac } from 'node:crypto';
import { safeEqual } from './safe-equal.ts';

/** The hash a site owner's server computes for `userId`. */
export function userHash(siteSecret: string, userId: string): string {
  return createHmac('sha256', siteSecret).update(userId, 'utf8').digest('hex');
}

/** True when `hash` is the valid hash of `userId` (constant time, case-insensitive hex). */
export function verifyUserHash(siteSecret: string, userId: string, hash: string): boolean {
  return safeEqual(userHash(siteSecret, userId), hash.toLowerCase());
}
