/** Constant-time string comparison that is also safe for inputs of different lengths. */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `a === b`, compared in time independent of where they differ. Both sides are hashed first because
 * `timingSafeEqual` throws on unequal lengths (and an early length check would leak the length).
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
