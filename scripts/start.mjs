/**
 * `npm start`: runs the bundled bridge from dist/ in this process with plain node (no second Node start, signals reach
 * it directly). It does not build: a dist/ that is missing or older than the sources stops it with a hint, so a
 * production install needs no build tools (they are devDependencies; `npm install` builds through `prepare`).
 *
 *   npm start                 # serve the current build
 *   npm start -- --rebuild    # check the configuration, build (needs the devDependencies), then serve
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildIsCurrent, ROOT } from './build-stamp.mjs';
import { build } from './build.mjs';

const BRIDGE_BUNDLE = join(ROOT, 'dist', 'bridge', 'main.js');

let options;
try {
  ({ values: options } = parseArgs({ options: { rebuild: { type: 'boolean', default: false } } }));
} catch (error) {
  process.stderr.write(`${error.message}\nusage: npm start [-- --rebuild]\n`);
  process.exit(2);
}

if (options.rebuild) {
  // A bad setting must be reported before a build that takes tens of seconds; the check runs from the sources (the
  // old bundle may not know a new setting).
  const check = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/main.ts', '--check-config'], { cwd: ROOT, stdio: 'inherit' });
  if (check.status !== 0) process.exit(check.status ?? 1);
  process.stdout.write('anon-chat: building the widget, console and bridge\n');
  await build();
} else if (!buildIsCurrent()) {
  process.stderr.write(
    'anon-chat: dist/ is missing or not a build of the current sources; run `npm run build` (or `npm start -- --rebuild`), then `npm start`\n',
  );
  process.exit(1);
}
// Source maps stay off unless asked for (`SOURCE_MAPS=1` or `NODE_OPTIONS=--enable-source-maps`): Node decodes the
// whole map at the first formatted stack and keeps it, a one-time cost larger than the idle bridge itself; the
// bundle is not minified, so a stack without maps still names functions and carries `// bridge/…` module markers.
if (process.env.SOURCE_MAPS === '1') process.setSourceMapsEnabled(true);
await import(pathToFileURL(BRIDGE_BUNDLE).href);
