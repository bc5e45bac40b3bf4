/**
 * Shared setup of the widget browser tests: a real Chromium (helpers/browser.ts: the run's shared one) and a tiny
 * loopback "host site" that serves the built widget (dist/widget) inside test pages: plain, classic-script, strict
 * CSP and hostile-CSS variants. The bridge is a separate origin, like on a real site.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { Conversation } from '../protocol/conversation.ts';
import { launchChromium } from './helpers/browser.ts';
import { connectAgent, emitWithAck, startTestBridge, waitUntil, type AgentClient, type TestBridge } from '../bridge/testing/index.ts';

const WIDGET_DIR = join(import.meta.dirname, '..', 'dist', 'widget');

/** How a test page embeds the widget. */
export interface PageOptions {
  /** Bridge URL for the `server` attribute. */
  server: string;
  site: string;
  /** `module` (default) or `classic` (anon-chat.iife.js). */
  script?: 'module' | 'classic';
  /** Serve with a strict Content-Security-Policy header (no unsafe-inline, no unsafe-eval). */
  strictCsp?: boolean;
  /** With `strictCsp`: the `img-src` sources (default `'none'`). */
  imgSrc?: string;
  /** Add a stylesheet of aggressive host rules. */
  hostileCss?: boolean;
  /** Extra attributes on <anon-chat>, already escaped. */
  attributes?: string;
  /** Two <anon-chat> elements for the same site, as an SPA that rendered twice would have. */
  twice?: boolean;
  /** Load both the ES module and the classic script on one page. */
  bothScripts?: boolean;
  /** Extra markup for <head> (pages without strict CSP only). */
  head?: string;
  /** With `strictCsp`: also allow <style> elements carrying this nonce (`style-src 'self' 'nonce-…'`). */
  styleNonce?: string;
  /**
   * Run the page as a browser without constructable stylesheets: a script served before the widget removes
   * `adoptedStyleSheets` and `CSSStyleSheet.prototype.replace(Sync)`, so Lit falls back to <style> elements.
   */
  noConstructableStylesheets?: boolean;
}

/** Served as /no-constructable-sheets.js: takes constructable stylesheet support away before the widget loads. */
const NO_CONSTRUCTABLE_SHEETS = `delete Document.prototype.adoptedStyleSheets;
delete ShadowRoot.prototype.adoptedStyleSheets;
delete CSSStyleSheet.prototype.replace;
delete CSSStyleSheet.prototype.replaceSync;
`;

/** Rules a careless host page might have; the widget must survive them. */
export const HOSTILE_CSS = `div:empty { display: none !important; }
* { all: unset; }
button { display: none; }
textarea { visibility: hidden; }
section, [role=dialog] { display: none !important; }
anon-chat { font-size: 2px; color: transparent; }
`;

function pageHtml(o: PageOptions): string {
  const classic = '<script src="/widget/anon-chat.iife.js"></script>';
  const module = '<script type="module" src="/widget/anon-chat.js"></script>';
  const script = o.bothScripts ? module + classic : o.script === 'classic' ? classic : module;
  const element = `<anon-chat server="${o.server}" site="${o.site}" ${o.attributes?.includes('locale=') ? '' : 'locale="en"'} ${o.attributes ?? ''}></anon-chat>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host page</title>
${o.hostileCss ? '<link rel="stylesheet" href="/hostile.css">' : ''}
${o.head ?? ''}
${o.noConstructableStylesheets ? '<script src="/no-constructable-sheets.js"></script>' : ''}
${script}</head><body><h1>Host page</h1><div id="mount">${element}${o.twice ? element : ''}</div><button id="outside">outside</button></body></html>`;
}

/** A loopback host site. `url(options)` gives the address of a page embedding the widget as described. */
export interface HostSite {
  origin: string;
  url(options: PageOptions): string;
  close(): Promise<void>;
}

