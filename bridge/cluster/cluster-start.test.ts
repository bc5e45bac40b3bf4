/**
 * What nodes of one cluster settle through their shared store at start, on the embedded engine (the PostgreSQL store
 * passes the same Store contract): the bootstrap agent is created once however many start together, and a node whose
 * secrets differ from the first node's is refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapAgent, checkAgentLogin } from '../auth/agent-accounts.ts';
import { silentLogger } from '../logger.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { checkSharedSecrets, SecretsMismatchError } from './shared-secrets.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function openStore(): Promise<LowdbStore> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-cluster-start-'));
  const store = new LowdbStore({ dataDir: dir, logger: silentLogger() });
  await store.open();
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

const secrets = { visitorToken: 'v'.repeat(32), agentToken: 'a'.repeat(32), site: 's'.repeat(32) };

describe('cluster start', () => {
  it('creates the bootstrap agent exactly once when three nodes start together, and prints one password', async () => {
    const store = await openStore();
    const now = new Date();
    const results = await Promise.all([1, 2, 3].map(() => bootstrapAgent(store, { name: 'admin' }, now)));
    const created = results.filter((result) => result !== undefined);
    expect(created).toHaveLength(1);
    expect(await store.countAgents()).toBe(1);
    expect(await checkAgentLogin(store, 'admin', created[0]!.password)).toBeDefined();
  });

  it('lets nodes with the same secrets start and refuses one whose secrets differ', async () => {
    const store = await openStore();
    await Promise.all([1, 2, 3].map(() => checkSharedSecrets(store, secrets, 'k'.repeat(24))));
    await checkSharedSecrets(store, secrets, 'k'.repeat(24));
    await expect(checkSharedSecrets(store, { ...secrets, site: 'x'.repeat(32) }, 'k'.repeat(24))).rejects.toThrow(SecretsMismatchError);
    await expect(checkSharedSecrets(store, secrets, undefined)).rejects.toThrow(/differ from the ones the other nodes/);
    // The stored fingerprint does not reveal the secrets.
    const record = JSON.stringify(await store.getRecord('cluster', 'secrets-fingerprint'));
    expect(record).not.toContain('vvvv');
    expect(record).not.toContain('ssss');
  });
});
