/**
 * The bootstrap admin is created after the bridge listens, so storage may be failing by then (a full disk): the
 * attempt waits it out instead of ending the process, and a failed write that landed anyway is reported as created.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bootstrapAgentWhenWritable, checkAgentLogin } from './agent-accounts.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import { StoreError, type Store } from '../store/store.ts';
import { silentLogger } from '../logger.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function openStore(): Promise<LowdbStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-bootstrap-'));
  dirs.push(dataDir);
  const store = new LowdbStore({ dataDir, logger: silentLogger() });
  await store.open();
  return store;
}

describe('bootstrapAgentWhenWritable', () => {
  it('retries while storage is unavailable; a write that failed but landed is reported once storage is healthy, with its password', async () => {
    const real = await openStore();
    // As the lowdb journal does on ENOSPC: the record is kept and its batch retried, the caller is told it failed.
    let unhealthy = false;
    let failures = 0;
    const store = new Proxy(real, {
      get(target, key, receiver) {
        if (key === 'createAgent') {
          return async (...args: Parameters<Store['createAgent']>) => {
            await target.createAgent(...args);
            if (failures++ === 0) {
              unhealthy = true;
              throw new StoreError('storage_unavailable', 'journal write failed: ENOSPC');
            }
          };
        }
        if (key === 'health') return () => ({ ...target.health(), ...(unhealthy ? { ok: false, lastError: 'ENOSPC' } : {}) });
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const pauses: string[] = [];
    const created = await bootstrapAgentWhenWritable(store, { name: 'admin' }, () => new Date(), async (error) => {
      pauses.push(error.message);
      // Space comes back after the second pause: the first retry finds the agent but storage still unhealthy.
      if (pauses.length === 2) unhealthy = false;
    });
    expect(pauses).toEqual(['journal write failed: ENOSPC', 'ENOSPC']);
    expect(created?.generated).toBe(true);
    expect(failures).toBe(1);
    expect(await real.countAgents()).toBe(1);
    expect((await checkAgentLogin(real, 'admin', created!.password))?.id).toBe(created!.agent.id);
    await real.close();
  });

  it('an error other than unavailable storage is not retried; existing agents mean nothing is created', async () => {
    const real = await openStore();
    const failing = new Proxy(real, {
      get(target, key, receiver) {
        if (key === 'createAgent') return async () => Promise.reject(new Error('disk says no'));
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const pause = async (): Promise<void> => {
      throw new Error('no pause expected');
    };
    await expect(bootstrapAgentWhenWritable(failing, { name: 'admin', password: 'chosen-password' }, () => new Date(), pause)).rejects.toThrow('disk says no');
    const created = await bootstrapAgentWhenWritable(real, { name: 'admin', password: 'chosen-password' }, () => new Date(), pause);
    expect(created).toMatchObject({ password: 'chosen-password', generated: false });
    expect(await bootstrapAgentWhenWritable(real, { name: 'admin' }, () => new Date(), pause)).toBeUndefined();
    await real.close();
  });
});
