/**
 * Whether dist/ was built from the sources as they are now. `npm run build` writes a stamp (a hash of the sources
 * that go into dist/ and of the files it produced); `npm start` refuses to run and `npm test` rebuilds when either changed.
 * Plain JavaScript so that `npm start` needs no TypeScript loader on the way to the bridge.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..');

/** Folders and files whose content goes into dist/ (the demo pages are served from their sources). */
const SOURCES = [
  'widget',
  'console',
  'protocol',
  'bridge',
  'scripts',
  'vite.config.ts',
  'custom-elements-manifest.config.mjs',
  'tsconfig.json',
  'package.json',
  'package-lock.json',
];
/** What the build produces. */
const OUTPUTS = ['dist/widget', 'dist/console', 'dist/bridge', 'dist/custom-elements.json'];

function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

// Tests and their fixtures do not go into dist/: editing them must not cost a rebuild.
const isTestOnly = (path) => /\.test\.ts$/.test(path) || /[\\/](testing|fixtures)[\\/]/.test(path);

/** Hash of the sources' paths and contents, and of the outputs' paths, sizes and modification times. */
export function fingerprint(root = ROOT) {
  const sources = createHash('sha256');
  for (const file of SOURCES.flatMap((p) => files(join(root, p))).filter((f) => !isTestOnly(f))) {
    sources.update(`${relative(root, file)}\0`).update(readFileSync(file)).update('\0');
  }
  const outputs = createHash('sha256');
  for (const file of OUTPUTS.flatMap((p) => files(join(root, p)))) {
    const { size, mtimeMs } = statSync(file);
    outputs.update(`${relative(root, file)}\0${size}\0${mtimeMs}\0`);
  }
  return { sources: sources.digest('hex'), outputs: outputs.digest('hex') };
}

/** True when dist/ holds a complete build of the current sources that nothing has touched since. */
export function buildIsCurrent(root = ROOT) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, 'dist', 'build-stamp.json'), 'utf8'));
  } catch {
    return false;
  }
  const now = fingerprint(root);
  return stamp.sources === now.sources && stamp.outputs === now.outputs;
}

/** Records that dist/ now matches the sources (called after a complete build). */
export function writeStamp(root = ROOT) {
  writeFileSync(join(root, 'dist', 'build-stamp.json'), `${JSON.stringify(fingerprint(root))}\n`);
}
