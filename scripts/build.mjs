/**
 * `npm run build`: the widget, the console, the bundled bridge and the widget's custom-elements manifest into dist/, then the stamp that lets
 * `npm start` skip building while the sources stay the same.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, writeStamp } from './build-stamp.mjs';

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

if (process.argv[1] === import.meta.filename) await build();
