/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --profile`): self time per function and per package or
 * bridge file, so "where does the time go" is answered with numbers rather than a flame graph screenshot.
 * Usage: tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [--from=<s>] (skip the first s seconds: start-up)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const usage = 'usage: tsx bench/profile-summary.ts [--from=<seconds>] <file.cpuprofile> [top]\n';
let parsed;
try {
  parsed = parseArgs({ options: { from: { type: 'string', default: '0' } }, allowPositionals: true });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const fromUs = Number(parsed.values.from) * 1e6;
const [file, topArg] = parsed.positionals;
if (!file || !Number.isFinite(fromUs)) {
  process.stderr.write(usage);
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
let elapsed = 0;
profile.samples.forEach((id, i) => {
  elapsed += profile.timeDeltas[i] ?? 0;
  if (elapsed >= fromUs) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Where a frame's code lives: an npm package, a repository file, node internals, or V8 itself. */
function bucketOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const repo = /\/work\/[^/]+\/(.+)$/.exec(url.replace('file://', ''));
  return repo ? repo[1]! : url;
}

const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const fn = new Map<string, number>();
const bucket = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (!n) continue;
  const { functionName, url, lineNumber } = n.callFrame;
  const where = bucketOf(url, functionName);
  const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  bucket.set(where, (bucket.get(where) ?? 0) + us);
}
// Inclusive time of repository functions (bridge/…): what a call site costs with everything it calls.
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur);
    if (!n) break;
    const where = bucketOf(n.callFrame.url, n.callFrame.functionName);
    // Bench servers run as esbuild bundles (dist/bench/*.js), which hold the bridge's functions under their own names.
    if (!where.startsWith('bridge/') && !where.startsWith('protocol/') && !where.startsWith('dist/')) continue;
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${where}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
};
process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled${fromUs ? ` after the first ${fromUs / 1e6} s` : ''} over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms\n`);
print('Self time by package / file', bucket);
print('Self time by function', fn);
print('Inclusive time of bridge / protocol functions', inclusive);
