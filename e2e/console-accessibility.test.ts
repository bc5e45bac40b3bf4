/**
 * What axe cannot see in the agent console, in real Chromium against a real bridge: focus lands in the inbox after
 * sign-in, every keyboard stop (sign-in, inbox, conversation pane with Back on a narrow screen) shows an indicator
 * of ≥ 3:1 that differs from unfocused, and a long word in the reply box wraps at 1280 and 375 px.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connectVisitor, emitWithAck, startTestBridge, type ConnectedVisitor, type TestBridge } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage } from './helpers/browser.ts';
import { inboxItem, signInToConsole, threadMessage, waitConsoleConnected } from './helpers/console-page.ts';
import { installContrastProbe, walkFocusStops, type FocusStop, type Probe } from './helpers/contrast.ts';

describe('console accessibility (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let visitor: ConnectedVisitor;
  let conversationId = '';
  const contexts: BrowserContext[] = [];

  async function page(viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    return (await openPage(context)).page;
  }

  let signedIn: BrowserContext | undefined;
  /**
   * Opens the seeded conversation in a console tab at `viewport`, in the file's one signed-in context: the first tab
   * signs in, later ones find the stored session (as a new tab of the same browser does). Cases that test signing in
   * itself use contexts of their own.
   */
  async function openConversation(viewport: { width: number; height: number }): Promise<Page> {
    const first = !signedIn;
    if (!signedIn) contexts.push((signedIn = await browser.newContext({ viewport })));
    const agent = (await openPage(signedIn)).page;
    await agent.setViewportSize(viewport);
    if (first) {
      await signInToConsole(agent, bridge.url, bridge.agent.name, bridge.agent.password);
    } else {
      await agent.goto(`${bridge.url}/console/`);
      await waitConsoleConnected(agent);
    }
    await inboxItem(agent, conversationId).click();
    await threadMessage(agent, 'Do you ship to Canada?').waitFor();
    return agent;
  }

  const invisible = (stops: FocusStop[]) => stops.filter((s) => s.indicator === 'none' || s.contrast < 3).map((s) => `${s.element}: ${s.indicator} ${s.contrast}:1`);

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
    visitor = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
    const ack = await emitWithAck(visitor, 'message:send', { clientId: 'a11y-1', text: 'Do you ship to Canada?' });
    if (!ack.ok) throw new Error(ack.error.code);
    conversationId = ack.data.conversationId;
  }, 120_000);

  afterAll(async () => {
    visitor?.close();
    for (const context of contexts) await context.close();
    await browser?.close();
    await bridge?.close();
  });

  it('moves focus into the inbox after sign-in (not to <body>)', async () => {
    const agent = await page({ width: 1280, height: 800 });
    await agent.goto(`${bridge.url}/console/`);
    await agent.getByLabel('Agent name').fill(bridge.agent.name);
    await agent.getByLabel('Password').fill(bridge.agent.password);
    await agent.getByLabel('Password').press('Enter');
    await waitConsoleConnected(agent);
    await installContrastProbe(agent);
    await expect
      .poll(() => agent.evaluate(() => (window as unknown as { __probe: Probe }).__probe.deepActive()?.getAttribute('aria-label')))
      .toBe('Search conversations');
  });

  it('shows a visible focus indicator on every keyboard stop: sign-in, inbox, conversation pane', async () => {
    const signIn = await page({ width: 1280, height: 800 });
    await signIn.goto(`${bridge.url}/console/`);
    await signIn.getByLabel('Agent name').waitFor();
    await signIn.locator('body').click({ position: { x: 5, y: 5 } });
    const signInStops = await walkFocusStops(signIn, () => false, 10);
    expect(signInStops.map((s) => s.element.split(' ')[0])).toEqual(['input', 'input', 'button.btn.btn--primary']);
    expect(invisible(signInStops)).toEqual([]);

    const agent = await openConversation({ width: 1280, height: 800 });
    await agent.locator('console-composer textarea').fill('a draft, so Send is enabled');
    await agent.locator('anon-console .brand').click();
    const stops = await walkFocusStops(agent, () => false, 40);
    const names = stops.map((s) => s.element).join('\n');
    for (const expected of ['Sound for new messages', 'Sign out', 'Search conversations', 'item', 'Close conversation', 'div.messages', 'Reply to', 'Send']) {
      expect(names).toContain(expected);
    }
    expect(invisible(stops)).toEqual([]);

    // Narrow: one pane at a time, with Back.
    const narrow = await openConversation({ width: 600, height: 900 });
    await narrow.locator('anon-console .brand').click();
    const narrowStops = await walkFocusStops(narrow, () => false, 40);
    expect(narrowStops.map((s) => s.element).join('\n')).toContain('Back to inbox');
    expect(invisible(narrowStops)).toEqual([]);
  });

  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 375, height: 667 },
  ]) {
    it(`wraps a 500-character word in the reply box instead of widening the pane (${viewport.width} px)`, async () => {
      const agent = await openConversation(viewport);
      await agent.locator('console-composer textarea').fill('W'.repeat(500));
      const geometry = await agent.evaluate(() => {
        const app = document.querySelector('anon-console')!.shadowRoot!;
        const thread = app.querySelector('console-thread')!;
        const composer = thread.shadowRoot!.querySelector('console-composer')!;
        const rect = (el: Element) => el.getBoundingClientRect();
        return {
          width: innerWidth,
          height: innerHeight,
          scrollWidth: document.scrollingElement!.scrollWidth,
          thread: rect(thread).right,
          head: rect(thread.shadowRoot!.querySelector('.head')!).left,
          send: rect(composer.shadowRoot!.querySelector('.send')!).toJSON() as DOMRect,
          box: rect(composer.shadowRoot!.querySelector('textarea')!).right,
        };
      });
      expect(geometry.scrollWidth).toBeLessThanOrEqual(geometry.width);
      expect(geometry.thread).toBeLessThanOrEqual(geometry.width);
      expect(geometry.head).toBeGreaterThanOrEqual(0);
      expect(geometry.box).toBeLessThanOrEqual(geometry.width);
      expect(geometry.send.right).toBeLessThanOrEqual(geometry.width);
      expect(geometry.send.bottom).toBeLessThanOrEqual(geometry.height);
    });
  }
});
