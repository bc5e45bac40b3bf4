/**
 * Scenario 8 — widget load: the widget is built (`vite build` into a temp dir; `--widget-dir` loads a given build), served gzip-compressed from a
 * loopback static server on a plain host page, and loaded in headless Chromium with a cold cache, several times.
 * Figures: compressed bytes the browser fetched before the launcher rendered (Resource Timing encodedBodySize),
 * and the time from the widget script being available (its responseEnd) to the animation frame that first
 * paints the launcher. The widget connects to a real bridge meanwhile. Baseline, loaded in turn with the widget on
 * the same page: a bare launcher (a few lines of plain custom element, no Lit, no connection), i.e. what
 * compiling any script, the host page's layout and the wait for the next frame cost on this machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { sharesTarget, Target } from '../lib/targets.ts';
import { ms, ratio, type Scenario, type ScenarioResult } from '../lib/scenario.ts';
import { Histogram } from '../lib/histogram.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.map': 'application/json', '.wasm': 'application/wasm' };

/** What a load measures: the ES module build, the classic-script build, or the bare launcher (baseline). */
type Variant = 'es' | 'iife' | 'bare';
const SCRIPT_FILE: Record<Variant, string> = { es: 'anon-chat.js', iife: 'anon-chat.iife.js', bare: 'bare-launcher.js' };

/**
 * The baseline: the least script that puts a launcher-sized button into a shadow root (constructable sheet, no
 * framework, no storage, no connection). Served like the widget, so only the widget's own work differs.
 */
const BARE_LAUNCHER = `customElements.define('anon-chat', class extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync('button{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border:0;border-radius:50%;background:#1a56db}');
    root.adoptedStyleSheets = [sheet];
    const button = document.createElement('button');
    button.setAttribute('part', 'launcher');
    button.setAttribute('aria-label', 'Open chat');
    root.append(button);
  }
});`;

const hostPage = (bridgeUrl: string, variant: Variant) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>host</title>
<script>
  // Watches every frame for the launcher. The frame in which it first has a size is the one that paints it; the
  // time is taken after getBoundingClientRect() has run that frame's style and layout for it (paint follows in the
  // same frame task, so the time differs from first paint only by that paint).
  (function () {
    function check() {
      var el = document.querySelector('anon-chat');
      var launcher = el && el.shadowRoot && el.shadowRoot.querySelector('[part~="launcher"]');
      if (launcher && launcher.getBoundingClientRect().width > 0) {
        window.__launcherAt = performance.now();
        return;
      }
      requestAnimationFrame(check);
    }
    requestAnimationFrame(check);
  })();
