/**
 * Child processes of the tests (bridges, crash children) run as plain `node` on an esbuild bundle of their entry,
 * the form `npm start` runs the bridge in, instead of `node --import tsx`, whose loader compiles every module again
 * in each child: a test that restarts a bridge twenty times pays that twenty times. The bundle is built from the
 * sources as they are when the run starts, so a test never runs a stale dist/ a developer forgot to rebuild.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bundleNodeEntry, bundleNodeEntryAsync } from '../../scripts/build-bridge.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Folder of the bundles built once for a whole Vitest run (bridge/testing/bundle-global-setup.ts); child processes
 * of the test workers inherit it.
 */
export const RUN_BUNDLES_ENV = 'ANON_CHAT_TEST_BUNDLES';

/**
 * The entries the global setup builds before any test file runs. Others are built on first use into a folder of the
 * process, which a Vitest worker that is ended without an 'exit' event would leave behind in dist/.
 */
export const PREBUILT_ENTRIES = [
  'bridge/main.ts',
  'bridge/testing/lowdb-crash-child.ts',
  'bridge/testing/lowdb-attachment-crash-child.ts',
  'bridge/testing/lowdb-erasure-crash-child.ts',
  'torture/kill-point.ts',
  'torture/memory-probe.ts',
] as const;

/** File name of `entry`'s bundle: its repository path with `/` as `-`. Two folders below the root (build-bridge.ts). */
export function bundleName(entry: string): string {
  return entry.replace(/\.ts$/, '.js').replaceAll('/', '-');
}

/** Builds the bundles of `entries` into `dir` (a folder directly under dist/). */
export function buildBundles(dir: string, entries: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const entry of entries) bundleNodeEntry(entry, join(dir, bundleName(entry)));
}

/** buildBundles, all entries at once: the global setup runs before any test, with both cores otherwise idle. */
export async function buildBundlesConcurrently(dir: string, entries: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await Promise.all(entries.map((entry) => bundleNodeEntryAsync(entry, join(dir, bundleName(entry)))));
}

/** Bundles built by this process (an entry the run did not prebuild, or a run outside Vitest), by entry. */
const ownBundles = new Map<string, string>();
let ownDir: string | undefined;

/**
 * The runnable bundle of `entry` (a path relative to the repository root, e.g. `bridge/main.ts`): the run's prebuilt
 * one when there is one, otherwise built now into a folder of this process, removed when it exits.
 */
export function bundledEntry(entry: string): string {
  const runDir = process.env[RUN_BUNDLES_ENV];
  if (runDir) {
    const prebuilt = join(runDir, bundleName(entry));
    if (existsSync(prebuilt)) return prebuilt;
  }
  let bundle = ownBundles.get(entry);
  if (bundle === undefined) {
    if (ownDir === undefined) {
      const dir = join(ROOT, 'dist', `test-bundles-${process.pid}`);
      ownDir = dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    buildBundles(ownDir, [entry]);
    bundle = join(ownDir, bundleName(entry));
    ownBundles.set(entry, bundle);
  }
  return bundle;
}

/** `node` arguments that run `entry` from its bundle, with stack traces pointing at the sources. */
export function nodeArgsFor(entry: string, ...args: string[]): string[] {
  return ['--enable-source-maps', ...startArgsFor(entry, ...args)];
}

/**
 * `node` arguments that run `entry` from its bundle as `npm start` runs the bridge: without source maps, whose first
 * formatted stack trace decodes the bundle's whole map and keeps it for the life of the process (tens of MB that a
 * bridge started by `npm start` never holds). For children whose memory a test bounds from a baseline taken early.
 */
export function startArgsFor(entry: string, ...args: string[]): string[] {
  return [bundledEntry(entry), ...args];
}
