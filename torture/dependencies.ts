/**
 * Case 12: installed versions against patched floors (read from node_modules, every nested copy), and
 * `npm audit --omit=dev` that reports "audit unavailable" instead of failing when the registry cannot answer.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Lowest patched version of each package, per maintained line, and the advisory that sets the floor. A copy is
 * judged by the floor of its own major.minor line if there is one, else by the highest floor of its major, else it
 * must be newer than every floor (a later major).
 */
export const PATCHED_FLOORS: Record<string, { floors: string[]; why: string }> = {
  // 3.x has two patched lines: 3.3.4 and 3.4.3 (3.4.0–3.4.2 are affected although above 3.3.4).
  'socket.io-parser': { floors: ['3.3.4', '3.4.3', '4.2.3'], why: 'CVE-2023-32695 (crash on malformed binary attachments)' },
  'engine.io': { floors: ['6.4.2'], why: 'CVE-2023-31125 (uncaught exception on a crafted request)' },
  ws: { floors: ['5.2.4', '6.2.3', '7.5.10', '8.17.1'], why: 'CVE-2024-37890 (DoS with many HTTP headers)' },
  express: { floors: ['4.20.0', '5.0.0'], why: 'CVE-2024-43796 / CVE-2024-29041 (redirect XSS, open redirect)' },
  axios: { floors: ['1.12.0'], why: 'CVE-2025-58754 (data: URI DoS), CVE-2025-27152 (SSRF via absolute URL)' },
  'body-parser': { floors: ['1.20.3', '2.0.0'], why: 'CVE-2024-45590 (DoS with url-encoded bodies)' },
  cookie: { floors: ['0.7.0'], why: 'CVE-2024-47764 (cookie name injection)' },
  'path-to-regexp': { floors: ['0.1.12', '1.9.0', '6.3.0', '8.0.0'], why: 'CVE-2024-45296 / CVE-2024-52798 (ReDoS)' },
};

/** Compares two x.y.z versions (pre-release tags sort before the release). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre] = v.split('-', 2);
    return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre && !y.pre) return -1;
  if (!x.pre && y.pre) return 1;
  return 0;
}

/** Every installed copy of `name` under `nodeModules` (top level and nested), with its path and version. */
export function installedCopies(nodeModules: string, name: string): { path: string; version: string }[] {
  const found: { path: string; version: string }[] = [];
  const visit = (dir: string, depth: number) => {
    if (depth > 6 || !existsSync(dir)) return;
    const pkg = join(dir, name, 'package.json');
    if (existsSync(pkg)) found.push({ path: join(dir, name), version: (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version });
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const sub = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(sub, { withFileTypes: true })) {
          if (scoped.isDirectory()) visit(join(sub, scoped.name, 'node_modules'), depth + 1);
        }
      } else {
        visit(join(sub, 'node_modules'), depth + 1);
      }
    }
  };
  visit(nodeModules, 0);
  return found;
}

/** True when `version` is at or above the floor of its line (see PATCHED_FLOORS), or on a major newer than every floor. */
export function meetsFloor(version: string, floors: readonly string[]): boolean {
  const [major, minor] = version.split('.');
  const sameMinor = floors.find((f) => f.split('.').slice(0, 2).join('.') === `${major}.${minor}`);
  if (sameMinor) return compareVersions(version, sameMinor) >= 0;
  const sameMajor = floors.filter((f) => f.split('.')[0] === major).sort(compareVersions);
  if (sameMajor.length) return compareVersions(version, sameMajor.at(-1)!) >= 0;
  return floors.every((f) => compareVersions(version, f) > 0);
}

/** Each installed copy below its floor. */
export function versionsBelowFloor(nodeModules: string): { name: string; path: string; version: string; floors: string[]; why: string }[] {
  const bad = [];
  for (const [name, { floors, why }] of Object.entries(PATCHED_FLOORS)) {
    for (const copy of installedCopies(nodeModules, name)) {
      if (!meetsFloor(copy.version, floors)) bad.push({ name, ...copy, floors, why });
    }
  }
  return bad;
}

/** Outcome of `npm audit`: counts by severity, or why no audit could be made. */
export type AuditOutcome =
  | { available: true; counts: Record<string, number>; highOrCritical: string[] }
  | { available: false; reason: string };

/** Runs `npm audit --omit=dev --json`; a registry or network failure is "unavailable", not a finding. */
export function runAudit(cwd: string, timeoutMs = 60_000): Promise<AuditOutcome> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['audit', '--omit=dev', '--json'],
      { cwd, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, npm_config_loglevel: 'silent' } },
      (error, stdout) => {
        let report: {
          vulnerabilities?: Record<string, { severity: string }>;
          metadata?: { vulnerabilities?: Record<string, number> };
          message?: string;
          error?: { summary?: string };
        };
        try {
          report = JSON.parse(stdout) as typeof report;
        } catch {
          resolve({ available: false, reason: `npm audit gave no JSON (${error ? error.message.split('\n')[0] : 'empty output'})` });
          return;
        }
        if (!report.metadata?.vulnerabilities) {
          resolve({ available: false, reason: report.message ?? report.error?.summary ?? 'npm audit returned no metadata' });
          return;
        }
        const highOrCritical = Object.entries(report.vulnerabilities ?? {})
          .filter(([, v]) => v.severity === 'high' || v.severity === 'critical')
          .map(([name, v]) => `${name} (${v.severity})`);
        resolve({ available: true, counts: report.metadata.vulnerabilities, highOrCritical });
      },
    );
  });
}
