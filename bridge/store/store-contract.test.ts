/** The Store contract (store-contract.ts) on the embedded lowdb engine. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../logger.ts';
import { LowdbStore } from './lowdb/lowdb-store.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract({
  name: 'LowdbStore',
  async create() {
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-store-'));
    return {
      make: (clock) => new LowdbStore({ dataDir, clock, logger: silentLogger(), segmentSize: 4 }),
      dispose: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
});
