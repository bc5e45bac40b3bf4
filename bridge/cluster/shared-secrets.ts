/**
 * Every node of a cluster must sign and verify with the same secrets, or a visitor token minted by one node is refused
 * by the next. The first node to start leaves a fingerprint of its secrets in the store; a node whose secrets give
 * another fingerprint refuses to start instead of logging people out at random.
 */
import { scryptSync } from 'node:crypto';
import type { BridgeSecrets } from '../config.ts';
import type { Store } from '../store/store.ts';

/** Where the fingerprint lives in the store's records. */
export const SECRETS_RECORD = { namespace: 'cluster', key: 'secrets-fingerprint' } as const;

/** This node's secrets are not the cluster's; the message tells the operator what to do. */
export class SecretsMismatchError extends Error {
  constructor(
    message = 'VISITOR_TOKEN_SECRET, AGENT_TOKEN_SECRET, SITE_SECRET or API_KEY differ from the ones the other nodes on this ' +
      'database use; give every node the same values (to rotate them, see "Running more than one bridge" in the README)',
  ) {
    super(message);
    this.name = 'SecretsMismatchError';
  }
}

/**
 * A slow, salted hash of the secrets: the database may be read by people who must not learn them, and secrets chosen
 * by an operator are not always long random strings.
 */
export function secretsFingerprint(secrets: BridgeSecrets, apiKey: string | undefined): string {
  const input = JSON.stringify([secrets.visitorToken, secrets.agentToken, secrets.site, apiKey ?? null]);
  return scryptSync(input, 'anon-chat cluster secrets v1', 32).toString('base64url');
}

/** Records this node's fingerprint if it is the first, else checks it against the stored one. */
export async function checkSharedSecrets(store: Store, secrets: BridgeSecrets, apiKey: string | undefined): Promise<void> {
  const fingerprint = secretsFingerprint(secrets, apiKey);
  const { namespace, key } = SECRETS_RECORD;
  if (await store.addRecordOnce(namespace, key, { fingerprint })) return;
  const stored = await store.getRecord<{ fingerprint?: string }>(namespace, key);
  if (stored?.fingerprint !== fingerprint) throw new SecretsMismatchError();
}

/** Where the cluster's VAPID public key lives in the store's records (public: browsers are given it). */
export const VAPID_RECORD = { namespace: 'cluster', key: 'vapid-public-key' } as const;

/**
 * Records this node's VAPID public key if it is the first with one, else checks it against the stored one: browsers
 * subscribe with one node's key, and a push signed with another node's key is refused by their push services.
 */
export async function checkSharedVapidKey(store: Store, publicKey: string | undefined): Promise<void> {
  if (publicKey === undefined) return;
  const { namespace, key } = VAPID_RECORD;
  if (await store.addRecordOnce(namespace, key, { publicKey })) return;
  const stored = await store.getRecord<{ publicKey?: string }>(namespace, key);
  if (stored?.publicKey !== publicKey) {
    throw new SecretsMismatchError(
      'VAPID_PUBLIC_KEY differs from the one the other nodes on this database use; give every node the same VAPID_* keys ' +
        '(a new pair ends every push subscription: see "Notifications while away" in the README)',
    );
  }
}
