/**
 * `npm run build`: the widget, the console, the bundled bridge and the widget's custom-elements manifest into dist/, then the stamp that lets
 * `npm start` skip building while the sources stay the same.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, writeStamp } from './build-stamp.mjs';

const BIN = join(ROOT, 'node_modules', '.bin');
const STEPS = [
  [join(BIN, 'vite'), ['build']],
  [join(BIN, 'vite'), ['build', '--mode', 'console']],
  [join(BIN, 'tsx'), ['scripts/build-bridge.ts']],
  [join(BIN, 'cem'), ['analyze', '--config', 'custom-elements-manifest.config.mjs', '--quiet']],
];

/** Runs every build step; exits with the first failing step's code. */
export function build() {
  for (const [command, args] of STEPS) {
    const { status, error } = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
    if (error) throw error;
    if (status !== 0) process.exit(status ?? 1);
  }
  writeStamp();
}

if (process.argv[1] === import.meta.filename) build();
