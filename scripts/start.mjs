/**
 * `npm start`: checks the configuration, builds only when the sources changed since the last build, then runs the
 * bundled bridge in this process (no second Node start, signals reach it directly).
 *
 *   npm start                 # build if needed, then serve
 *   npm start -- --rebuild    # build even if dist/ looks current
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

if (options.rebuild || !buildIsCurrent()) {
  // A bad setting must be reported before a build that takes tens of seconds; the sources changed, so the check
  // runs from them (the old bundle may not know a new setting).
  const check = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/main.ts', '--check-config'], { cwd: ROOT, stdio: 'inherit' });
  if (check.status !== 0) process.exit(check.status ?? 1);
  process.stdout.write('anon-chat: the sources changed since the last build; building the widget, console and bridge (once)\n');
  await build();
}
// Source maps stay off unless asked for (`SOURCE_MAPS=1` or `NODE_OPTIONS=--enable-source-maps`): Node decodes the
// whole map at the first formatted stack and keeps it, a one-time cost larger than the idle bridge itself; the
// bundle is not minified, so a stack without maps still names functions and carries `// bridge/…` module markers.
if (process.env.SOURCE_MAPS === '1') process.setSourceMapsEnabled(true);
await import(pathToFileURL(BRIDGE_BUNDLE).href);
