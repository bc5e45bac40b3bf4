/**
 * Vitest global setup of the `postgres` project: one throwaway cluster for the whole run, its admin URL provided to
 * test files as `inject('postgresAdminUrl')`. Vitest runs it only when a file of that project is queued.
 */
import type { TestProject } from 'vitest/node';
import { startTestPostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startTestPostgres();
  project.provide('postgresAdminUrl', cluster.adminUrl);
  return () => cluster.stop();
}
