/**
 * The chart of docs/performance.md, drawn as plain SVG from the run's results: scenario 1's latency
 * distribution (bridge vs baseline, send→ack and send→peer) and scenario 2's achieved vs offered throughput.
 */
import type { ScenarioResult } from './scenario.ts';

type Point = [number, number];
interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: Point[];
}

const W = 960;
const H = 400;
const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function panel(
  x0: number,
  title: string,
  series: Series[],
  axes: { x: (v: number) => number; y: (v: number) => number; xTicks: [number, string][]; yTicks: [number, string][]; xLabel: string; yLabel: string },
): string {
  const left = x0 + 60;
  const top = 50;
  const width = W / 2 - 90;
  const height = H - 120;
  const px = (v: number) => left + axes.x(v) * width;
  const py = (v: number) => top + height - axes.y(v) * height;
  const out: string[] = [`<text x="${left}" y="30" font-size="15" font-weight="600">${esc(title)}</text>`];
  out.push(`<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#999"/>`);
  for (const [v, label] of axes.xTicks) {
    out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${top}" y2="${top + height}" stroke="#eee"/>`);
    out.push(`<text x="${px(v)}" y="${top + height + 16}" font-size="11" text-anchor="middle">${esc(label)}</text>`);
  }
  for (const [v, label] of axes.yTicks) {
    out.push(`<line x1="${left}" x2="${left + width}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${py(v) + 4}" font-size="11" text-anchor="end">${esc(label)}</text>`);
  }
  out.push(`<text x="${left + width / 2}" y="${top + height + 34}" font-size="12" text-anchor="middle">${esc(axes.xLabel)}</text>`);
  out.push(`<text x="${x0 + 14}" y="${top + height / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${x0 + 14} ${top + height / 2})">${esc(axes.yLabel)}</text>`);
  series.forEach((s, k) => {
    if (!s.points.length) return;
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = top + height + 52 + Math.floor(k / 2) * 16;
    const lx = left + (k % 2) * (width / 2);
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** The SVG document for a run's results. */
export function renderChart(results: ScenarioResult[]): string {
  const parts: string[] = [];
  const s1 = results.find((r) => r.id === 1)?.data as
    | { bridge?: { ackDistribution: Point[]; peerDistribution: Point[] }; baseline?: { ackDistribution: Point[]; peerDistribution: Point[] } }
    | undefined;
  if (s1?.bridge && s1.baseline) {
    // x: percentile on a "nines" scale (p50 → 1, p90 → 2, p99 → 3 …); y: latency on a log scale.
    const nines = (q: number) => Math.min(4, -Math.log10(Math.max(1e-4, 1 - q)));
    const toPoints = (dist: Point[]) => dist.filter(([q]) => q > 0 && q < 1).map(([q, v]): Point => [nines(q), Math.max(0.01, v)]);
    const all = [s1.bridge.ackDistribution, s1.bridge.peerDistribution, s1.baseline.ackDistribution, s1.baseline.peerDistribution].flatMap(toPoints);
    const maxY = Math.max(1, ...all.map(([, y]) => y));
    const minY = Math.min(1, ...all.map(([, y]) => y));
    const lo = Math.floor(Math.log10(minY));
    const hi = Math.ceil(Math.log10(maxY));
    const yTicks: [number, string][] = [];
    for (let e = lo; e <= hi; e++) yTicks.push([10 ** e, `${10 ** e} ms`]);
    parts.push(
      panel(0, 'Scenario 1: latency distribution (sequential)', [
        { name: 'bridge send→ack', color: '#d9480f', points: toPoints(s1.bridge.ackDistribution) },
        { name: 'bridge send→peer', color: '#d9480f', dashed: true, points: toPoints(s1.bridge.peerDistribution) },
        { name: 'baseline send→ack', color: '#1c7ed6', points: toPoints(s1.baseline.ackDistribution) },
        { name: 'baseline send→peer', color: '#1c7ed6', dashed: true, points: toPoints(s1.baseline.peerDistribution) },
      ], {
        x: (v) => (v - nines(0.5)) / (4 - nines(0.5)),
        y: (v) => (Math.log10(v) - lo) / (hi - lo || 1),
        xTicks: [[nines(0.5), 'p50'], [1, 'p90'], [2, 'p99'], [3, 'p99.9'], [4, 'p99.99']],
        yTicks,
        xLabel: 'percentile',
        yLabel: 'latency (log)',
      }),
    );
  }
  const s2 = results.find((r) => r.id === 2)?.data as
    | { bridge?: { steps: { offeredRate: number; achievedRate: number }[] }; baseline?: { steps: { offeredRate: number; achievedRate: number }[] } }
    | undefined;
  if (s2?.bridge && s2.baseline) {
    const offered = s2.bridge.steps.map((s) => s.offeredRate);
    const top = Math.max(...offered, ...s2.baseline.steps.map((s) => s.achievedRate), ...s2.bridge.steps.map((s) => s.achievedRate));
    const step = top > 8000 ? 2500 : top > 4000 ? 1000 : 500;
    const max = Math.ceil((top * 1.05) / step) * step;
    const ticks: [number, string][] = [];
    for (let v = 0; v <= max; v += step) ticks.push([v, v === 0 ? '0' : `${v / 1000}k`]);
    parts.push(
      panel(W / 2, 'Scenario 2: achieved vs offered msgs/s', [
        { name: 'bridge (acked, durable)', color: '#d9480f', points: s2.bridge.steps.map((s): Point => [s.offeredRate, s.achievedRate]) },
        { name: 'baseline', color: '#1c7ed6', points: s2.baseline.steps.map((s): Point => [s.offeredRate, s.achievedRate]) },
        { name: 'offered', color: '#aaa', dashed: true, points: [[0, 0], [max, max]] },
      ], {
        x: (v) => v / max,
        y: (v) => v / max,
        xTicks: ticks,
        yTicks: ticks,
        xLabel: 'offered msgs/s',
        yLabel: 'achieved msgs/s',
      }),
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
