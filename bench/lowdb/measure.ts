/**
 * Measures the lowdb store's storage-growth figures (run by hand: `tsx bench/lowdb/measure.ts
 * [--sizes 1000,100000,1000000] [--replay 100000] [--json]`): for each size it fills a temp store over 1,000 conversations, then
 * measures sequential append latency, paced append latency (5,000/s with a checkpoint in the middle), the longest
 * event-loop block, cold-start time, first access to a conversation after start, and bytes on disk per message.
 */
import { cp, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';

/** Figures for one store size. */
export interface StorageFigures {
  messages: number;
  fillSeconds: number;
  sequentialP50Ms: number;
  sequentialP99Ms: number;
  pacedRate: number;
  pacedP50Ms: number;
  pacedP99Ms: number;
  maxLoopBlockMs: number;
  /** The longest block counting only CPU this process used (excludes time the OS gave to other processes). */
  maxLoopBlockCpuMs: number;
  /** CPU time of this process during the paced phase, as a share of its wall time (1 = one core busy). */
  pacedCpuShare: number;
  coldStartMs: number;
  firstTouchMs: number;
  bytesPerMessage: number;
  rssMiB: number;
}

const CONVERSATIONS = 1000;
const TEXT = 'Hi! Is my order #4711 on its way?';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await diskBytes(path) : (await stat(path)).size;
  }
  return total;
}

/**
 * Longest gap between 1 ms timer ticks beyond the 1 ms itself: how long the event loop was blocked. On a shared
 * machine a gap can also be the OS running someone else, so the CPU time this process used during the gap is kept
 * too: a real block burns CPU, a preemption does not.
 */
function loopBlockProbe(): { stop: () => { wallMs: number; cpuMs: number } } {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let wallMs = 0;
  let cpuMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gap = now - last - 1;
    const used = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    wallMs = Math.max(wallMs, gap);
    cpuMs = Math.max(cpuMs, Math.min(gap, used - 1));
    last = now;
    lastCpu = cpu;
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return { wallMs, cpuMs };
    },
  };
}

const conversationId = (i: number): string => `conv-${i % CONVERSATIONS}`;

async function fill(store: LowdbStore, count: number): Promise<void> {
  for (let i = 0; i < CONVERSATIONS; i++) await store.createConversation({ id: conversationId(i), channel: 'web', name: `Visitor ${i}` });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await store.appendMessage({ conversationId: conversationId(i), clientId: `fill-${i}`, author: { role: i % 2 ? 'agent' : 'visitor' }, text: TEXT });
    }
  };
  await Promise.all(Array.from({ length: 256 }, () => worker()));
}

