/** The Store contract (../store-contract.ts) on PostgreSQL: every case, on a real server. */
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { silentLogger } from '../../logger.ts';
import { createTestDatabase } from '../../testing/test-database.ts';
import { describeStoreContract } from '../store-contract.ts';
import { migrate } from './migrations.ts';
import { PostgresStore } from './postgres-store.ts';

let pool: pg.Pool;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: await createTestDatabase('store_contract') });
  await migrate(pool, silentLogger());
});

afterAll(async () => {
  await pool.end();
});

describeStoreContract({
  name: 'PostgresStore',
  async create() {
    await pool.query('TRUNCATE conversations, messages, agents, records, queue_items, rate_limit_buckets, login_attempts, attachments');
    return {
      make: (clock) => new PostgresStore({ pool, clock, logger: silentLogger() }),
      dispose: async () => undefined,
    };
  },
});
