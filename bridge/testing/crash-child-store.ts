/** The store a lowdb crash child (bridge/testing/lowdb-*-crash-child.ts) writes to until the test kills it. */
import { pino } from 'pino';
import { LowdbStore, type LowdbStoreOptions } from '../store/lowdb/lowdb-store.ts';

/** Opens a silent LowdbStore on `dataDir` that checkpoints often, so that kills land inside checkpoints too. */
export async function openCrashChildStore(dataDir: string, options: Partial<LowdbStoreOptions> = {}): Promise<LowdbStore> {
  const store = new LowdbStore({ dataDir, logger: pino({ level: 'silent' }), checkpointBytes: 16 * 1024, checkpointIntervalMs: 50, ...options });
  await store.open();
  return store;
}
