/**
 * The bridge's VAPID key pair (RFC 8292), which signs every Web Push request. Like the other secrets it is generated
 * once and kept in the data directory (`DATA_DIR/vapid.json`, mode 0600) unless the environment gives it: browsers
 * bind each push subscription to the public key, so a new pair would silently end every agent's subscription.
 */
import { createECDH } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { readOrCreateSecretFile } from './secret-file.ts';

/** An uncompressed P-256 public key (65 bytes, 0x04 first) in base64url, as `PushManager.subscribe` takes it. */
export const vapidPublicKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
  .refine((value) => {
    const bytes = Buffer.from(value, 'base64url');
    return bytes.length === 65 && bytes[0] === 4;
  }, 'must be an uncompressed P-256 public key (65 bytes) in base64url, e.g. from `npx web-push generate-vapid-keys`');
/** A P-256 private key (32 bytes) in base64url. */
export const vapidPrivateKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
  .refine((value) => Buffer.from(value, 'base64url').length === 32, 'must be a P-256 private key (32 bytes) in base64url');

const fileSchema = z.object({ publicKey: vapidPublicKey, privateKey: vapidPrivateKey });

/** A VAPID key pair in base64url. */
export type VapidKeys = z.infer<typeof fileSchema>;

/** Name of the key file inside the data directory. */
export const VAPID_FILE = 'vapid.json';

/** A fresh P-256 key pair. */
export function generateVapidKeys(): VapidKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const priv = ecdh.getPrivateKey();
  // The private scalar can have leading zero bytes, which getPrivateKey() leaves out; VAPID wants all 32.
  const privateKey = Buffer.concat([Buffer.alloc(32 - priv.length), priv]).toString('base64url');
  return { publicKey: ecdh.getPublicKey('base64url'), privateKey };
}

/** The key pair in `DATA_DIR/vapid.json`, created on first use; a damaged file is an error naming it. */
export function loadVapidKeys(dataDir: string): VapidKeys {
  return readOrCreateSecretFile(join(dataDir, VAPID_FILE), fileSchema, generateVapidKeys, {
    notJson: 'is not valid JSON; restore it from a backup or delete it (agents then turn push notifications on again)',
    invalid: 'lacks a valid publicKey/privateKey; restore it from a backup or delete it',
  });
}
