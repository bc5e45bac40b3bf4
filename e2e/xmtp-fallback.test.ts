/**
 * `<anon-chat transport="xmtp">` with the real @xmtp/browser-sdk in real Chromium, embedded cross-origin (a host
 * page on its own loopback server, the widget from the bridge) as sites do, against a real bridge, with no
 * reachable XMTP network (every host but loopback goes to a proxy that is not there): the widget downloads the XMTP
 * module, the SDK starts its worker and WASM and fails to reach XMTP, and the widget falls back to the bridge within
 * the documented bound;
 * every message reaches the bridge exactly once, the header reads "Realtime", the visitor's XMTP key survives a
 * reload. A second tab holding the XMTP database makes the widget fall back at once, before the SDK even starts.
 * The classic-script build loads the same module by URL. A hung init is cut at the bound.
 * A page without XMTP never requests the XMTP module.
 * The pages whose init may hang run on Playwright's clock, paused: page time moves only when the test moves it, so the
 * init bound cannot pass in real time on a slow machine before the test has looked; once XMTP's init is under way,
 * the test moves page time across the bound instead of waiting it out, so the bound's own timers (not a shortened
 * one) decide the fallback, and lets page time run again once the bridge has taken over.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Message } from '../protocol/message.ts';
import { startTestBridge, connectAgent, collect, emitWithAck, type AgentClient, type TestBridge } from '../bridge/testing/index.ts';
import { ROOT, launchChromium } from './helpers/browser.ts';
import { openWidget, sendFromWidget, widgetMessage, widgetTexts } from './helpers/widget-page.ts';
import { XMTP_INIT_BOUND_MS } from '../widget/transports/select-transport.ts';

/** Any syntactically valid address: nothing on the XMTP network is reachable anyway. */
const SUPPORT_PEER = `0x${'5a'.repeat(20)}`;
/** How long after the init bound a fallback may take to show on a loaded machine (a deadline, never asserted). */
const SLACK_MS = 30_000;
const XMTP_ATTRIBUTES = `transport="xmtp" xmtp-env="dev" xmtp-peer="${SUPPORT_PEER}"`;

/** The host pages: one with XMTP configured, one without, and an empty page of the same origin (another tab). */
const HOST_PAGES: Record<string, string | undefined> = {
  '/xmtp': XMTP_ATTRIBUTES,
  // A site whose CSP forgot the widget's origin in worker-src: the SDK's worker cannot load, its init never answers.
  '/xmtp-worker-blocked': XMTP_ATTRIBUTES,
  '/plain': '',
  '/other-tab': undefined,
  // The classic-script build, as sites without modules embed it.
  '/xmtp-classic': XMTP_ATTRIBUTES,
};

/** A site's page embedding the widget from the bridge, under the CSP a careful site would send. */
function startHostServer(bridgeUrl: () => string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    if (!(path in HOST_PAGES)) {
      res.writeHead(404).end();
      return;
    }
    const attributes = HOST_PAGES[path];
    const bridge = bridgeUrl();
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': [
        "default-src 'self'",
        `script-src 'self' ${bridge} 'wasm-unsafe-eval'`,
        "style-src 'self' 'unsafe-inline'",
        `connect-src 'self' ${bridge} ws: wss: https:`,
        // Module workers fetch their imports as workers: the widget's origin belongs in worker-src too (README.md "XMTP").
        path === '/xmtp-worker-blocked' ? "worker-src 'self' blob:" : `worker-src 'self' blob: ${bridge}`,
        "object-src 'none'",
      ].join('; '),
    });
    res.end(
      attributes === undefined
        ? '<!doctype html><title>other tab</title>'
        : `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>
${
            path === '/xmtp-classic'
              ? `<script src="${bridge}/widget/anon-chat.iife.js"></script>`
              : `<script type="module" src="${bridge}/widget/anon-chat.js"></script>`
          }</head>
<body><anon-chat ${attributes}></anon-chat></body></html>`,
    );
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ server, origin: `http://127.0.0.1:${port}` });
    });
  });
}

interface ConnectionEvent {
  state: string;
  transport: string;
  at: number;
}

/** How far page time moves per step across the init bound: a request the widget has in flight (10 s timeout) is
 * answered in the real time between steps, so only timers that run out without an answer (the bound's) fire. */
