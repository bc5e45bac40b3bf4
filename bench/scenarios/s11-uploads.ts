/**
 * Scenario 11 — attachment uploads: files POSTed to the bridge's `/api/attachments` (a visitor's token, the file as
 * the raw body; type sniffing, images re-encoded without metadata plus a thumbnail, stored durably) and fetched back
 * with `GET /api/attachments/:id`, against a plain static-file server in the baseline process measured in the same
 * run (the same bytes streamed to a temp file, fsynced, renamed, and served back from disk). Figures: MB/s of
 * uploads and of fetches, and server CPU per MB. Reported, never asserted; a wrong answer or a fetched body of the
 * wrong size is a correctness failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { inWaves, openVisitor } from '../lib/clients.ts';
import { sharesTarget, Target, type TargetKind } from '../lib/targets.ts';
import { ratio, type Row, type Scenario, type ScenarioResult } from '../lib/scenario.ts';

/** One kind of file of the run. */
interface FileKind {
  label: string;
  /** The `i`-th file: every upload has bytes of its own, so neither server can answer from an earlier copy. */
  make: (i: number) => Promise<Buffer>;
  count: number;
}

/** Sizes of a run. */
interface Plan {
  pdfBytes: number;
  pdfs: number;
  jpegs: number;
  /** Uploads (and fetches) in flight at once. */
  concurrency: number;
}

/** A PDF-typed file of `size` bytes: a header, then random bytes (stored as uploaded: the pipeline without image work). */
function pdf(size: number): Buffer {
  return Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(size - 9)]);
}

/** A 1600 × 1200 photo-like JPEG (noise compresses badly, as photos do), different for every `i`. */
function jpeg(i: number): Promise<Buffer> {
  const width = 1600;
  const height = 1200;
  const pixels = randomBytes(width * height * 3);
  pixels.writeUInt32BE(i, 0);
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** One phase's figures. */
interface Phase {
  files: number;
  bytes: number;
  wallMs: number;
  mbPerSecond: number;
  cpuMsPerMb: number;
}

function phase(files: number, bytes: number, wallMs: number, cpuSeconds: number): Phase {
  const mb = bytes / 1e6;
  return {
    files,
    bytes,
    wallMs: Math.round(wallMs),
    mbPerSecond: Math.round((mb / (wallMs / 1000)) * 10) / 10,
    cpuMsPerMb: Math.round((cpuSeconds * 1000 * 10) / mb) / 10,
  };
}

/** Uploads then fetches back every file of `kind` on one target. */
async function measure(target: Target, files: Uint8Array<ArrayBuffer>[], concurrency: number, failures: string[], label: string) {
  const baseline = target.kind === 'baseline';
  const visitor = baseline ? undefined : await openVisitor(target.url);
  const auth: Record<string, string> = visitor ? { authorization: `Bearer ${visitor.token}` } : {};
  try {
    const bytes = files.reduce((sum, f) => sum + f.byteLength, 0);
    const cpu0 = await target.cpu();
    const t0 = performance.now();
    const stored = await inWaves(files.length, concurrency, async (i) => {
      const url = baseline ? `${target.url}/upload` : `${target.url}/api/attachments?name=file-${i}&uploadKey=bench-${label.replace(/[^A-Za-z0-9]/g, "")}-${i}`;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...auth }, body: files[i]! });
      const body = (await res.json()) as { id?: string; attachment?: { id: string; size: number } };
      if (res.status !== 201) failures.push(`${target.kind} ${label} upload ${i}: ${res.status} ${JSON.stringify(body)}`);
      return baseline ? { id: body.id ?? '', size: files[i]!.byteLength } : { id: body.attachment?.id ?? '', size: body.attachment?.size ?? -1 };
    });
    const t1 = performance.now();
    const cpu1 = await target.cpu();
    let fetched = 0;
    await inWaves(stored.length, concurrency, async (i) => {
      const { id, size } = stored[i]!;
      const res = await fetch(baseline ? `${target.url}/files/${id}` : `${target.url}/api/attachments/${id}`, { headers: auth });
      const body = await res.arrayBuffer();
      fetched += body.byteLength;
      if (res.status !== 200 || body.byteLength !== size) failures.push(`${target.kind} ${label} fetch ${i}: ${res.status}, ${body.byteLength} of ${size} bytes`);
    });
    const t2 = performance.now();
    const cpu2 = await target.cpu();
    return { upload: phase(files.length, bytes, t1 - t0, cpu1.total - cpu0.total), fetch: phase(stored.length, fetched, t2 - t1, cpu2.total - cpu1.total) };
  } finally {
    visitor?.socket.close();
  }
}

