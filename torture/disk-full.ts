/**
 * Case 3: disk full and permission denied during writes, for real. The data dir lives on a size-limited tmpfs
 * (mounted here; needs CAP_SYS_ADMIN) that a filler file fills to ENOSPC; permission denied runs the bridge as
 * an unprivileged uid and takes write permission off its data dir (root would ignore modes). Checks: no ack
 * for a write that did not reach the disk, the client keeps retrying, the bridge stays up and says why
 * (`storage_unavailable`, /health 503 with the error), recovers when space returns, and after a SIGKILL in the
 * middle of it every acked message is present exactly once.
 */
import { execFileSync } from 'node:child_process';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import { spawnBridge, spawnBridgeOutcome, type BridgeChild } from './bridge-process.ts';
import { allMessages } from './crash.ts';
import { TortureVisitor } from './visitor-client.ts';

/** True when this process may mount a tmpfs (root with CAP_SYS_ADMIN, not in a locked-down container). */
export function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'torture-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fills the filesystem holding `dir` with `filler` until ENOSPC; returns the bytes written. */
function fillDisk(filler: string): number {
  const fd = openSync(filler, 'a');
  let written = 0;
  try {
    for (const chunk of [1 << 20, 1 << 16, 4096, 512, 1]) {
      const buf = Buffer.alloc(chunk, 0x61);
      for (;;) {
        try {
          written += writeSync(fd, buf);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Figures of the disk-full and permission cases. */
export interface DiskFullFigures {
  mounted: boolean;
  /** Sends answered `ok` while the disk was full (each must be durable). */
  ackedWhileFull: number;
  /** Error answers while full, by code. */
  errorsWhileFull: Record<string, number>;
  /** What the client was told. */
  clientMessage: string;
  healthWhileFull: { status: number; lastError?: string };
  healthAfterRecovery: number;
  /** Messages acked after space returned without a restart. */
  recoveredLive: boolean;
  lost: number;
  duplicates: number;
  permission: {
    errorsWhileDenied: Record<string, number>;
    healthWhileDenied: { status: number; lastError?: string };
    /** What the bridge said when its shutdown checkpoint could not write to the read-only dir. */
    shutdownSaid: string;
    startRefusal: string;
    ackedWhileDenied: number;
    lost: number;
  };
  problems: string[];
}

async function health(url: string): Promise<{ status: number; lastError?: string }> {
  try {
    const res = await fetch(`${url}/health`);
    const body = (await res.json()) as { storage?: { lastError?: string } };
    return { status: res.status, ...(body.storage?.lastError ? { lastError: body.storage.lastError } : {}) };
  } catch {
    return { status: 0 };
  }
}

async function verify(dataDir: string, visitor: TortureVisitor, problems: string[]): Promise<{ lost: number; duplicates: number }> {
  const store = new LowdbStore({ dataDir, logger: pino({ level: 'silent' }) });
  await store.open();
  try {
    const messages = await allMessages(store, visitor.session!.conversationId);
    let lost = 0;
    let duplicates = 0;
    for (const [clientId] of visitor.acked) {
      const n = messages.filter((m) => m.clientId === clientId).length;
      if (n === 0) {
        lost++;
        problems.push(`acked ${clientId} missing after restart`);
      }
      if (n > 1) duplicates += n - 1;
    }
    return { lost, duplicates };
  } finally {
    await store.close();
  }
}

const MAX_WAIT = WAIT_DEADLINE_MS;

async function until(check: () => boolean | Promise<boolean>, ms = MAX_WAIT): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Runs the disk-full case on a 4 MB tmpfs, then the permission case as uid 65534. */
export async function runDiskFull(): Promise<DiskFullFigures> {
  const problems: string[] = [];
  const mountPoint = mkdtempSync(join(tmpdir(), 'torture-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', mountPoint]);
  const dataDir = join(mountPoint, 'data');
  mkdirSync(dataDir);
  const filler = join(mountPoint, 'filler');
  let bridge: BridgeChild | undefined;
  let visitor: TortureVisitor | undefined;
  try {
    const env = { RATE_LIMIT_MESSAGES_PER_MINUTE: '100000', LOG_LEVEL: 'error' };
    bridge = await spawnBridge({ dataDir, env });
    const port = bridge.port;
    visitor = new TortureVisitor({ url: bridge.url, name: 'full', ackTimeoutMs: 3000 });
    await visitor.ready();
    visitor.pump();
    for (let i = 0; i < 5; i++) visitor.queue();
    if (!(await visitor.drained(10_000))) problems.push('baseline messages not acked');

    // ---- phase A: full while running, then space returns ----
    fillDisk(filler);
    const ackedBefore = visitor.acked.size;
    visitor.errorCodes.clear();
    for (let i = 0; i < 20; i++) visitor.queue();
    await until(() => (visitor!.errorCodes.get('storage_unavailable') ?? 0) >= 3, MAX_WAIT);
    const healthWhileFull = await health(bridge.url);
    const ackedWhileFull = visitor.acked.size - ackedBefore;
    const errorsWhileFull = Object.fromEntries(visitor.errorCodes);
    const clientMessage = visitor.lastError ? `${visitor.lastError.code}: ${visitor.lastError.message}` : '(none)';
    unlinkSync(filler);
    const recoveredLive = await visitor.drained(MAX_WAIT);
    const healthAfterRecovery = (await health(bridge.url)).status;

    // ---- phase B: full, SIGKILL while the client is retrying, space returns, restart ----
    fillDisk(filler);
    for (let i = 0; i < 10; i++) visitor.queue();
    await until(() => (visitor!.errorCodes.get('storage_unavailable') ?? 0) >= errorsWhileFull['storage_unavailable']! + 3, MAX_WAIT);
    await bridge.kill('SIGKILL');
    unlinkSync(filler);
    // Same port, so the visitor reconnects to the same URL (spawnBridge waits should another process have taken it).
    bridge = await spawnBridge({ dataDir, port, env });
    if (!(await visitor.drained(MAX_WAIT))) problems.push(`outbox not drained after restart: ${visitor.outbox.length} left`);
    visitor.close();
    await bridge.kill('SIGKILL');
    bridge = undefined;
    const { lost, duplicates } = await verify(dataDir, visitor, problems);

    const permission = await runPermissionDenied(problems);
    return {
      mounted: true,
      ackedWhileFull,
      errorsWhileFull,
      clientMessage,
      healthWhileFull,
      healthAfterRecovery,
      recoveredLive,
      lost,
      duplicates,
      permission,
      problems,
    };
  } finally {
    visitor?.close();
    await bridge?.kill('SIGKILL');
    try {
      execFileSync('umount', ['-l', mountPoint]);
    } catch {
      // already unmounted
    }
    rmSync(mountPoint, { recursive: true, force: true });
  }
}

/**
 * Permission denied: the bridge runs as uid 65534 on a data dir it owns; write permission is taken away while it
 * runs (new files — checkpoints, journal generations — fail with EACCES; the open journal keeps working), then
 * a restart on the unwritable dir must refuse with a clear message.
 */
async function runPermissionDenied(problems: string[]): Promise<DiskFullFigures['permission']> {
  const parent = mkdtempSync(join(tmpdir(), 'torture-perm-'));
  chmodSync(parent, 0o755);
  const dataDir = join(parent, 'data');
  mkdirSync(dataDir);
  chownSync(dataDir, 65534, 65534);
  const env = { RATE_LIMIT_MESSAGES_PER_MINUTE: '100000', LOG_LEVEL: 'error' };
  let bridge: BridgeChild | undefined = await spawnBridge({ dataDir, env, uid: 65534, gid: 65534 });
  const visitor = new TortureVisitor({ url: bridge.url, name: 'perm', ackTimeoutMs: 3000 });
  try {
    await visitor.ready();
    visitor.pump();
    for (let i = 0; i < 5; i++) visitor.queue();
    await visitor.drained(10_000);
    const ackedBefore = visitor.acked.size;
    const lockAndFiles = readdirSync(dataDir).map((f) => join(dataDir, f));
    chmodSync(dataDir, 0o555);
    for (const f of lockAndFiles) if (statSync(f).isFile()) chmodSync(f, 0o444);
    visitor.errorCodes.clear();
    // Enough traffic to make the store want a new file (checkpoint or journal rotation).
    for (let i = 0; i < 300; i++) visitor.queue();
    await visitor.drained(MAX_WAIT);
    const healthWhileDenied = await health(bridge.url);
    const ackedWhileDenied = visitor.acked.size - ackedBefore;
    const errorsWhileDenied = Object.fromEntries(visitor.errorCodes);
    visitor.close();
    // A graceful stop runs the final checkpoint: new files in a read-only dir fail with EACCES.
    const exit = await bridge.kill('SIGTERM');
    bridge = undefined;
    const said = `${exit.stdout}\n${exit.stderr}`.split('\n').filter((l) => /EACCES|permission/i.test(l));
    const shutdownSaid = said.join(' | ').slice(0, 300) || '(nothing about permissions)';
    const outcome = await spawnBridgeOutcome({ dataDir, env, uid: 65534, gid: 65534 });
    let startRefusal: string;
    if (outcome.ready) {
      startRefusal = '(started)';
      await outcome.child.kill('SIGKILL');
    } else {
      startRefusal = outcome.exit.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300);
    }
    chmodSync(dataDir, 0o755);
    for (const f of readdirSync(dataDir)) chmodSync(join(dataDir, f), 0o644);
    visitor.close();
    const { lost } = await verify(dataDir, visitor, problems);
    return { errorsWhileDenied, healthWhileDenied, shutdownSaid, startRefusal, ackedWhileDenied, lost };
  } finally {
    visitor.close();
    await bridge?.kill('SIGKILL');
    rmSync(parent, { recursive: true, force: true });
  }
}

/** Free bytes on the filesystem holding `path` (for reports). */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}
