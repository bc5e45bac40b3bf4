/**
 * `npm run build`: the widget, the console, the bundled bridge and the widget's custom-elements manifest into dist/, then the stamp that tells
 * `npm start` (and `npm test`) that dist/ is a build of the current sources.
 *
 *   node scripts/build.mjs              # build
 *   node scripts/build.mjs --if-stale   # build only when dist/ is not a build of the current sources (`npm test`)
 *   node scripts/build.mjs --if-tools   # build, or only say so when the build tools (devDependencies) are not installed
 *                                       # (`prepare`: a plain `npm install` builds; `npm ci --omit=dev` cannot and must not fail)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildIsCurrent, ROOT, writeStamp } from './build-stamp.mjs';

const BIN = join(ROOT, 'node_modules', '.bin');
/** Independent steps: each writes its own part of dist/ (widget/, console/, bridge/, custom-elements.json). */
const STEPS = [
  [join(BIN, 'vite'), ['build']],
  [join(BIN, 'vite'), ['build', '--mode', 'console']],
  [join(BIN, 'tsx'), ['scripts/build-bridge.ts']],
  [join(BIN, 'cem'), ['analyze', '--config', 'custom-elements-manifest.config.mjs', '--quiet']],
];
/** Steps at a time: most of each is one busy thread, so two keep both cores of a small CI machine at work. */
const PARALLEL = 2;

/** Runs one step with its output kept, so parallel steps print whole, one after another. */
function runStep([command, args]) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.stdout.isTTY ? '1' : '0' } });
    const output = [];
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output: Buffer.concat(output) }));
  });
}

/** Runs every build step, two at a time; exits with the first failing step's code (in the order of STEPS). */
export async function build() {
  const pending = STEPS.map(() => undefined);
  let next = 0;
  const worker = async () => {
    while (next < STEPS.length) {
      const index = next++;
      pending[index] = runStep(STEPS[index]);
      await pending[index];
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  for (const result of pending) {
    const { status, output } = await result;
    process.stdout.write(output);
    if (status !== 0) process.exit(status ?? 1);
  }
  writeStamp();
}

if (process.argv[1] === import.meta.filename) {
  const { values } = parseArgs({ options: { 'if-stale': { type: 'boolean', default: false }, 'if-tools': { type: 'boolean', default: false } } });
  const missing = [...new Set(STEPS.map(([command]) => command))].filter((command) => !existsSync(command));
  if (values['if-tools'] && missing.length > 0) {
    process.stdout.write(`anon-chat: build tools not installed (no ${missing.map((c) => c.slice(BIN.length + 1)).join(', ')}; an install without devDependencies): not building dist/\n`);
  } else if (values['if-stale'] && buildIsCurrent()) {
    process.stdout.write('anon-chat: dist/ is a build of the current sources: not building\n');
  } else {
    await build();
  }
}
