/** A fresh database for one test file on the run's throwaway PostgreSQL cluster (files of the `postgres` project). */
import { inject } from 'vitest';
import { createDatabase } from './postgres.ts';
import './postgres-global-setup.ts';

/** Creates an empty database and returns its URL; `prefix` names it after the test file for the server log. */
export async function createTestDatabase(prefix = 'test'): Promise<string> {
  const adminUrl = inject('postgresAdminUrl');
  if (!adminUrl) throw new Error('no PostgreSQL cluster: name the test file *.postgres.test.ts (vitest project "postgres")');
  return createDatabase(adminUrl, prefix);
}
