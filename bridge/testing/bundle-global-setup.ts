/**
 * Vitest global setup of every project: bundles the bridge once for the whole run (bridge/testing/node-bundle.ts)
 * and hands the folder to the test workers through the environment they inherit. Vitest runs a global setup once per
 * project, all in its main process; the first one builds, the others find the folder already set.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundlesConcurrently, PREBUILT_ENTRIES, RUN_BUNDLES_ENV } from './node-bundle.ts';

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env[RUN_BUNDLES_ENV]) return undefined;
  const dir = join(import.meta.dirname, '..', '..', 'dist', `test-bundles-run-${process.pid}`);
  await buildBundlesConcurrently(dir, PREBUILT_ENTRIES);
  process.env[RUN_BUNDLES_ENV] = dir;
  return () => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env[RUN_BUNDLES_ENV];
  };
}
