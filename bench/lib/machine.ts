/** What the numbers were measured on, and how busy the machine was while they were. */
import { cpus, freemem, loadavg, totalmem, release, tmpdir } from 'node:os';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { canPin } from './server-process.ts';

/** Machine description for the report. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  freeMemoryGb: number;
  kernel: string;
  node: string;
  commit: string;
  date: string;
  pinned: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /** write + fdatasync of a 200-byte line in the temp dir (where the bench's stores live), in ms. */
  fsyncAtStart: FsyncProbe;
  fsyncAtEnd?: FsyncProbe;
}

/** Latency of the disk's durable write, the floor under every durable ack. */
export interface FsyncProbe {
  p50: number;
  p99: number;
  max: number;
}

/** Times 200 appends + fdatasync in a temp file: how fast this machine's disk makes a write durable. */
export function fsyncProbe(): FsyncProbe {
  const dir = mkdtempSync(join(tmpdir(), 'anon-chat-bench-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'a');
  const times: number[] = [];
  const line = `${'x'.repeat(199)}\n`;
  try {
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      writeSync(fd, line);
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return { p50: r(times[100]!), p99: r(times[197]!), max: r(times[199]!) };
}

/** Reads the machine description now (load average at start included). */
export function machineInfo(): MachineInfo {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // Not a git checkout (a tarball): the report says unknown.
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 1e9),
    freeMemoryGb: Math.round(freemem() / 1e9),
    kernel: release(),
    node: process.version,
    commit,
    date: new Date().toISOString(),
    pinned: canPin ? 'server on core 0, generator on core 1 (taskset)' : 'not pinned (taskset unavailable)',
    loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    fsyncAtStart: fsyncProbe(),
  };
}

/** A one-line warning when the machine was already busy (load average above half the cores). */
export function busyNote(m: MachineInfo): string | undefined {
  const worst = Math.max(m.loadAverageAtStart[0] ?? 0, m.loadAverageAtEnd?.[0] ?? 0);
  return worst > m.cores / 2
    ? `Machine was busy (1-min load average ${m.loadAverageAtStart[0]} at start, ${m.loadAverageAtEnd?.[0] ?? '?'} at end, ${m.cores} cores shared with other work): figures are pessimistic.`
    : undefined;
}
