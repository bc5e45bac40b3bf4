/**
 * Visitor context in real Chromium against a real bridge (#13): a visitor on a single-page app (German, Berlin time,
 * arriving from a search page) writes from the widget; the agent's console shows the page, title, referrer, browser
 * and OS parsed from the User-Agent, language and the visitor's local time; the visitor navigates with
 * history.pushState and the panel follows; the local time ticks with the page's clock; on a phone the panel is a
 * collapsible section. The screenshot docs/screenshots/console-visitor-context.png is refreshed with UPDATE_SCREENSHOTS=1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { axeViolations } from './helpers/axe.ts';
import { ensureBuilt, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { inboxItem, signInToConsole, threadMessage } from './helpers/console-page.ts';
import { conversationOf, openPanel, sendFromComposer, useWidgetRig } from './widget-harness.ts';

/** The host page as a tiny single-page app: `navigateTo` changes route and title without a load. */
const SPA_SCRIPT = `<script>
window.navigateTo = (path, title) => { history.pushState({}, '', path); document.title = title; };
</script>`;
const REFERRER = 'https://search.example.org/?q=winter+boots';

describe('console visitor context (Chromium, real bridge)', () => {
  ensureBuilt();
  const rig = useWidgetRig();
  const contexts: BrowserContext[] = [];
  const problems: PageProblems[] = [];

  async function page(options: Parameters<typeof rig.browser.newContext>[0], ignore: RegExp[] = []): Promise<Page> {
    const context = await rig.browser.newContext(options);
    contexts.push(context);
    const opened = await openPage(context, ignore);
    problems.push(opened.problems);
    return opened.page;
  }

  afterAll(async () => {
    for (const context of contexts) await context.close();
  });

  it('shows where the visitor is, follows a pushState navigation, ticks the local time, collapses on a phone', async () => {
    // The loopback host site has no favicon.
    const visitor = await page({ locale: 'de-DE', timezoneId: 'Europe/Berlin', viewport: { width: 1024, height: 768 } }, [/favicon\.ico/]);
    const pageUrl = rig.site.url({ server: rig.bridge.url, site: 'shop', head: SPA_SCRIPT });
    await visitor.goto(pageUrl, { referer: REFERRER });
    await openPanel(visitor);
    await sendFromComposer(visitor, 'Do you have these boots in 42?');
    const { id: conversationId } = await conversationOf(rig.agent, 'shop');

    // The console's clock is the page's, moved by the test; it starts near the real time so message times agree.
    const agent = await page({ locale: 'en-GB', timezoneId: 'UTC', viewport: { width: 1280, height: 800 } });
    await agent.clock.install({ time: new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30_000) });
    await signInToConsole(agent, rig.bridge.url, rig.bridge.agent.name, rig.bridge.agent.password);
    await inboxItem(agent, conversationId).click();
    await threadMessage(agent, 'Do you have these boots in 42?').waitFor();

    const panel = agent.locator('console-visitor-context');
    const field = (name: string) => panel.locator(`[data-context="${name}"]`);
    await field('url').waitFor();
    expect(await panel.locator('section h2').textContent()).toBe('Visitor');
    expect(await panel.locator('details').count()).toBe(0);
    expect((await field('url').textContent())?.trim()).toBe(pageUrl);
    expect((await field('title').textContent())?.trim()).toBe('host page');
    expect((await field('referrer').textContent())?.trim()).toContain('search.example.org');
    expect((await field('browser').textContent())?.trim()).toMatch(/^Chrome \d+$/);
    expect((await field('os').textContent())?.trim()).toBe('Linux · desktop');
    expect((await field('language').textContent())?.trim()).toBe('German (Germany) (de-DE)');
    expect((await field('local-time').textContent())?.replace(/\s+/g, ' ').trim()).toMatch(/\(Europe\/Berlin, UTC\+01:00\)$/);

    // The visitor moves on inside the single-page app: the panel follows, the URL stays a safe link.
    await visitor.evaluate(() => (window as unknown as { navigateTo(path: string, title: string): void }).navigateTo('/boots?size=42#reviews', 'Winter boots — Example Shop'));
    const bootsUrl = new URL('/boots?size=42#reviews', pageUrl).href;
    await expect.poll(async () => (await field('url').textContent())?.trim(), { timeout: 15_000 }).toBe(bootsUrl);
    await expect.poll(async () => (await field('title').textContent())?.trim(), { timeout: 15_000 }).toBe('Winter boots — Example Shop');
    const link = field('url').locator('a');
    expect(await link.getAttribute('href')).toBe(bootsUrl);
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer nofollow');

    // Local time: the visitor's wall clock from the console's clock, ticking on the minute.
    const berlinNow = () =>
      agent.evaluate(() => new Intl.DateTimeFormat('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', timeZone: 'Europe/Berlin' }).format(new Date()));
    const shownTime = () => field('local-time').locator('time').textContent();
    await expect.poll(async () => (await shownTime()) === (await berlinNow())).toBe(true);
    const before = await shownTime();
    const toNextMinute = await agent.evaluate(() => 60_000 - (Date.now() % 60_000) + 100);
    await agent.clock.fastForward(toNextMinute);
    await expect.poll(shownTime).not.toBe(before);
    expect(await shownTime()).toBe(await berlinNow());

    expect(await axeViolations(agent)).toEqual([]);
    await saveScreenshot(agent, 'console-visitor-context');

    // On a phone the panel is a closed disclosure naming the page; opening it shows the same list.
    await agent.setViewportSize({ width: 390, height: 780 });
    const summary = panel.locator('details summary');
    await summary.waitFor();
    expect(await summary.textContent()).toContain('Winter boots — Example Shop');
    expect(await field('url').isVisible()).toBe(false);
    await summary.click();
    await field('url').waitFor({ state: 'visible' });
    expect(problems.flatMap((p) => p.errors)).toEqual([]);
  });
});