</script>
${variant === 'es' ? '<script type="module" src="/widget/anon-chat.js"></script>' : `<script src="/widget/${SCRIPT_FILE[variant]}"></script>`}
</head><body><h1>A host page</h1><p>Some content.</p>
<anon-chat server="${bridgeUrl}"></anon-chat>
</body></html>`;

/** This process's CPU list as taskset reports it (`1`, `0,1`), or undefined without taskset. */
function cpuList(): string | undefined {
  const out = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim().split(': ').pop() : undefined;
}

/** Sets the CPU list of every thread of this process; children forked afterwards inherit it. */
function setCpuList(list: string): void {
  spawnSync('taskset', ['-a', '-c', '-p', list, String(process.pid)], { stdio: 'ignore' });
}

/**
 * Launches Chromium on every core. The bench process is pinned to the generator's core, and a browser launched from
 * it would inherit that pin: browser, GPU and renderer processes sharing one core, which a visitor's machine does
 * not do (measured: about 2x slower to the launcher, and it hid the widget's own work behind process scheduling).
 */
async function launchUnpinned(): Promise<{ browser: Browser; pinnedTo: string | undefined }> {
  const before = cpuList();
  // cpus(), not availableParallelism(): the latter counts only the cores this (pinned) process may use.
  if (before) setCpuList(`0-${cpus().length - 1}`);
  try {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    return { browser, pinnedTo: before };
  } finally {
    if (before) setCpuList(before);
  }
}

function serve(dir: string, page: (variant: Variant) => string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    let body: Buffer;
    let type = 'text/html';
    const variant = (['es', 'iife', 'bare'] as const).find((v) => path === `/${v}`);
    if (variant) body = Buffer.from(page(variant));
    else if (path === '/widget/bare-launcher.js') {
      body = Buffer.from(BARE_LAUNCHER);
      type = TYPES['.js']!;
    } else if (path.startsWith('/widget/') && !path.includes('..')) {
      try {
        body = readFileSync(join(dir, path.slice('/widget/'.length)));
        type = TYPES[extname(path)] ?? 'application/octet-stream';
      } catch {
        res.writeHead(404).end();
        return;
      }
    } else {
      res.writeHead(404).end();
      return;
    }
    // Compressed as any production host or CDN would serve it, so encodedBodySize is the real transfer size.
    const gz = gzipSync(body, { level: 9 });
    res.writeHead(200, { 'content-type': type, 'content-encoding': 'gzip', 'content-length': gz.length, 'cache-control': 'no-store' });
    res.end(gz);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

/** Scenario 8. */
export const widgetScenario: Scenario = {
  id: 8,
  title: 'Widget load: bytes and time to the launcher in headless Chromium',
  async run(ctx): Promise<ScenarioResult> {
    const loads = ctx.mode === 'quick' ? 1 : 15;
    const ownsBuild = ctx.widgetDir === undefined;
    const outDir = ctx.widgetDir ?? mkdtempSync(join(tmpdir(), 'anon-chat-bench-widget-'));
    if (ownsBuild) {
      const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
      if (build.status !== 0) {
        rmSync(outDir, { recursive: true, force: true });
        throw new Error(`widget build failed:\n${build.stderr.slice(-2000)}`);
      }
    }
    const files = readdirSync(outDir).filter((f) => statSync(join(outDir, f)).isFile() && !f.endsWith('.map'));
    const fileSizes = Object.fromEntries(files.map((f) => [f, { raw: statSync(join(outDir, f)).size, gzip9: gzipSync(readFileSync(join(outDir, f)), { level: 9 }).length }]));
    const bridge = await Target.start('bridge', { env: { ALLOWED_ORIGINS: '*' }, shared: sharesTarget('bridge', ctx) });
    const server = await serve(outDir, (variant) => hostPage(bridge.url, variant));
    const address = server.address();
    const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const { browser, pinnedTo } = await launchUnpinned();
    const histograms = () => ({ paint: new Histogram(), fromNav: new Histogram() });
    const measured: Record<Variant, ReturnType<typeof histograms>> = { es: histograms(), iife: histograms(), bare: histograms() };
    let bytesBefore = 0;
    let resources: { name: string; encodedBodySize: number }[] = [];
    try {
      // Interleaved, and the order rotated every round (es-iife-bare, iife-bare-es, …), so a change in machine load
      // or the previous context's teardown hits all three alike.
      const variants = ['es', 'iife', 'bare'] as const;
      for (let i = 0; i < loads; i++) {
        for (const variant of [0, 1, 2].map((k) => variants[(i + k) % 3]!)) {
          // A new context each time: its own empty HTTP cache and storage (a first visit), and its own renderer.
          const context = await browser.newContext();
          const page = await context.newPage();
          await page.goto(`${origin}/${variant}`);
          await page.waitForFunction(() => typeof (window as { __launcherAt?: number }).__launcherAt === 'number', undefined, { timeout: 15_000 });
          const m = await page.evaluate((file) => {
            const w = window as unknown as { __launcherAt: number };
            const entries = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
            const before = entries.filter((e) => e.startTime < w.__launcherAt);
            const script = entries.find((e) => e.name.endsWith(`/widget/${file}`));
            return {
              at: w.__launcherAt,
              scriptEnd: script?.responseEnd ?? Number.NaN,
              before: before.map((e) => ({ name: new URL(e.name).pathname, encodedBodySize: e.encodedBodySize })),
            };
          }, SCRIPT_FILE[variant]);
          if (Number.isNaN(m.scriptEnd)) throw new Error(`no resource timing for ${SCRIPT_FILE[variant]}`);
          measured[variant].paint.record(m.at - m.scriptEnd);
          measured[variant].fromNav.record(m.at);
          if (variant === 'es') {
            resources = m.before;
            bytesBefore = m.before.reduce((s, e) => s + e.encodedBodySize, 0);
          }
          await context.close();
        }
      }
    } finally {
      await browser.close();
      server.close();
      await bridge.stop();
      if (ownsBuild) rmSync(outDir, { recursive: true, force: true });
    }
    const figures = (variant: Variant) => ({
      paint: { ...measured[variant].paint.summary(), p95: measured[variant].paint.percentile(0.95) },
      fromNavigation: measured[variant].fromNav.summary(),
    });
    const es = figures('es');
    const iife = figures('iife');
    const bare = figures('bare');
    ctx.log(`  ${bytesBefore} B gz before the launcher; script → launcher painted p50 ${ms(es.paint.p50)}, p95 ${ms(es.paint.p95)} (bare launcher p50 ${ms(bare.paint.p50)})`);
    return {
      id: 8,
      title: this.title,
      rows: [
        { label: 'gzipped bytes before the launcher renders', figure: `${(bytesBefore / 1000).toFixed(1)} kB`, target: '≤ 25 kB', met: bytesBefore <= 25_000 },
        { label: 'script start → launcher painted, median', figure: ms(es.paint.p50), target: '≤ 50 ms', met: es.paint.p50 <= 50, baseline: ms(bare.paint.p50), ratio: ratio(es.paint.p50, bare.paint.p50) },
        { label: 'script start → launcher painted, p95', figure: ms(es.paint.p95), target: '—', met: null, baseline: ms(bare.paint.p95), ratio: ratio(es.paint.p95, bare.paint.p95) },
        { label: 'script start → launcher painted, worst', figure: ms(es.paint.max), target: '—', met: null, baseline: ms(bare.paint.max) },
        { label: 'classic script (IIFE) build, median', figure: ms(iife.paint.p50), target: '≤ 50 ms', met: iife.paint.p50 <= 50, baseline: ms(bare.paint.p50), ratio: ratio(iife.paint.p50, bare.paint.p50) },
        { label: 'navigation → launcher painted, median', figure: ms(es.fromNavigation.p50), target: '—', met: null, baseline: ms(bare.fromNavigation.p50) },
      ],
      failures: [],
      notes: [
        `${loads} cold loads each (new browser context each: empty cache and storage) of a host page with \`<script type="module" src=".../anon-chat.js">\`, the same page with the classic \`<script src=".../anon-chat.iife.js">\`, and the baseline, interleaved in rotating order; served gzip -9 from loopback. "Script start" = responseEnd of the script (Resource Timing); "launcher painted" = the first animation frame in which the launcher has a size, timed in that frame's animation callback after its style and layout of the launcher (the paint follows in the same frame, ≈ 1-2 ms in a trace).`,
        `Chromium runs on all ${cpus().length} cores (launched unpinned; the bench process itself is on CPU ${pinnedTo ?? '?'}), the bridge on core 0.`,
        'Baseline: a bare launcher (plain custom element, one constructable sheet, one button; no framework, storage or connection) on the same page: the floor that compiling a script, the host page\'s layout and the wait for the next frame set on this machine.',
        `Fetched before the launcher: ${resources.map((r) => `${r.name} ${r.encodedBodySize} B`).join(', ') || 'nothing'}. Build output (gzip -9): ${Object.entries(fileSizes).map(([f, s]) => `${f} ${s.raw} B → ${s.gzip9} B`).join(', ')}.`,
      ],
      data: { loads, es, iife, bare, bytesBefore, resources, fileSizes },
    };
  },
};