/** Scenario 11. */
export const uploadScenario: Scenario = {
  id: 11,
  title: 'Attachment uploads: POST /api/attachments + fetch back vs a static-file server',
  async run(ctx): Promise<ScenarioResult> {
    const plan: Plan = ctx.mode === 'quick' ? { pdfBytes: 64 * 1024, pdfs: 2, jpegs: 1, concurrency: 2 } : { pdfBytes: 1024 * 1024, pdfs: 100, jpegs: 30, concurrency: 4 };
    const kinds: FileKind[] = [
      { label: `pdf ${plan.pdfBytes / 1024} KiB`, make: async () => pdf(plan.pdfBytes), count: plan.pdfs },
      { label: 'jpeg 1600×1200', make: jpeg, count: plan.jpegs },
    ];
    const prepared = await Promise.all(kinds.map(async (kind) => ({ kind, files: await Promise.all(Array.from({ length: kind.count }, async (_, i) => new Uint8Array(await kind.make(i)))) })));
    const failures: string[] = [];
    const figures: Record<string, Record<string, Awaited<ReturnType<typeof measure>>>> = {};
    const limits = { RATE_LIMIT_HTTP_PER_MINUTE: 1_000_000 };
    let limitsNote = '';
    for (const kind of ['baseline', 'bridge'] as TargetKind[]) {
      const uploadDir = kind === 'baseline' ? mkdtempSync(join(tmpdir(), 'anon-chat-bench-static-')) : undefined;
      const target = await Target.start(kind, uploadDir ? { env: { UPLOAD_DIR: uploadDir } } : { limits, shared: sharesTarget(kind, ctx) });
      if (kind !== 'baseline') limitsNote = target.limitsNote();
      try {
        // An unreported warm-up: JIT, the bridge's lazily loaded sharp and file-type, the connection pool.
        await measure(target, [new Uint8Array(pdf(plan.pdfBytes)), new Uint8Array(await jpeg(1_000_000))], 1, failures, 'warmup');
        for (const { kind: fileKind, files } of prepared) {
          const result = await measure(target, files, plan.concurrency, failures, fileKind.label);
          (figures[fileKind.label] ??= {})[kind] = result;
          ctx.log(`  ${kind} ${fileKind.label}: upload ${result.upload.mbPerSecond} MB/s, ${result.upload.cpuMsPerMb} ms CPU/MB; fetch ${result.fetch.mbPerSecond} MB/s, ${result.fetch.cpuMsPerMb} ms CPU/MB`);
        }
      } finally {
        await target.stop();
        if (uploadDir) rmSync(uploadDir, { recursive: true, force: true });
      }
    }
    const rows: Row[] = [];
    for (const { kind } of prepared) {
      const b = figures[kind.label]?.['bridge'];
      const o = figures[kind.label]?.['baseline'];
      if (!b || !o) continue;
      rows.push(
        { label: `${kind.label} upload`, figure: `${b.upload.mbPerSecond} MB/s`, target: '—', met: null, baseline: `${o.upload.mbPerSecond} MB/s`, ratio: ratio(b.upload.mbPerSecond, o.upload.mbPerSecond) },
        { label: `${kind.label} upload, server CPU per MB`, figure: `${b.upload.cpuMsPerMb} ms`, target: '—', met: null, baseline: `${o.upload.cpuMsPerMb} ms`, ratio: ratio(b.upload.cpuMsPerMb, o.upload.cpuMsPerMb) },
        { label: `${kind.label} fetch back`, figure: `${b.fetch.mbPerSecond} MB/s`, target: '—', met: null, baseline: `${o.fetch.mbPerSecond} MB/s`, ratio: ratio(b.fetch.mbPerSecond, o.fetch.mbPerSecond) },
        { label: `${kind.label} fetch, server CPU per MB`, figure: `${b.fetch.cpuMsPerMb} ms`, target: '—', met: null, baseline: `${o.fetch.cpuMsPerMb} ms`, ratio: ratio(b.fetch.cpuMsPerMb, o.fetch.cpuMsPerMb) },
      );
    }
    return {
      id: 11,
      title: this.title,
      rows,
      failures,
      notes: [
        `${plan.pdfs} PDF-typed files of ${plan.pdfBytes / 1024} KiB (random bytes: stored as uploaded) and ${plan.jpegs} photo-like 1600×1200 JPEGs (re-encoded without metadata, plus a WebP thumbnail), each with bytes of its own; ${plan.concurrency} uploads at a time, then every file fetched back, ${plan.concurrency} at a time, over fetch() keep-alive from the generator core. MB are 10^6 bytes of request (upload) or response (fetch) bodies; a JPEG's fetched body is the re-encoded file.`,
        'Baseline: the baseline process streams each body to a temp file, fsyncs and renames it, and serves it back with a read stream: no token, no sniffing, no image work, no store. The bridge stores through its lowdb engine (temp file, fsync, rename, journal) in a temp DATA_DIR.',
        `Raised limits: ${limitsNote} (the uploads come from one IP).`,
      ],
      data: { plan, figures },
    };
  },
};
