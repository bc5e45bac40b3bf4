/**
 * Bundles a Node entry of this repository (the bridge's `bridge/main.ts`, the bench's server wrappers) into one
 * ES module that plain `node` runs: `npm start` and the bench start the bridge from it instead of through tsx,
 * whose loader compiles every module on each start. Packages are bundled too: resolving and opening hundreds of
 * package files at start is most of what a bundle with external packages still spends (docs/performance.md), and
 * a restart storm cannot start before the bridge listens.
 *
 *   tsx scripts/build-bridge.ts        # bridge/main.ts → dist/bridge/main.js (what `npm start` runs)
 */
import { build, buildSync, type BuildOptions } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where `npm start` finds the bundled bridge. */
export const BRIDGE_BUNDLE = join(ROOT, 'dist', 'bridge', 'main.js');

/**
 * Packages that stay in node_modules: pino starts transport workers from files next to its own modules
 * (`__dirname`, which an ES bundle does not have), so a LOG transport added later must find them.
 */
const EXTERNAL = ['pino'];

/**
 * esbuild options that bundle `entry` (relative to the repository root) with its packages into `outfile`. The output must sit two
 * folders below the root (dist/x/, bench/x/) because bridge code finds the repository from `import.meta.dirname`
 * two levels up (bridge/http/static-routes.ts), and bundling rewrites import.meta to the bundle's own location.
 */
function bundleOptions(entry: string, outfile: string): BuildOptions {
  const depth = resolve(outfile).slice(ROOT.length + 1).split(/[\\/]/).length - 1;
  if (!resolve(outfile).startsWith(ROOT) || depth !== 2) {
    throw new Error(`bundle ${outfile} must be two folders below ${ROOT} (import.meta.dirname-relative paths)`);
  }
  return {
    entryPoints: [resolve(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS packages (express, socket.io, axios) call require() for Node built-ins; an ES bundle has none.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    // Stack traces in logs point at the sources when node runs with --enable-source-maps; without the sources'
    // text the map stays small and quick to load.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  };
}

/** Bundles `entry` into `outfile` (see bundleOptions), synchronously. */
export function bundleNodeEntry(entry: string, outfile: string): void {
  buildSync(bundleOptions(entry, outfile));
}

/** The same bundle, built without blocking: several of these at once share esbuild's threads. */
export async function bundleNodeEntryAsync(entry: string, outfile: string): Promise<void> {
  await build(bundleOptions(entry, outfile));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleNodeEntry('bridge/main.ts', BRIDGE_BUNDLE);
}