/** Starts the host site on 127.0.0.1 with a random port. */
export async function startHostSite(): Promise<HostSite> {
  const pages = new Map<string, PageOptions>();
  let origin = '';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', origin);
      if (url.pathname.startsWith('/widget/')) {
        const name = url.pathname.slice('/widget/'.length);
        if (!/^[\w.-]+\.js$/.test(name)) return void res.writeHead(404).end();
        try {
          const body = await readFile(join(WIDGET_DIR, name));
          res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(body);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      if (url.pathname === '/no-constructable-sheets.js') {
        return void res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(NO_CONSTRUCTABLE_SHEETS);
      }
      if (url.pathname === '/hostile.css') return void res.writeHead(200, { 'content-type': 'text/css' }).end(HOSTILE_CSS);
      const options = pages.get(url.pathname);
      if (!options) return void res.writeHead(404).end();
      const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
      if (options.strictCsp) {
        const bridge = new URL(options.server);
        headers['content-security-policy'] = [
          "default-src 'none'",
          "script-src 'self'",
          options.styleNonce ? `style-src 'self' 'nonce-${options.styleNonce}'` : "style-src 'self'",
          `connect-src ws://${bridge.host} ${bridge.origin}`,
          `img-src ${options.imgSrc ?? "'none'"}`,
          "base-uri 'none'",
          "form-action 'none'",
        ].join('; ');
      }
      res.writeHead(200, headers).end(pageHtml(options));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let n = 0;
  return {
    origin,
    url(options) {
      const path = `/page-${++n}`;
      pages.set(path, options);
      return origin + path;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Opens `url` in a fresh context and waits for the launcher. Records CSP violations and page errors. */
export async function openWidget(browser: Browser, url: string, context?: BrowserContext): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.addInitScript(() => {
    const w = window as unknown as { __violations: string[]; __events: Array<{ type: string; detail: unknown }> };
    w.__violations = [];
    w.__events = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
    for (const type of ['anon-chat-open', 'anon-chat-close', 'anon-chat-message', 'anon-chat-status', 'anon-chat-unread', 'anon-chat-connection', 'anon-chat-erased']) {
      document.addEventListener(type, (e) => w.__events.push({ type, detail: JSON.parse(JSON.stringify((e as CustomEvent).detail)) as unknown }));
    }
  });
  await page.goto(url);
  await page.locator('anon-chat .launcher').first().waitFor();
  return { context: ctx, page, errors };
}

/** The public events the page saw so far, optionally of one type. */
export async function pageEvents(page: Page, type?: string): Promise<Array<{ type: string; detail: Record<string, unknown> }>> {
  const events = await page.evaluate(() => (window as unknown as { __events: Array<{ type: string; detail: Record<string, unknown> }> }).__events);
  return type ? events.filter((e) => e.type === type) : events;
}

/** Opens the panel through the launcher and waits for the composer. */
export async function openPanel(page: Page): Promise<void> {
  await page.locator('anon-chat .launcher').first().click();
  await page.locator('anon-chat textarea').first().waitFor();
}

/** Types `text` into the composer and presses Enter. */
export async function sendFromComposer(page: Page, text: string): Promise<void> {
  const input = page.locator('anon-chat textarea').first();
  await input.fill(text);
  await input.press('Enter');
}

/** Texts and statuses of the rendered messages, in screen order. */
export function renderedMessages(page: Page): Promise<Array<{ text: string; own: boolean; status: string; seq: string | null }>> {
  return page.locator('anon-chat .msg').evaluateAll((nodes) =>
    nodes.map((n) => ({
      text: n.querySelector('.msg__text')?.textContent ?? '',
      own: n.classList.contains('msg--own'),
      status: [...n.classList].find((c) => /^msg--(sending|sent|delivered|read|failed)$/.test(c))?.slice(5) ?? '',
      seq: n.getAttribute('data-seq'),
    })),
  );
}

/** A loopback TCP proxy in front of the bridge whose link can be cut and restored (a real network partition). */
export interface CuttableLink {
  url: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a {@link CuttableLink} to `target` (`http://127.0.0.1:<port>`). */
export async function startCuttableLink(target: string): Promise<CuttableLink> {
  const { port: targetPort } = new URL(target);
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What a widget test file shares: one Chromium, one host site, one real bridge allowing it, one connected agent. */
export interface WidgetRig {
  browser: Browser;
  site: HostSite;
  bridge: TestBridge;
  agent: AgentClient;
}

/**
 * Registers the file's beforeAll/afterAll that start and close a WidgetRig; its fields are set once beforeAll ran,
 * so read them inside tests and hooks. `clock` is the bridge's clock (tests that move time).
 */
export function useWidgetRig(options: { clock?: () => Date } = {}): WidgetRig {
  const rig = {} as WidgetRig;
  beforeAll(async () => {
    rig.site = await startHostSite();
    const config = { allowedOrigins: [rig.site.origin] };
    [rig.browser, rig.bridge] = await Promise.all([launchChromium(), startTestBridge(options.clock ? { config, clock: options.clock } : { config })]);
    rig.agent = await connectAgent(rig.bridge.url, rig.bridge.agent.token);
  });
  afterAll(async () => {
    rig.agent?.disconnect();
    await rig.browser?.close();
    await rig.bridge?.close();
    await rig.site?.close();
  });
  return rig;
}

/** The conversation of the visitor on `siteKey`, as `agent` lists it (polls: the first message creates it). */
export async function conversationOf(agent: AgentClient, siteKey: string): Promise<Conversation> {
  return waitUntil(
    `the agent to list a conversation of site ${siteKey}`,
    async () => {
      const res = await emitWithAck(agent, 'conversations:list', { filter: 'all' });
      return res.ok ? res.data.conversations.find((c) => c.site === siteKey) : undefined;
    },
    { intervalMs: 100 },
  );
}
