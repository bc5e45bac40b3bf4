import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from './test-database.ts';

describe('test PostgreSQL cluster', () => {
  const pools: pg.Pool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
  });

  it('gives each caller its own empty database on a real server', async () => {
    const [a, b] = await Promise.all([createTestDatabase('harness'), createTestDatabase('harness')]);
    expect(a).not.toBe(b);
    const poolA = new pg.Pool({ connectionString: a });
    const poolB = new pg.Pool({ connectionString: b });
    pools.push(poolA, poolB);
    await poolA.query('CREATE TABLE marker (id int)');
    const { rows } = await poolB.query<{ n: string }>(
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'marker'",
    );
    expect(rows[0]?.n).toBe('0');
    const { rows: version } = await poolA.query<{ server_version_num: string }>('SHOW server_version_num');
    expect(Number(version[0]?.server_version_num)).toBeGreaterThanOrEqual(130000);
  });
});