async function measureSize(count: number): Promise<StorageFigures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-measure-'));
  const logger = pino({ level: 'silent' });
  try {
    let store = new LowdbStore({ dataDir, logger });
    await store.open();
    const fillStart = performance.now();
    await fill(store, count);
    const fillSeconds = (performance.now() - fillStart) / 1000;
    await store.checkpoint();

    // Sequential: the cost of one durable append (write + fdatasync) with nothing else going on.
    const sequential: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      await store.appendMessage({ conversationId: conversationId(i * 7), clientId: `seq-${i}`, author: { role: 'visitor' }, text: TEXT });
      sequential.push(performance.now() - t);
    }

    // Paced: 5,000 appends/s offered at a constant rate over all conversations, a checkpoint halfway.
    const rate = 5000;
    const total = rate * 2;
    const paced: number[] = [];
    const probe = loopBlockProbe();
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const pending: Promise<void>[] = [];
    let sent = 0;
    let checkpoint: Promise<void> | undefined;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      for (; sent < due; sent++) {
        const i = sent;
        const t = performance.now();
        pending.push(
          store
            .appendMessage({ conversationId: conversationId(i * 13), clientId: `paced-${i}`, author: { role: 'agent' }, text: TEXT })
            .then(() => {
              paced.push(performance.now() - t);
            }),
        );
      }
      if (!checkpoint && sent >= total / 2) checkpoint = store.checkpoint();
      // A 1 ms timer tick, not a busy spin: the generator must leave the CPU to the store it measures.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(pending);
    await checkpoint;
    const block = probe.stop();
    const pacedWallMs = performance.now() - start;
    const cpu = process.cpuUsage(cpuBefore);
    const pacedCpuShare = (cpu.user + cpu.system) / 1000 / pacedWallMs;
    const achieved = total / (pacedWallMs / 1000);
    const rssMiB = process.memoryUsage().rss / 1024 / 1024;
    await store.close();

    const bytesPerMessage = (await diskBytes(dataDir)) / (count + 2000 + total);
    const t0 = performance.now();
    store = new LowdbStore({ dataDir, logger });
    await store.open();
    const coldStartMs = performance.now() - t0;
    const t1 = performance.now();
    await store.appendMessage({ conversationId: conversationId(500), clientId: 'first-after-start', author: { role: 'visitor' }, text: TEXT });
    const firstTouchMs = performance.now() - t1;
    await store.close();
    return {
      messages: count,
      fillSeconds,
      sequentialP50Ms: percentile(sequential, 50),
      sequentialP99Ms: percentile(sequential, 99),
      pacedRate: achieved,
      pacedP50Ms: percentile(paced, 50),
      pacedP99Ms: percentile(paced, 99),
      maxLoopBlockMs: block.wallMs,
      maxLoopBlockCpuMs: block.cpuMs,
      pacedCpuShare,
      coldStartMs,
      firstTouchMs,
      bytesPerMessage,
      rssMiB,
    };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Restart after a crash with a full journal (the default checkpoint threshold's worth of un-checkpointed changes):
 * the directory is copied while the store runs, as a kill -9 would leave it, and opened.
 */
async function measureCrashReplay(messages: number): Promise<{ messages: number; journalMiB: number; openMs: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-measure-'));
  const image = await mkdtemp(join(tmpdir(), 'anon-chat-measure-image-'));
  const logger = pino({ level: 'silent' });
  try {
    const store = new LowdbStore({ dataDir, logger, checkpointBytes: 1024 ** 3, checkpointIntervalMs: 3_600_000 });
    await store.open();
    await fill(store, messages);
    await cp(dataDir, image, { recursive: true, filter: (src) => basename(src) !== 'lock' });
    await store.close();
    const journalBytes = (await readdir(image)).filter((n) => n.startsWith('journal-')).length
      ? (await stat(join(image, (await readdir(image)).find((n) => n.startsWith('journal-'))!))).size
      : 0;
    const t = performance.now();
    const reopened = new LowdbStore({ dataDir: image, logger });
    await reopened.open();
    const openMs = performance.now() - t;
    await reopened.close();
    return { messages, journalMiB: journalBytes / 1024 / 1024, openMs };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await rm(image, { recursive: true, force: true });
  }
}

/** The floor under every figure: a bare 330-byte positional write + fdatasync on the same disk, 2,000 times in a row. */
async function measureRawFdatasync(): Promise<{ p50Ms: number; p99Ms: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-measure-raw-'));
  const handle = await open(join(dir, 'raw.bin'), 'w');
  const line = Buffer.alloc(330, 120);
  const times: number[] = [];
  try {
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      await handle.write(line, 0, line.length, i * line.length);
      await handle.datasync();
      times.push(performance.now() - t);
    }
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
}

const USAGE = 'usage: tsx bench/lowdb/measure.ts [--sizes 1000,100000,1000000] [--replay 100000] [--json]';
let parsed;
try {
  parsed = parseArgs({ options: { sizes: { type: 'string', default: '1000,100000,1000000' }, replay: { type: 'string', default: '100000' }, json: { type: 'boolean', default: false } } });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const asJson = parsed.values.json;
const sizes = parsed.values.sizes.split(',').map(Number);
const replayMessages = Number(parsed.values.replay);
if (!sizes.every((n) => Number.isSafeInteger(n) && n > 0) || !Number.isSafeInteger(replayMessages) || replayMessages <= 0) {
  process.stderr.write(`--sizes and --replay take positive whole numbers\n${USAGE}\n`);
  process.exit(2);
}

const raw = await measureRawFdatasync();
if (!asJson) {
  console.log(`raw write+fdatasync on this disk: p50 ${raw.p50Ms.toFixed(2)} ms p99 ${raw.p99Ms.toFixed(2)} ms`);
}
const results: StorageFigures[] = [];
for (const size of sizes) {
  const figures = await measureSize(size);
  results.push(figures);
  if (!asJson) {
    const f = (n: number, d = 2): string => n.toFixed(d);
    console.log(
      `${String(size).padStart(9)} msgs | fill ${f(figures.fillSeconds, 1)} s | sequential p50 ${f(figures.sequentialP50Ms)} ms p99 ${f(figures.sequentialP99Ms)} ms` +
        ` | paced ${f(figures.pacedRate, 0)}/s p50 ${f(figures.pacedP50Ms)} ms p99 ${f(figures.pacedP99Ms)} ms | max loop block ${f(figures.maxLoopBlockMs)} ms (cpu ${f(figures.maxLoopBlockCpuMs)} ms) | cpu ${f(figures.pacedCpuShare)}` +
        ` | cold start ${f(figures.coldStartMs, 0)} ms, first touch ${f(figures.firstTouchMs)} ms | ${f(figures.bytesPerMessage, 0)} B/msg | rss ${f(figures.rssMiB, 0)} MiB`,
    );
  }
}
const replay = await measureCrashReplay(replayMessages);
if (asJson) console.log(JSON.stringify({ rawFdatasync: raw, sizes: results, crashReplay: replay }));
else console.log(`crash restart: ${replay.messages} messages only in a ${replay.journalMiB.toFixed(1)} MiB journal, open in ${replay.openMs.toFixed(0)} ms`);