const CLOCK_STEP_MS = 1000;
/** A paused clock starts this far ahead of its install (pauseAt cannot go back; a page open before it, as another
 * tab is, must not have passed it in real time meanwhile). Nothing in these pages depends on the wall time. */
const PAUSE_AHEAD_MS = 60_000;

/** Builds the widget (and with it the XMTP module) unless dist/ already has both. */
function ensureWidgetBuilt(): void {
  const dist = join(ROOT, 'dist', 'widget');
  if (existsSync(join(dist, 'anon-chat.js')) && existsSync(join(dist, 'anon-chat-xmtp.js'))) return;
  execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build'], { cwd: ROOT, stdio: 'ignore' });
}

describe('XMTP transport falls back to the bridge (Chromium, real SDK, no XMTP network)', () => {
  let bridge: TestBridge;
  let host: { server: Server; origin: string };
  let browser: Browser;
  /**
   * No XMTP network, whatever the machine: each context sends every request but loopback's to a proxy on a loopback port
   * nothing listens on, so the SDK's requests fail as offline ones do. Per context, so the run's shared browser serves.
   */
  const newContext = (): Promise<BrowserContext> => browser.newContext({ proxy: { server: 'http://127.0.0.1:9', bypass: '127.0.0.1' } });
  let agent: AgentClient;
  let agentMessages: Message[];

  beforeAll(async () => {
    ensureWidgetBuilt();
    host = await startHostServer(() => bridge.url);
    bridge = await startTestBridge({ config: { allowedOrigins: [host.origin] } });
    agent = await connectAgent(bridge.url, bridge.agent.token);
    agentMessages = collect(agent, 'message:new');
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    agent?.disconnect();
    await browser?.close();
    await bridge?.close();
    await new Promise((resolve) => host?.server.close(resolve));
  });

  /**
   * A page in `context` (on Playwright's clock) that records connection events, socket sends and workers. `paused`:
   * page time stands still from the start until passInitBound moves it (no page exists yet, so the pause applies to
   * this page from its first script on).
   */
  async function open(context: BrowserContext, { paused = false } = {}) {
    const start = Date.now();
    await context.clock.install({ time: start });
    if (paused) await context.clock.pauseAt(start + PAUSE_AHEAD_MS);
    const page = await context.newPage();
    await page.addInitScript(() => {
      const events: Array<{ state: string; transport: string; at: number }> = [];
      (window as unknown as { __connection: typeof events }).__connection = events;
      document.addEventListener('anon-chat-connection', (event) => {
        const detail = (event as CustomEvent<{ state: string; transport: string }>).detail;
        events.push({ state: detail.state, transport: detail.transport, at: performance.now() });
      });
    });
    const sentFrames: string[] = [];
    page.on('websocket', (socket) => socket.on('framesent', (frame) => sentFrames.push(String(frame.payload))));
    const workers: string[] = [];
    page.on('worker', (worker) => workers.push(worker.url()));
    // Uncaught errors and unhandled rejections; the console's network errors are expected here (nothing resolves).
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return { page, sentFrames, workers, pageErrors };
  }

  const events = (page: Page): Promise<ConnectionEvent[]> =>
    page.evaluate(() => (window as unknown as { __connection: ConnectionEvent[] }).__connection);
  const label = (page: Page) => page.locator('anon-chat .transport').textContent();
  const sendsOf = (frames: string[], clientId: string) =>
    frames.filter((f) => f.includes('"message:send"') && f.includes(`"${clientId}"`)).length;
  const xmtpLockHeld = async (page: Page) =>
    (await page.evaluate(async () => ((await navigator.locks.query()).held ?? []).map((lock) => lock.name))).includes('anon-chat-xmtp:dev');

  /**
   * Once `initStarted` holds (XMTP's init is under way), moves page time forward a step
   * at a time until the bridge has taken over: what the widget would do after XMTP_INIT_BOUND_MS of a hung init.
   * Then page time runs on (a paused page's rendering and retries wait for timers).
   */
  async function passInitBound(page: Page, initStarted: () => Promise<boolean>, what: string): Promise<void> {
    await expect.poll(initStarted, { timeout: SLACK_MS, message: `XMTP init under way (${what})` }).toBe(true);
    await expect
      .poll(
        async () => {
          await page.clock.fastForward(CLOCK_STEP_MS);
          return label(page);
        },
        { timeout: SLACK_MS, message: `the bridge taking over after the init bound (${what})` },
      )
      .toBe('Realtime');
    await page.clock.resume();
  }

  it('starts the real SDK, falls back to the bridge when its init hangs, and delivers every message to the bridge once', async () => {
    const context = await newContext();
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const { page, sentFrames, workers, pageErrors } = await open(context, { paused: true });

    await page.goto(`${host.origin}/xmtp`);
    await openWidget(page);
    // Typed at once, while XMTP is still initialising: held back within the bound, then sent over the bridge.
    const texts = ['first over fallback', 'second over fallback', 'third over fallback'];
    for (const text of texts) await sendFromWidget(page, text);

    const wasmFetched = () => Promise.resolve(requests.some((u) => /\/widget\/xmtp\/bindings_wasm_bg-[\w-]+\.wasm$/.test(u)));
    await passInitBound(page, wasmFetched, 'SDK worker fetched its WASM');
    const seen = await events(page);
    const fellBackAt = seen.find((e) => e.transport === 'realtime')?.at;
    expect(fellBackAt).toBeDefined();
    expect(seen.at(-1)).toMatchObject({ state: 'online', transport: 'realtime' });

    // The real SDK ran: the module and its SDK chunk came down, and its worker fetched the WASM.
    expect(requests.some((u) => u.endsWith('/widget/anon-chat-xmtp.js'))).toBe(true);
    expect(requests.some((u) => /\/widget\/xmtp\/xmtp-transport-[\w-]+\.js$/.test(u))).toBe(true);
    // Cross-origin embed: the SDK's worker starts through the same-origin blob shim that imports the real script.
    expect(workers.some((u) => u.startsWith(`blob:${host.origin}/`))).toBe(true);
    expect(requests.some((u) => /\/widget\/xmtp\/client-[\w-]+\.js$/.test(u))).toBe(true);
    expect(requests.some((u) => /\/widget\/xmtp\/bindings_wasm_bg-[\w-]+\.wasm$/.test(u))).toBe(true);
    // Whether it then reached the XMTP network before the init bound cut it depends on the machine's load (at load
    // 30 it did not), so it is not asserted: either way nothing answers and the bound decides.

    // Every message reached the bridge exactly once: one stored copy, one fan-out, one send over the socket.
    await expect.poll(() => agentMessages.filter((m) => texts.includes(m.text)).length).toBe(3);
    const fromAgentView = agentMessages.filter((m) => texts.includes(m.text));
    expect(fromAgentView.map((m) => m.text)).toEqual(texts);
    expect(new Set(fromAgentView.map((m) => m.clientId)).size).toBe(3);
    const conversationId = fromAgentView[0]!.conversationId;
    const stored = await bridge.store.getMessages(conversationId, { limit: 100 });
    expect(stored.map((m) => m.text)).toEqual(texts);
    for (const message of stored) expect(sendsOf(sentFrames, message.clientId)).toBe(1);
    for (const text of texts) await expect.poll(() => widgetMessage(page, text).getAttribute('class')).not.toContain('msg--sending');

    // The agent's answer reaches the visitor over the bridge while XMTP is down.
    await emitWithAck(agent, 'message:send', { conversationId, clientId: 'agent-reply-1', text: 'answer over the bridge' });
    await expect.poll(() => widgetTexts(page)).toEqual([...texts, 'answer over the bridge']);

    // The visitor's XMTP key is kept: a reload is the same XMTP identity (and so the same installation).
    const key = await page.evaluate(() => localStorage.getItem('anon-chat:xmtp:key:dev'));
    expect(key).toMatch(/^0x[0-9a-f]{64}$/);
    await page.reload();
    await openWidget(page);
    await passInitBound(page, () => xmtpLockHeld(page), 'XMTP database lock taken after the reload');
    expect(await page.evaluate(() => localStorage.getItem('anon-chat:xmtp:key:dev'))).toBe(key);
    await expect.poll(() => widgetTexts(page)).toEqual([...texts, 'answer over the bridge']);
    expect((await bridge.store.getMessages(conversationId, { limit: 100 })).length).toBe(4);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('falls back at the init bound when the SDK never answers (its worker blocked by the page CSP)', async () => {
    const context = await newContext();
    const { page, sentFrames, pageErrors } = await open(context, { paused: true });
    await page.goto(`${host.origin}/xmtp-worker-blocked`);
    await openWidget(page);
    await sendFromWidget(page, 'held until the bound');
    // Within the bound the init still holds the widget: the hung SDK is not given up on before page time passes it
    // (page time has not moved since the page opened).
    await expect.poll(() => xmtpLockHeld(page), { timeout: SLACK_MS, message: 'XMTP database lock taken' }).toBe(true);
    expect(await label(page)).not.toBe('Realtime');
    await passInitBound(page, () => xmtpLockHeld(page), 'XMTP database lock taken');
    const fellBackAt = (await events(page)).find((e) => e.transport === 'realtime')!.at;
    // A hung init is cut by the bound, not by anything failing fast: the fallback is never earlier than the bound in
    // page time (a timer fires late, never early; how late is not asserted).
    expect(fellBackAt).toBeGreaterThan(XMTP_INIT_BOUND_MS - 1000);
    // The hung init was stopped: its hold on the XMTP database (the per-origin lock) is gone.
    await expect
      .poll(() => page.evaluate(async () => ((await navigator.locks.query()).held ?? []).map((lock) => lock.name)))
      .not.toContain('anon-chat-xmtp:dev');
    await expect.poll(() => agentMessages.filter((m) => m.text === 'held until the bound').length).toBe(1);
    const message = agentMessages.find((m) => m.text === 'held until the bound')!;
    expect(sendsOf(sentFrames, message.clientId)).toBe(1);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('falls back at once when another tab holds the XMTP database, before the SDK starts', async () => {
    const context = await newContext();
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    // The other tab: same origin, holding the per-origin XMTP database lock the widget takes.
    const other = await context.newPage();
    await other.goto(`${host.origin}/other-tab`);
    await other.evaluate(
      () =>
        new Promise<void>((held) => {
          void navigator.locks.request('anon-chat-xmtp:dev', () => {
            held();
            return new Promise(() => undefined);
          });
        }),
    );

    const { page, sentFrames } = await open(context);
    await page.goto(`${host.origin}/xmtp`);
    await openWidget(page);
    // The lock decides before the SDK starts (asserted below: no WASM fetched), not the init bound.
    await expect.poll(() => label(page)).toBe('Realtime');

    await sendFromWidget(page, 'sent while the other tab has XMTP');
    await expect.poll(() => agentMessages.filter((m) => m.text === 'sent while the other tab has XMTP').length).toBe(1);
    const message = agentMessages.find((m) => m.text === 'sent while the other tab has XMTP')!;
    expect(sendsOf(sentFrames, message.clientId)).toBe(1);
    // The lock decided: the SDK never fetched its WASM in this context.
    expect(requests.some((u) => u.endsWith('/widget/anon-chat-xmtp.js'))).toBe(true);
    expect(requests.some((u) => u.endsWith('.wasm'))).toBe(false);
    await context.close();
  });

  it('loads the XMTP module from the classic-script build too, and falls back the same way', async () => {
    const context = await newContext();
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const { page, sentFrames, pageErrors } = await open(context, { paused: true });
    await page.goto(`${host.origin}/xmtp-classic`);
    await openWidget(page);
    await passInitBound(
      page,
      () => Promise.resolve(requests.some((u) => /\/widget\/xmtp\/bindings_wasm_bg-[\w-]+\.wasm$/.test(u))),
      'SDK worker fetched its WASM (classic script)',
    );
    expect(requests.some((u) => u.endsWith('/widget/anon-chat.iife.js'))).toBe(true);
    expect(requests.some((u) => u === `${bridge.url}/widget/anon-chat-xmtp.js`)).toBe(true);
    expect(requests.some((u) => /\/widget\/xmtp\/bindings_wasm_bg-[\w-]+\.wasm$/.test(u))).toBe(true);
    await sendFromWidget(page, 'from the classic script');
    await expect.poll(() => agentMessages.filter((m) => m.text === 'from the classic script').length).toBe(1);
    expect(sendsOf(sentFrames, agentMessages.find((m) => m.text === 'from the classic script')!.clientId)).toBe(1);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('never downloads the XMTP module on a page without XMTP', async () => {
    const context = await newContext();
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const { page } = await open(context);
    await page.goto(`${host.origin}/plain`);
    await openWidget(page);
    await expect.poll(() => label(page)).toBe('Realtime');
    await sendFromWidget(page, 'plain bridge visitor');
    await expect.poll(() => agentMessages.filter((m) => m.text === 'plain bridge visitor').length).toBe(1);
    expect(requests.filter((u) => u.includes('xmtp'))).toEqual([]);
    await context.close();
  });
});
