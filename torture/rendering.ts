/**
 * Case 9: the XSS corpus rendered for real. Every payload is sent as a visitor message and as an agent message
 * into one conversation; the widget (on a strict-CSP host page) and the agent console show them in Chromium.
 * Traps: dialogs, alert/confirm/prompt/print, a `window.__xss` setter, `document.title`, console output from a
 * payload, requests to the payloads' beacon address, CSP violations, and any element inside a message text.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { WAIT_DEADLINE_MS, waitUntil } from '../bridge/testing/wait-until.ts';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { startTestBridge, TEST_AGENT } from '../bridge/testing/test-bridge.ts';
import { ensureBuilt, launchChromium } from '../e2e/helpers/browser.ts';
import { signInToConsole } from '../e2e/helpers/console-page.ts';
import { openPanel, startHostSite } from '../e2e/widget-harness.ts';

const root = join(import.meta.dirname, '..');

/** The corpus (torture/xss-payloads.json). */
export function xssPayloads(): string[] {
  return (JSON.parse(readFileSync(join(import.meta.dirname, 'xss-payloads.json'), 'utf8')) as { payloads: string[] }).payloads;
}

/** Built files containing `eval(`, `new Function` or `unsafeHTML`. */
export function forbiddenInBundles(): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) visit(p);
      else if (/\.(m?js|html)$/.test(name)) {
        const text = readFileSync(p, 'utf8');
        for (const [label, re] of [
          ['eval', /(^|[^\w$.])eval\s*\(/],
          ['new Function', /new\s+Function\s*\(/],
          ['unsafeHTML', /unsafeHTML/],
        ] as const) {
          if (re.test(text)) found.push(`${p.slice(root.length + 1)}: ${label}`);
        }
      }
    }
  };
  for (const dir of ['dist/widget', 'dist/console']) visit(join(root, dir));
  return found;
}

/** Figures of the rendering run. */
export interface RenderingFigures {
  payloads: number;
  widgetRendered: number;
  consoleRendered: number;
  executions: string[];
  cspViolations: string[];
  injectedElements: string[];
  beaconRequests: string[];
  bundleFindings: string[];
  /** Positive controls: the alert trap and the CSP trap each caught a deliberate trigger after the run. */
  trapsArmed: boolean;
}

