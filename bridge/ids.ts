/** Random server ids (visitors, conversations, agents): 128 bits, URL-safe, never sequential. */
import { randomBytes } from 'node:crypto';

/** A new random id matching protocol's `entityId` (22 base64url characters). */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}
