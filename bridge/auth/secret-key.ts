/** HS256 signing keys created once per secret, shared by the visitor and agent token modules. */

// Why: jose 6 runs on WebCrypto and imports a Uint8Array (or a secret KeyObject, which it exports back to bytes)
// with `crypto.subtle.importKey` on every sign and verify (≈ 10 % of connect CPU in the bench profile); a CryptoKey
// is used as is. A bridge has one or two secrets, so the cache stays tiny; the bound only guards against a caller
// passing many distinct secrets.
const MAX_CACHED_KEYS = 16;
const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA-256 CryptoKey for `secret`, imported on first use and reused afterwards. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    if (keys.size >= MAX_CACHED_KEYS) keys.clear();
    keys.set(secret, key);
    // A failed import is not cached, so the next call tries again.
    key.catch(() => keys.delete(secret));
  }
  return key;
}
