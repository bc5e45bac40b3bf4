/**
 * The order `npm test` starts its files in: longest first, across all projects, so no long file starts last and
 * runs alone while the other worker idles. Vitest's own record of the last run (node_modules/.vite) gives a file's
 * duration when it has one; a clean clone has none, and scripts/test-durations.json (rough seconds per
 * `project:file` on a quiet machine; only their order matters) stands in. A file in neither counts as short.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const KNOWN_SECONDS = JSON.parse(readFileSync(resolve(import.meta.dirname, 'test-durations.json'), 'utf8')) as Record<string, number>;

/** Sorts test files by expected duration, longest first (Vitest's `sequence.groupOrder` still comes before that). */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const expectedMs = (spec: TestSpecification): number => {
      const key = `${spec.project.name}:${relative(root, spec.moduleId)}`;
      return this.ctx.cache.getFileTestResults(key)?.duration ?? (KNOWN_SECONDS[key] ?? 0) * 1000;
    };
    const withDuration = files.map((spec) => ({ spec, ms: expectedMs(spec) }));
    withDuration.sort(
      (a, b) => a.spec.project.config.sequence.groupOrder - b.spec.project.config.sequence.groupOrder || b.ms - a.ms,
    );
    return withDuration.map(({ spec }) => spec);
  }
}
