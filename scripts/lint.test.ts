/**
 * `npm run lint` and `npm run typecheck` as part of `npm test` (and so of CI): typescript-eslint's type-checked rules
 * over the repository at zero warnings, and `tsc --noEmit` with the strict options of tsconfig.json. They run as a
 * test file rather than in front of Vitest so that their single thread shares the machine with the other test files
 * instead of adding its whole time to the run, and over one TypeScript program (scripts/static-checks.ts) rather than
 * the two the separate commands build.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runStaticChecks, type StaticCheckResults } from './static-checks.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** Longest the typecheck and the type-checked lint together may take on a loaded 2-core machine. */
const DEADLINE_MS = 900_000;

describe('static checks', () => {
  let results: StaticCheckResults;
  beforeAll(async () => {
    results = await runStaticChecks(ROOT);
  }, DEADLINE_MS);

  it('npm run lint finds no error and no warning in the repository', () => {
    expect(results.lint.ok, results.lint.report.slice(-6000)).toBe(true);
  });

  it('npm run typecheck finds no type error', () => {
    expect(results.typecheck.ok, results.typecheck.report.slice(-6000)).toBe(true);
  });
});
