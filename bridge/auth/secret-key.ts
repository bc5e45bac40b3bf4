/** HS256 signing keys created once per secret, shared by the visitor and agent token modules. */
import { createSecretKey, type KeyObject } from 'node:crypto';

// Why: jose re-imports a raw Uint8Array key into WebCrypto on every sign and verify (≈ 10 % of connect CPU in the
// bench profile); a KeyObject is used directly. A bridge has one or two secrets, so the cache stays tiny; the bound
// only guards against a caller passing many distinct secrets.
const MAX_CACHED_KEYS = 16;
const keys = new Map<string, KeyObject>();

/** The HMAC key for `secret`, created on first use and reused afterwards. */
export function hmacKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    if (keys.size >= MAX_CACHED_KEYS) keys.clear();
    keys.set(secret, key);
  }
  return key;
}
