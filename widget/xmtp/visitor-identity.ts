/**
 * The visitor's XMTP identity: an injected EIP-1193 wallet when the site asks for it, otherwise a secp256k1 key
 * generated once and kept in localStorage, so a reload is the same inbox and reuses the same installation (the
 * SDK's database is keyed by inbox id) instead of registering a new one per page load.
 */
import type { Signer } from '@xmtp/browser-sdk';
import { hexToBytes, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { TransportError } from '../transports/transport.ts';

/** The minimal EIP-1193 provider surface used here (`window.ethereum`). */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** localStorage key of the visitor's generated XMTP key for one XMTP environment. */
export function localKeyStorageKey(env: string): string {
  return `anon-chat:xmtp:key:${env}`;
}

const KEY_PATTERN = /^0x[0-9a-f]{64}$/;

/** Returns the stored key for `env`, creating and storing one on first use. */
export function loadOrCreateLocalKey(storage: Storage, env: string, storageKey = localKeyStorageKey(env)): `0x${string}` {
  const stored = storage.getItem(storageKey);
  if (stored && KEY_PATTERN.test(stored)) return stored as `0x${string}`;
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  const key = toHex(bytes);
  storage.setItem(storageKey, key);
  // Read back: a storage that silently drops writes would make every page load a new inbox and installation.
  if (storage.getItem(storageKey) !== key) throw new TransportError('offline', 'localStorage unavailable', false);
  return key;
}

/** A signer over a locally kept key (the visitor's, or the support team's in the console under `storageKey`). */
export function localKeySigner(storage: Storage, env: string, storageKey?: string): Signer {
  const account = privateKeyToAccount(loadOrCreateLocalKey(storage, env, storageKey));
  return {
    type: 'EOA',
    getIdentifier: () => ({ identifier: account.address.toLowerCase(), identifierKind: 'Ethereum' }),
    signMessage: async (message: string) => hexToBytes(await account.signMessage({ message })),
  };
}

/** A signer over an injected wallet; asks the wallet for an account (the user sees the wallet's prompt). */
export async function walletSigner(provider: Eip1193Provider): Promise<Signer> {
  const accounts = await provider.request({ method: 'eth_requestAccounts' });
  const address = Array.isArray(accounts) && typeof accounts[0] === 'string' ? accounts[0] : undefined;
  if (!address) throw new TransportError('forbidden', 'No wallet account', false);
  return {
    type: 'EOA',
    getIdentifier: () => ({ identifier: address.toLowerCase(), identifierKind: 'Ethereum' }),
    signMessage: async (message: string) => {
      const hexMessage = toHex(new TextEncoder().encode(message));
      const signature = await provider.request({ method: 'personal_sign', params: [hexMessage, address] });
      if (typeof signature !== 'string') throw new TransportError('forbidden', 'Wallet refused to sign', false);
      return hexToBytes(signature as `0x${string}`);
    },
  };
}
