/** Random server ids (visitors, conversations, messages, agents): URL-safe, never sequential. */
import { randomFillSync } from 'node:crypto';

/**
 * Random bytes are taken from a pooled buffer refilled from the CSPRNG a few kilobytes at a time (as nanoid does): one
 * call into OpenSSL per id is a measurable share of a busy node's CPU, and the bytes are just as random.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `bytes` random bytes as base64url: a new id matching protocol's `entityId` (22 characters by default, 128 bits). */
export function randomId(bytes = 16): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
