/**
 * `npm run lint` and `npm run typecheck` as part of `npm test` (and so of CI): typescript-eslint's type-checked rules
 * over the repository at zero warnings, and `tsc --noEmit` with the strict options of tsconfig.json. They run as a
 * test file rather than in front of Vitest so that their single threads share the machine with the other test files
 * instead of adding their whole time to the run.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const ESLINT = resolve(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');
const TSC = resolve(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Longest a full type-checked lint (or the typecheck) may take on a loaded 2-core machine before it counts as hung. */
const DEADLINE_MS = 900_000;

/** Runs one checker over the repository; resolves with its exit code and everything it printed. */
function runChecker(name: string, script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n${name}: waited ${DEADLINE_MS} ms for it to exit; killed it\n`;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

describe('static checks', () => {
  it('npm run lint finds no error and no warning in the repository', { timeout: DEADLINE_MS + 10_000 }, async () => {
    const { code, output } = await runChecker('eslint', ESLINT, ['--max-warnings', '0', '.']);
    expect(code, output.slice(-6000)).toBe(0);
  });

  it('npm run typecheck finds no type error', { timeout: DEADLINE_MS + 10_000 }, async () => {
    const { code, output } = await runChecker('tsc', TSC, ['--noEmit']);
    expect(code, output.slice(-6000)).toBe(0);
  });
});