/** Installs the traps in every page of the context before any script runs. */
async function arm(page: Page, executions: string[], beacons: string[]): Promise<void> {
  page.on('dialog', (d) => {
    executions.push(`dialog ${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    const text = m.text();
    if (text === '1' || text === 'xss' || text.startsWith('csp violation')) executions.push(`console ${m.type()}: ${text}`);
  });
  page.on('request', (r) => {
    if (/127\.0\.0\.1:1\//.test(r.url()) || r.url().startsWith('javascript:')) beacons.push(r.url());
  });
  await page.addInitScript(`(() => {
    window.__hits = [];
    window.__violations = [];
    for (const name of ['alert', 'confirm', 'prompt', 'print']) {
      window[name] = (...args) => void window.__hits.push(name + '(' + args.join(',') + ')');
    }
    Object.defineProperty(window, '__xss', { set: (v) => void window.__hits.push('__xss=' + String(v)), configurable: false });
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample));
  })()`);
}

/** Elements inside message text nodes (`selector` in light DOM or any open shadow root), as `tag[attr]` strings. */
async function injected(page: Page, selector: string): Promise<{ count: number; elements: string[] }> {
  // A string body: tsx/esbuild name helpers would otherwise leak into the page and fail there.
  return page.evaluate(`(() => {
    const sel = ${JSON.stringify(selector)};
    const all = [];
    const stack = [document];
    while (stack.length) {
      const root = stack.pop();
      all.push(...root.querySelectorAll(sel));
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) stack.push(el.shadowRoot);
    }
    const elements = [];
    for (const el of all) {
      for (const child of el.querySelectorAll('*')) {
        // Links made by the app itself are fine only with an http(s) target.
        const href = child.getAttribute('href');
        if (child.tagName === 'A' && href && /^https?:/i.test(href)) continue;
        elements.push(child.tagName.toLowerCase() + [...child.attributes].map((a) => '[' + a.name + '=' + a.value.slice(0, 30) + ']').join(''));
      }
    }
    return { count: all.length, elements };
  })()`);
}

/** Page-side hits of the traps. */
async function hits(page: Page): Promise<{ hits: string[]; violations: string[]; title: string }> {
  return page.evaluate('({ hits: window.__hits ?? [], violations: window.__violations ?? [], title: document.title })');
}

/** Blocked by both pages' CSP (img-src), so its violation names it: the CSP trap's positive control. */
const CSP_CONTROL_URL = 'http://127.0.0.1:9/csp-control.png';

/**
 * Appends an image the page's CSP blocks and waits for its violation report, then returns the page's hits without
 * the control's. The report comes in a task queued after whatever the rendered messages queued (image loads, error
 * handlers), so once it arrives anything deferred the payloads could set off has been seen too.
 */
async function settleWithControl(page: Page, what: string): Promise<{ hits: string[]; violations: string[]; title: string; controlSeen: boolean }> {
  await page.evaluate(`(() => { const i = document.createElement('img'); i.src = ${JSON.stringify(CSP_CONTROL_URL)}; document.body.append(i); })()`);
  const isControl = (v: string) => v.includes(new URL(CSP_CONTROL_URL).origin);
  const seen = await waitUntil(`the CSP violation of the control image in the ${what}`, async () => {
    const now = await hits(page);
    return now.violations.some(isControl) && now;
  }).catch(() => undefined);
  const now = seen ?? (await hits(page));
  return { ...now, violations: now.violations.filter((v) => !isControl(v)), controlSeen: seen !== undefined };
}

/** Runs the rendering case: every payload both ways, widget and console, in Chromium. */
export async function runRendering(): Promise<RenderingFigures> {
  ensureBuilt();
  const payloads = xssPayloads();
  const bridge = await startTestBridge({ config: { allowedOrigins: '*' } });
  const host = await startHostSite();
  let browser: Browser | undefined;
  const executions: string[] = [];
  const beacons: string[] = [];
  try {
    browser = await launchChromium();
    // Traps first (init scripts run before any page script), then the strict-CSP host page with the widget.
    const widgetContext = await browser.newContext();
    const widgetPage = await widgetContext.newPage();
    await arm(widgetPage, executions, beacons);
    await widgetPage.goto(host.url({ server: bridge.url, site: 'torture', strictCsp: true }));
    await widgetPage.locator('anon-chat .launcher').first().waitFor();
    await openPanel(widgetPage);
    const token = await widgetPage.evaluate<string>(`(() => {
      for (let i = 0; i < localStorage.length; i++) {
        const match = /eyJ[\\w-]+\\.[\\w-]+\\.[\\w-]+/.exec(localStorage.getItem(localStorage.key(i) ?? '') ?? '');
        if (match) return match[0];
      }
      return '';
    })()`);
    if (!token) throw new Error('the widget kept no visitor token');

    // The visitor's own messages, sent on a second connection of the same visitor (the widget shows the echo).
    const visitor: Socket = io(`${bridge.url}/visitor`, { transports: ['websocket'], forceNew: true, auth: { token } });
    const session = await new Promise<{ conversationId: string }>((resolve) => visitor.once('session', resolve));
    for (const [i, text] of payloads.entries()) {
      const ack = (await visitor.timeout(WAIT_DEADLINE_MS).emitWithAck('message:send', { clientId: `xss-v-${i}`, text })) as { ok: boolean };
      if (!ack.ok) throw new Error(`visitor payload ${i} refused`);
    }
    visitor.close();
    for (const [i, text] of payloads.entries()) {
      const res = await fetch(`${bridge.url}/api/conversations/${session.conversationId}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bridge.agent.token}` },
        body: JSON.stringify({ text, clientId: `xss-a-${i}` }),
      });
      if (res.status >= 300) throw new Error(`agent payload ${i} → ${res.status}`);
    }
    // All of them on screen in the widget (both sides); a shortfall is reported below as missing texts.
    const expected = payloads.length * 2;
    const widgetCount = () => widgetPage.locator('anon-chat .msg__text').count();
    const widgetRendered = await waitUntil(
      `${expected} message texts in the widget`,
      async () => {
        const n = await widgetCount();
        if (n >= expected) return n;
        // The widget renders a window of the newest messages; scrolling to the top reveals the rest.
        await widgetPage.locator('anon-chat .list').evaluate((el) => el.scrollTo(0, 0)).catch(() => undefined);
        return false;
      },
      { intervalMs: 100 },
    ).catch(widgetCount);
    const widgetTexts = new Set(await widgetPage.locator('anon-chat .msg__text').allTextContents());
    const missingInWidget = payloads.filter((p) => !widgetTexts.has(p));
    // Then anything deferred has fired (the control's violation came after it), and the CSP trap proved armed.
    const widgetHits = await settleWithControl(widgetPage, 'widget');
    const widgetInjected = await injected(widgetPage, '.msg__text');

    // The console: sign in, open the conversation, let it render every message.
    const consoleContext = await browser.newContext();
    const consolePage = await consoleContext.newPage();
    await arm(consolePage, executions, beacons);
    await signInToConsole(consolePage, bridge.url, TEST_AGENT.name, TEST_AGENT.password);
    await consolePage.locator(`console-inbox .item[data-conversation-id="${session.conversationId}"]`).click();
    const consoleCount = () => consolePage.locator('console-thread .messages .msg__text').count();
    const consoleRendered = await waitUntil(
      `${expected} message texts in the console thread`,
      async () => {
        const n = await consoleCount();
        if (n >= expected) return n;
        // Older history loads on scroll to the top.
        await consolePage.locator('console-thread .messages').evaluate((el) => el.scrollTo(0, 0)).catch(() => undefined);
        return false;
      },
      { intervalMs: 100 },
    ).catch(consoleCount);
    const consoleHits = await settleWithControl(consolePage, 'console');
    const consoleInjected = await injected(consolePage, '.msg__text');
    // Positive controls after the measurement: prove the traps would have seen an execution or a violation.
    await consolePage.evaluate('alert("control")');
    const consoleControl = await hits(consolePage);
    const consoleTexts = new Set(await consolePage.locator('console-thread .messages .msg__text').allTextContents());
    const missingInConsole = payloads.filter((p) => !consoleTexts.has(p));
    await consoleContext.close();

    for (const h of [...widgetHits.hits, ...consoleHits.hits]) executions.push(h);
    if (widgetHits.title !== 'host page') executions.push(`widget page title changed to ${widgetHits.title}`);
    if (consoleHits.title === 'xss') executions.push('console title changed to xss');
    const injectedElements = [...widgetInjected.elements.map((e) => `widget: ${e}`), ...consoleInjected.elements.map((e) => `console: ${e}`)];
    if (missingInWidget.length) injectedElements.push(`widget is missing ${missingInWidget.length} payload texts, e.g. ${JSON.stringify(missingInWidget[0])}`);
    if (missingInConsole.length) injectedElements.push(`console is missing ${missingInConsole.length} payload texts, e.g. ${JSON.stringify(missingInConsole[0])}`);
    return {
      payloads: payloads.length,
      widgetRendered,
      consoleRendered,
      executions,
      cspViolations: [...widgetHits.violations, ...consoleHits.violations],
      injectedElements,
      beaconRequests: beacons,
      bundleFindings: forbiddenInBundles(),
      trapsArmed: consoleControl.hits.length === consoleHits.hits.length + 1 && widgetHits.controlSeen && consoleHits.controlSeen,
    };
  } finally {
    await browser?.close();
    await host.close();
    await bridge.close();
  }
}
