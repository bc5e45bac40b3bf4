/**
 * Smoke run of the benchmark harness (issue 7): `npm run bench -- --quick` runs scenarios 1–8 and 11 (uploads, one tiny round) against the bridge and
 * the bare Socket.IO baseline, and its correctness checks hold (no lost or duplicated message, every status back at
 * its sender, every widget back after the restart storm). Timing is what the bench reports; it is never asserted here.
 * Scenario 8 loads the widget `npm test` has just built into dist/widget (it builds its own when there is none).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const WIDGET_DIR = resolve(ROOT, 'dist', 'widget');

/** Longest a quick bench may run on a loaded 2-core machine before it counts as hung (each scenario also has its own bound). */
const QUICK_BENCH_DEADLINE_MS = 900_000;

function runQuickBench(): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const widgetDir = existsSync(resolve(WIDGET_DIR, 'anon-chat.js')) ? [`--widget-dir=${WIDGET_DIR}`] : [];
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', ...widgetDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\nbench-smoke: waited ${QUICK_BENCH_DEADLINE_MS} ms for \`npm run bench -- --quick\` to exit; killed it\n`;
      child.kill('SIGKILL');
    }, QUICK_BENCH_DEADLINE_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

describe('bench --quick', () => {
  it('runs scenarios 1–8 and 11 against bridge and baseline with no correctness failure', async () => {
    const { code, output } = await runQuickBench();
    expect(code, output.slice(-4000)).toBe(0);
    const report = JSON.parse(readFileSync(resolve(ROOT, 'bench/results/quick.json'), 'utf8')) as {
      mode: string;
      results: Array<{ id: number; rows: unknown[]; failures: string[] }>;
    };
    expect(report.mode).toBe('quick');
    expect(report.results.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 11]);
    for (const result of report.results) {
      expect(result.failures, `scenario ${result.id}`).toEqual([]);
      expect(result.rows.length, `scenario ${result.id} rows`).toBeGreaterThan(0);
    }
  }, QUICK_BENCH_DEADLINE_MS + 60_000);
});
