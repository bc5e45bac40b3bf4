/**
 * Turns scenario results into the outputs a person reads: the console lines (figure / target / ratio to baseline),
 * bench/results/<name>.json + .md, and — on a full run — docs/performance.md (the README's Performance section
 * links to it) with the chart.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Row, ScenarioResult } from './scenario.ts';
import { busyNote, type MachineInfo } from './machine.ts';

const mark = (met: boolean | null) => (met === null ? '' : met ? '✅' : '❌');
const cell = (s: string | number | undefined) => (s === undefined ? '' : String(s).replaceAll('|', '\\|'));

/** Console lines for one scenario. */
export function consoleLines(result: ScenarioResult): string[] {
  const lines = [`\n${result.id}. ${result.title}`];
  const w = Math.max(...result.rows.map((r) => r.label.length), 10);
  for (const r of result.rows) {
    const parts = [`  ${r.label.padEnd(w)}  ${r.figure.padStart(14)}`, `target ${r.target}`.padEnd(30)];
    if (r.baseline !== undefined) parts.push(`baseline ${r.baseline}`);
    if (r.ratio !== undefined) parts.push(`ratio ${r.ratio}`);
    lines.push(`${parts.join('  ')}  ${mark(r.met)}`);
  }
  for (const n of result.notes) lines.push(`  · ${n}`);
  for (const f of result.failures) lines.push(`  ✖ ${f}`);
  return lines;
}

function table(rows: Row[]): string[] {
  return [
    '| measure | bridge | target | baseline | bridge ÷ baseline | met |',
    '|---|---:|---|---:|---:|:-:|',
    ...rows.map((r) => `| ${cell(r.label)} | ${cell(r.figure)} | ${cell(r.target)} | ${cell(r.baseline ?? '—')} | ${cell(r.ratio ?? '—')} | ${mark(r.met)} |`),
  ];
}

/** The markdown report of a run. */
export function markdown(machine: MachineInfo, results: ScenarioResult[], mode: string, totalSeconds: number): string {
  const busy = busyNote(machine);
  const out = [
    `Measured ${machine.date.slice(0, 16).replace('T', ' ')} UTC on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB RAM, Linux ${machine.kernel}, Node ${machine.node}, commit ${machine.commit}; ${mode} run, ${Math.round(totalSeconds)} s; ${machine.pinned}; 1-min load average ${machine.loadAverageAtStart.join(' / ')} at start, ${machine.loadAverageAtEnd?.join(' / ') ?? '?'} at end; disk write + fdatasync p50 / p99 ${machine.fsyncAtStart.p50} / ${machine.fsyncAtStart.p99} ms at start, ${machine.fsyncAtEnd ? `${machine.fsyncAtEnd.p50} / ${machine.fsyncAtEnd.p99}` : '?'} ms at end (the floor under every durable ack).`,
    ...(busy ? ['', `> ${busy}`] : []),
    '',
    'Baseline = a bare Socket.IO server doing the least possible work for the same traffic (receive, ack, forward; no validation, no auth, no storage), measured in the same run on the same core. Latencies in ms; "ratio" is bridge ÷ baseline.',
  ];
  for (const r of results) {
    out.push('', `### ${r.id}. ${r.title}`, '', ...table(r.rows), '');
    for (const n of r.notes) out.push(`- ${n}`);
    for (const f of r.failures) out.push(`- **Correctness failure:** ${f}`);
  }
  return `${out.join('\n')}\n`;
}

/** Writes a file, creating its folder. */
export function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
