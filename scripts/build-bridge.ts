/**
 * Bundles a Node entry of this repository (the bridge's `bridge/main.ts`, the bench's server wrappers) into one
 * ES module that plain `node` runs: `npm start` and the bench start the bridge from it instead of through tsx,
 * whose loader compiles every module on each start (1.8 s to listening vs ≈ 0.5 s bundled, measured in the bench).
 *
 *   tsx scripts/build-bridge.ts        # bridge/main.ts → dist/bridge/main.js (what `npm start` runs)
 */
import { buildSync } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where `npm start` finds the bundled bridge. */
export const BRIDGE_BUNDLE = join(ROOT, 'dist', 'bridge', 'main.js');

/**
 * Bundles `entry` (relative to the repository root) into `outfile`. Packages stay external, so they load from
 * node_modules as with tsx. The output must sit two folders below the root (dist/x/, bench/x/) because bridge
 * code finds the repository from `import.meta.dirname` two levels up (bridge/http/static-routes.ts), and
 * bundling rewrites import.meta to the bundle's own location.
 */
export function bundleNodeEntry(entry: string, outfile: string): void {
  const depth = resolve(outfile).slice(ROOT.length + 1).split(/[\\/]/).length - 1;
  if (!resolve(outfile).startsWith(ROOT) || depth !== 2) {
    throw new Error(`bundle ${outfile} must be two folders below ${ROOT} (import.meta.dirname-relative paths)`);
  }
  buildSync({
    entryPoints: [resolve(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // Stack traces in logs point at the TypeScript source when node runs with --enable-source-maps.
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleNodeEntry('bridge/main.ts', BRIDGE_BUNDLE);
}
