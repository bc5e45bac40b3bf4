/**
 * Scenario 8 — widget load: the widget is built (`vite build` into a temp dir), served gzip-compressed from a
 * loopback static server on a plain host page, and loaded in headless Chromium with a cold cache, several times.
 * Figures: compressed bytes the browser fetched before the launcher rendered (Resource Timing encodedBodySize),
 * and the time from the widget script being available (its responseEnd) to the animation frame that first
 * paints the launcher. The widget connects to a real bridge meanwhile.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { Target } from '../lib/targets.ts';
import { ms, type Scenario, type ScenarioResult } from '../lib/scenario.ts';
import { Histogram } from '../lib/histogram.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.map': 'application/json', '.wasm': 'application/wasm' };

const hostPage = (bridgeUrl: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>host</title>
<script>
  // Watches every frame for the launcher; the frame in which it first has a size is the one that paints it.
  (function () {
    function check() {
      var el = document.querySelector('anon-chat');
      var launcher = el && el.shadowRoot && el.shadowRoot.querySelector('[part~="launcher"]');
      if (launcher && launcher.getBoundingClientRect().width > 0) { window.__launcherAt = performance.now(); return; }
      requestAnimationFrame(check);
    }
    requestAnimationFrame(check);
  })();
</script>
<script type="module" src="/widget/anon-chat.js"></script>
</head><body><h1>A host page</h1><p>Some content.</p>
<anon-chat server="${bridgeUrl}"></anon-chat>
</body></html>`;

function serve(dir: string, page: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    let body: Buffer;
    let type = 'text/html';
    if (path === '/' || path === '/index.html') body = Buffer.from(page);
    else if (path.startsWith('/widget/') && !path.includes('..')) {
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
    const loads = ctx.mode === 'quick' ? 2 : 15;
    const outDir = mkdtempSync(join(tmpdir(), 'anon-chat-bench-widget-'));
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
    if (build.status !== 0) {
      rmSync(outDir, { recursive: true, force: true });
      throw new Error(`widget build failed:\n${build.stderr.slice(-2000)}`);
    }
    const files = readdirSync(outDir).filter((f) => statSync(join(outDir, f)).isFile() && !f.endsWith('.map'));
    const fileSizes = Object.fromEntries(files.map((f) => [f, { raw: statSync(join(outDir, f)).size, gzip9: gzipSync(readFileSync(join(outDir, f)), { level: 9 }).length }]));
    const bridge = await Target.start('bridge', { env: { ALLOWED_ORIGINS: '*' } });
    const server = await serve(outDir, hostPage(bridge.url));
    const address = server.address();
    const pageUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const paint = new Histogram();
    const fromNav = new Histogram();
    let bytesBefore = 0;
    let resources: { name: string; encodedBodySize: number }[] = [];
    try {
      for (let i = 0; i < loads; i++) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(pageUrl);
        await page.waitForFunction(() => typeof (window as { __launcherAt?: number }).__launcherAt === 'number', undefined, { timeout: 15_000 });
        const m = await page.evaluate(() => {
          const at = (window as unknown as { __launcherAt: number }).__launcherAt;
          const entries = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
          const before = entries.filter((e) => e.startTime < at);
          const script = entries.find((e) => e.name.endsWith('/widget/anon-chat.js'));
          return {
            at,
            scriptEnd: script?.responseEnd ?? 0,
            before: before.map((e) => ({ name: new URL(e.name).pathname, encodedBodySize: e.encodedBodySize })),
          };
        });
        paint.record(m.at - m.scriptEnd);
        fromNav.record(m.at);
        resources = m.before;
        bytesBefore = m.before.reduce((s, e) => s + e.encodedBodySize, 0);
        await context.close();
      }
    } finally {
      await browser.close();
      server.close();
      await bridge.stop();
      rmSync(outDir, { recursive: true, force: true });
    }
    const p = paint.summary();
    const n = fromNav.summary();
    ctx.log(`  ${bytesBefore} B gz before the launcher; script → launcher p50 ${ms(p.p50)}, max ${ms(p.max)}`);
    return {
      id: 8,
      title: this.title,
      rows: [
        { label: 'gzipped bytes before the launcher renders', figure: `${(bytesBefore / 1000).toFixed(1)} kB`, target: '≤ 25 kB', met: bytesBefore <= 25_000 },
        { label: 'script start → launcher paint, median', figure: ms(p.p50), target: '≤ 50 ms', met: p.p50 <= 50 },
        { label: 'script start → launcher paint, worst', figure: ms(p.max), target: '—', met: null },
        { label: 'navigation → launcher paint, median', figure: ms(n.p50), target: '—', met: null },
      ],
      failures: [],
      notes: [
        `${loads} cold loads (new browser context each) of a host page with \`<script type="module" src=".../anon-chat.js">\`, served gzip -9 from loopback. "Script start" = responseEnd of anon-chat.js (Resource Timing); "launcher paint" = the first animation frame in which the launcher has a size.`,
        `Fetched before the launcher: ${resources.map((r) => `${r.name} ${r.encodedBodySize} B`).join(', ') || 'nothing'}. Build output (gzip -9): ${Object.entries(fileSizes).map(([f, s]) => `${f} ${s.raw} B → ${s.gzip9} B`).join(', ')}.`,
        'No Socket.IO traffic to compare: this scenario has no baseline.',
      ],
      data: { loads, paint: p, fromNavigation: n, bytesBefore, resources, fileSizes },
    };
  },
};
