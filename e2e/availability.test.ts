/**
 * Availability end to end in real Chromium (#13): the agent sets themselves Away in the console, the demo page's
 * widget shows the team offline and offers to answer by e-mail (the bridge has SMTP_URL), the visitor leaves an
 * address (stored with the page it was left on, which e-mailed replies link back to), and the console's conversation
 * view shows it; Online again hides the offer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, type TestBridge } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { inboxItem, signInToConsole, waitConsoleConnected } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage } from './helpers/widget-page.ts';

describe('availability and reply by e-mail (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: PageProblems[] = [];

  async function page(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const opened = await openPage(context);
    problems.push(opened.problems);
    return opened.page;
  }

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge({ config: { mail: { smtpUrl: 'smtp://127.0.0.1:2525', from: 'support@example.com', unansweredAfterMs: 300_000, visitorAfterMs: 600_000 } } });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await bridge?.close();
  });

  it('Away: the widget shows the team offline and offers e-mail; the address left shows in the console', async () => {
    const agent = await page();
    await signInToConsole(agent, bridge.url, bridge.agent.name, bridge.agent.password);
    await waitConsoleConnected(agent);
    const availability = agent.locator('anon-console .availability');
    await availability.and(agent.locator('[data-availability="online"]')).waitFor();

    const visitor = await page();
    await visitor.goto(`${bridge.url}/demo/`);
    await openWidget(visitor);
    const status = visitor.locator('anon-chat .availability');
    await status.filter({ hasText: 'We are online' }).waitFor();
    const offer = visitor.locator('anon-chat form.email');
    expect(await offer.count()).toBe(0);
    await sendFromWidget(visitor, 'Is anyone there?');
    await widgetMessage(visitor, 'Is anyone there?').waitFor();

    // The agent goes Away: the widget says so live and offers to answer by e-mail.
    await availability.click();
    await availability.and(agent.locator('[data-availability="away"]')).waitFor();
    await status.filter({ hasText: 'We will reply as soon as we can' }).waitFor();
    await offer.waitFor();
    const input = visitor.locator('anon-chat form.email input[type="email"]');
    await input.fill('not an address');
    await visitor.locator('anon-chat form.email button[type="submit"]').click();
    await visitor.locator('anon-chat form.email [role="alert"]', { hasText: 'valid e-mail' }).waitFor();
    await input.fill('ann@example.com');
    await visitor.locator('anon-chat form.email button[type="submit"]').click();
    await visitor.locator('anon-chat .email', { hasText: "We'll reply to ann@example.com." }).waitFor();

    // The console's conversation view shows the address.
    const conversations = await bridge.store.listConversations({ filter: 'all' });
    expect(conversations).toHaveLength(1);
    // The widget sent the page it is on with the address: e-mailed replies link back to it.
    expect((await bridge.store.getConversation(conversations[0]!.id))?.visitorPage).toBe(visitor.url());
    await inboxItem(agent, conversations[0]!.id).click();
    await agent.locator('console-thread .visitor-email', { hasText: 'ann@example.com' }).waitFor();
    expect(await agent.locator('console-thread .visitor-email').getAttribute('href')).toBe('mailto:ann@example.com');

    // The visitor changes it; the console follows.
    await visitor.locator('anon-chat .email-change').click();
    await input.fill('ann@example.org');
    await visitor.locator('anon-chat form.email button[type="submit"]').click();
    await agent.locator('console-thread .visitor-email', { hasText: 'ann@example.org' }).waitFor();

    // Online again: the offer goes away.
    await availability.click();
    await status.filter({ hasText: 'We are online' }).waitFor();
    await offer.waitFor({ state: 'detached' });
    expect(problems.flatMap((p) => p.errors)).toEqual([]);
  });
});
