/**
 * The demo pages as a site owner sees them, in Chromium under the bridge's strict page CSP: the shop page embeds
 * the widget with the README snippet; the theming page shows a custom accent, the dark theme, the left position,
 * German strings and the JS API, with an unread badge in the page header driven by `anon-chat-unread`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, connectAgent, emitWithAck, nextEvent, type AgentClient, type TestBridge, WAIT_DEADLINE_MS } from '../bridge/testing/index.ts';
import { ROOT, ensureBuilt, launchChromium, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { openWidget, widgetMessage } from './helpers/widget-page.ts';

/** Stricter than the bridge's own page policy: no inline styles either (`style-src 'self'`). */
const STRICT_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');

describe('demo pages (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let agent: AgentClient;
  const contexts: BrowserContext[] = [];

  async function page(): Promise<{ page: Page; problems: PageProblems }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    return openPage(context);
  }

  const launcherBackground = (p: Page): Promise<string> =>
    p.locator('anon-chat .launcher').evaluate((el) => getComputedStyle(el).backgroundColor);

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
    agent = await connectAgent(bridge.url, bridge.agent.token);
  }, 120_000);

  afterAll(async () => {
    agent?.close();
    await browser?.close();
    await bridge?.close();
  });

  it('serves the shop page with the widget embedded and themed by the page, under a strict CSP', async () => {
    const { page: shop, problems } = await page();
    const res = await shop.goto(`${bridge.url}/demo/`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await shop.locator('anon-chat .launcher').waitFor();
    expect(await shop.locator('h1').textContent()).toContain('Coffee roasted');
    // The shop's brand colour reaches the widget through --anon-chat-accent.
    expect(await launcherBackground(shop)).toBe('rgb(122, 62, 29)');
    await shop.getByRole('link', { name: 'Theming demo' }).click();
    await shop.waitForURL(/theming\.html$/);
    await shop.locator('anon-chat .launcher').waitFor();
    expect(problems.errors).toEqual([]);
  });

  it('contain no inline script, style or event handler', async () => {
    for (const file of ['index.html', 'theming.html']) {
      const html = await readFile(join(ROOT, 'demo', file), 'utf8');
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
      expect(html).not.toMatch(/<style[\s>]/i);
      expect(html).not.toMatch(/\sstyle\s*=/i);
      expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    }
  });

  it('run under a CSP without inline scripts or styles (no violations, widget works)', async () => {
    // The response is rewritten in the browser (route.fulfill): the run's browser has Local Network Access checks off
    // (helpers/browser.ts), so the page's WebSocket to the bridge on 127.0.0.1 still goes through.
    const { page: strict, problems } = await page();
    await strict.route('**/demo/**', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': STRICT_CSP } });
    });
    for (const path of ['/demo/', '/demo/theming.html']) {
      const res = await strict.goto(`${bridge.url}${path}`);
      expect(res?.headers()['content-security-policy']).toBe(STRICT_CSP);
      await strict.locator('anon-chat .launcher').waitFor();
      if (path.endsWith('theming.html')) {
        // The accent swatches restyle through CSSOM, which the policy allows (before the panel covers them).
        await strict.getByRole('button', { name: 'Rose' }).click();
        await expect.poll(() => launcherBackground(strict)).toBe('rgb(190, 18, 60)');
      }
      await openWidget(strict);
    }
    expect(problems.errors).toEqual([]);
  });

  it('themes the widget (accent, dark, left, German) and drives it through the JS API with a header unread badge', async () => {
    const { page: demo, problems } = await page();
    await demo.goto(`${bridge.url}/demo/theming.html`);
    const chat = demo.locator('anon-chat');
    const launcher = demo.locator('anon-chat .launcher');
    await launcher.waitFor();

    expect(await chat.getAttribute('theme')).toBe('dark');
    expect(await launcher.getAttribute('aria-label')).toBe('Chat öffnen');
    const box = await launcher.boundingBox();
    expect(box?.x).toBeLessThan(200);
    expect(await launcherBackground(demo)).toBe('rgb(15, 118, 110)');
    await demo.getByRole('button', { name: 'Violet' }).click();
    await expect.poll(() => launcherBackground(demo)).toBe('rgb(109, 40, 217)');
    expect(await demo.locator('#snippet').textContent()).toContain('--anon-chat-accent: #6d28d9');

    // open() and send(text) from page buttons; the agent receives the message.
    await demo.getByRole('button', { name: 'open()' }).click();
    await demo.locator('anon-chat .panel').waitFor({ state: 'visible' });
    const received = nextEvent(agent, 'message:new', WAIT_DEADLINE_MS);
    await demo.getByLabel('send(text)').fill('Hallo! Ich habe eine Frage zu meiner Bestellung.');
    await demo.getByRole('button', { name: 'Call send()' }).click();
    const message = await received;
    expect(message.text).toBe('Hallo! Ich habe eine Frage zu meiner Bestellung.');
    await demo.locator('#event-log li', { hasText: 'send() resolved' }).waitFor();
    await demo.locator('#event-log li', { hasText: 'anon-chat-open' }).waitFor();

    // Closed panel + agent reply → the widget's unread event drives the badge in the page header.
    await demo.getByRole('button', { name: 'close()' }).click();
    await demo.locator('anon-chat .panel').waitFor({ state: 'hidden' });
    const badge = demo.locator('#header-unread');
    expect(await badge.isHidden()).toBe(true);
    const ack = await emitWithAck(agent, 'message:send', {
      conversationId: message.conversationId,
      clientId: 'demo-reply-1',
      text: 'Gern! Wie lautet Ihre Bestellnummer?',
    });
    expect(ack.ok).toBe(true);
    await badge.waitFor({ state: 'visible' });
    expect(await badge.textContent()).toBe('1');
    expect(await demo.locator('#state-unread').textContent()).toBe('1');

    // The header button opens the chat (JS API); reading it clears the badge.
    await demo.locator('#header-messages').click();
    await widgetMessage(demo, 'Gern! Wie lautet Ihre Bestellnummer?').waitFor();
    await badge.waitFor({ state: 'hidden' });
    await saveScreenshot(demo, 'demo-theming');
    expect(problems.errors).toEqual([]);
  });
});
