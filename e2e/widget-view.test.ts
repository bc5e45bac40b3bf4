/**
 * What the visitor sees, in real Chromium against a real bridge: older history on scroll up, date separators, the
 * "new messages" pill, the failed state with its reason, theming (custom properties, ::part, dark scheme) and i18n.
 */
import { describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { emitWithAck } from '../bridge/testing/index.ts';
import { openPanel, openWidget, renderedMessages, sendFromComposer, useWidgetRig } from './widget-harness.ts';
import { installContrastProbe, type Probe } from './helpers/contrast.ts';

/** The bridge's clock: tests move it to put messages on different days. */
let now = Date.parse('2026-01-10T11:00:00Z');

const rig = useWidgetRig({ clock: () => new Date(now) });

let shared: BrowserContext | undefined;
/**
 * The file's one browser context for cases with no browser setting of their own: each case is a new visitor (a site
 * key of its own) in a page it closes. Day separators are local dates: the time zone is pinned so the labels hold anywhere.
 */
async function sharedContext(): Promise<BrowserContext> {
  shared ??= await rig.browser.newContext({ timezoneId: 'UTC' });
  return shared;
}

describe('widget view', () => {
  it('loads older history on scroll up, separates days, and shows a pill for new messages when scrolled up', async () => {
    const key = `site-history-${Date.now()}`;
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'day one, visitor');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const list = await emitWithAck(rig.agent, 'conversations:list', { filter: 'all' });
    const conversation = list.ok ? list.data.conversations.find((c) => c.site === key)! : undefined;
    expect(conversation).toBeDefined();
    // 59 replies on day one and 70 on day two, each day's sent at once (their order within a day does not matter here).
    const reply = (i: number) => emitWithAck(rig.agent, 'message:send', { conversationId: conversation!.id, clientId: `h-${i}`, text: `agent ${i}` });
    for (const [from, to] of [[1, 59], [60, 129]] as const) {
      if (from === 60) now += 24 * 3600_000;
      const answers = await Promise.all(Array.from({ length: to - from + 1 }, (_, k) => reply(from + k)));
      expect(answers.every((res) => res.ok)).toBe(true);
    }
    await expect.poll(async () => (await renderedMessages(page)).length).toBe(130);
    // Start over with no cached copy: the widget shows the latest page and fetches the rest on scroll up. (Leave the
    // page first: the widget saves its cache on pagehide.)
    const widgetUrl = page.url();
    await page.goto(`${rig.site.origin}/hostile.css`);
    await page.evaluate(() => {
      for (const k of Object.keys(localStorage)) if (k.endsWith(':history')) localStorage.removeItem(k);
    });
    await page.goto(widgetUrl);
    await openPanel(page);
    await expect.poll(async () => (await renderedMessages(page)).length).toBe(50);
    expect((await renderedMessages(page))[0]!.seq).toBe('81');
    const messagesList = page.locator('anon-chat .list');
    // Each scroll to the top asks for the next older page: scroll again until all of them are in.
    await expect
      .poll(async () => {
        await messagesList.evaluate((el) => el.scrollTo(0, 0));
        return (await renderedMessages(page)).length;
      }, { message: 'scrolling up to load every older page (130 messages)' })
      .toBe(130);
    const all = await renderedMessages(page);
    expect(all.map((m) => Number(m.seq))).toEqual(Array.from({ length: 130 }, (_, i) => i + 1));
    const separators = await page.locator('anon-chat .separator').allTextContents();
    expect(separators).toEqual(['Sat, Jan 10', 'Sun, Jan 11']);
    // Scrolled up: a new reply does not yank the view; a pill offers to jump down.
    await messagesList.evaluate((el) => el.scrollTo(0, 0));
    const sent = await emitWithAck(rig.agent, 'message:send', { conversationId: conversation!.id, clientId: 'h-new', text: 'brand new' });
    expect(sent.ok).toBe(true);
    // The reply first, then the pill: a failure then says whether the reply never reached the widget or came without
    // a pill (the pill is decided in the render that shows the reply).
    await page.locator('anon-chat .msg', { hasText: 'brand new' }).waitFor();
    await page.locator('anon-chat .pill').waitFor();
    expect(await messagesList.evaluate((el) => el.scrollTop)).toBeLessThan(200);
    await page.locator('anon-chat .pill').click();
    await expect.poll(() => messagesList.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)).toBeLessThan(60);
    expect(await page.locator('anon-chat .pill').count()).toBe(0);
    await page.close();
  });

  it('marks a message the bridge cannot take as failed, with the reason and a Retry button, and rejects send()', async () => {
    const key = `site-failed-${Date.now()}`;
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    const outcome = await page.evaluate(() =>
      document
        .querySelector('anon-chat')!
        .send('x'.repeat(4001))
        .then(
          () => 'resolved',
          (error: { code?: string }) => error.code,
        ),
    );
    expect(outcome).toBe('text_too_long');
    const failed = page.locator('anon-chat .msg--failed');
    await failed.waitFor();
    expect(await failed.locator('.msg__failure').textContent()).toContain('The message is too long.');
    expect(await failed.locator('.ticks').getAttribute('aria-label')).toBe('Not sent');
    expect(await failed.locator('button.msg__retry').textContent()).toBe('Retry');
    // Still there after a reload: nothing the visitor wrote disappears silently.
    await page.reload();
    await openPanel(page);
    await page.locator('anon-chat .msg--failed').waitFor();
    // Retry on a too-long message hands the text back to the composer to shorten, counter in warning colour.
    await page.locator('anon-chat .msg--failed button.msg__retry').click();
    await expect.poll(() => page.locator('anon-chat textarea').inputValue()).toHaveLength(4001);
    expect(await page.locator('anon-chat .msg').count()).toBe(0);
    expect((await page.locator('anon-chat .counter').textContent())?.trim()).toBe('4001/4000');
    expect(await page.locator('anon-chat .counter').getAttribute('class')).toContain('counter--near');
    expect(await page.locator('anon-chat .send').isDisabled()).toBe(true);
    await page.close();
  });

  it('does not offer to send text with nothing visible in it, and send() refuses it and lone surrogates', async () => {
    const key = `site-invisible-${Date.now()}`;
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await page.locator('anon-chat textarea').fill('\u200b\u200d\ufeff\u2060');
    expect(await page.locator('anon-chat .send').isDisabled()).toBe(true);
    await page.locator('anon-chat textarea').press('Enter');
    const outcomes = await page.evaluate(() =>
      Promise.all(
        ['\u0000', '\u200b', '\ud83d'].map((text) =>
          document
            .querySelector('anon-chat')!
            .send(text)
            .then(
              () => 'resolved',
              (error: { code?: string }) => error.code,
            ),
        ),
      ),
    );
    expect(outcomes).toEqual(['text_empty', 'text_empty', 'text_invalid']);
    // Nothing was queued or shown; a visible character makes Send available again.
    expect(await page.locator('anon-chat .msg').count()).toBe(0);
    await page.locator('anon-chat textarea').fill('\u200bhi');
    expect(await page.locator('anon-chat .send').isDisabled()).toBe(false);
    await page.close();
  });

  it('follows custom properties, ::part() and the colour scheme, and the theme attribute overrides it', async () => {
    const key = `site-theme-${Date.now()}`;
    const head = '<style>anon-chat { --anon-chat-accent: rgb(200, 0, 100); } anon-chat::part(launcher) { border-radius: 4px; }</style>';
    const context = await rig.browser.newContext({ colorScheme: 'dark' });
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, head }), context);
    const launcher = page.locator('anon-chat .launcher');
    expect(await launcher.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(200, 0, 100)');
    expect(await launcher.evaluate((el) => getComputedStyle(el).borderRadius)).toBe('4px');
    await openPanel(page);
    const panelBg = () => page.locator('anon-chat .panel').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(await panelBg()).toBe('rgb(30, 31, 34)');
    await page.evaluate(() => document.querySelector('anon-chat')!.setAttribute('theme', 'light'));
    expect(await panelBg()).toBe('rgb(255, 255, 255)');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.evaluate(() => document.querySelector('anon-chat')!.setAttribute('theme', 'dark'));
    expect(await panelBg()).toBe('rgb(30, 31, 34)');
    await context.close();
  });

  it('speaks German with locale="de" and lets a page override any string', async () => {
    const key = `site-i18n-${Date.now()}`;
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, attributes: 'locale="de"' }), await sharedContext());
    expect(await page.locator('anon-chat .launcher').getAttribute('aria-label')).toBe('Chat öffnen');
    await openPanel(page);
    expect(await page.locator('anon-chat textarea').getAttribute('placeholder')).toBe('Nachricht schreiben…');
    await page.evaluate(() => {
      document.querySelector('anon-chat')!.strings = { send: 'Los', title: 'Hilfe' };
    });
    expect(await page.locator('anon-chat .send').getAttribute('aria-label')).toBe('Los');
    expect(await page.locator('anon-chat .title').textContent()).toBe('Hilfe');
    await page.close();
  });

  it('copes with thousands of messages: catches up 3,000 by sync, keeps the DOM small, still sends and pages history', async () => {
    const key = `site-many-${Date.now()}`;
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'first');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const list = await emitWithAck(rig.agent, 'conversations:list', { filter: 'all' });
    const conversation = list.ok ? list.data.conversations.find((c) => c.site === key)! : undefined;
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          rig.bridge.store.appendMessage({ conversationId: conversation!.id, clientId: `bulk-${batch}-${i}`, author: { role: 'agent', name: 'Bulk' }, text: `bulk ${batch * 100 + i}` }),
        ),
      );
    }
    // The widget did not see these live: a reload catches up from its cached revision, 100 per sync page.
    await page.reload();
    // 30 sync pages: the deadline is for a loaded machine; how long it takes is not asserted.
    await expect.poll(() => page.evaluate(() => document.querySelector('anon-chat')!.unread), { timeout: 60_000 }).toBe(3000);
    await openPanel(page);
    await expect.poll(() => page.evaluate(() => document.querySelector('anon-chat')!.unread)).toBe(0);
    expect(await page.locator('anon-chat .msg').count()).toBeLessThanOrEqual(150);
    const input = page.locator('anon-chat textarea');
    await input.fill('still fast');
    await input.press('Enter');
    await page.locator('anon-chat .msg--own', { hasText: 'still fast' }).locator('xpath=self::*[contains(@class, "msg--sent")]').waitFor();
    await page.locator('anon-chat .list').evaluate((el) => el.scrollTo(0, 0));
    await expect.poll(() => page.locator('anon-chat .msg').count()).toBeGreaterThan(150);
    expect(await page.locator('anon-chat .msg').count()).toBeLessThanOrEqual(300);
    await page.close();
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`meets WCAG AA text contrast in the ${scheme} scheme`, async () => {
      const key = `site-contrast-${scheme}-${Date.now()}`;
      const context = await rig.browser.newContext({ colorScheme: scheme });
      const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), context);
      await openPanel(page);
      await sendFromComposer(page, 'contrast check');
      await page.locator('anon-chat .msg--own.msg--sent').waitFor();
      const list = await emitWithAck(rig.agent, 'conversations:list', { filter: 'all' });
      const conversation = list.ok ? list.data.conversations.find((c) => c.site === key)! : undefined;
      await emitWithAck(rig.agent, 'message:send', { conversationId: conversation!.id, clientId: 'contrast', text: 'agent text' });
      await page.locator('anon-chat .msg--other').waitFor();
      await page.locator('anon-chat textarea').fill('x');
      await installContrastProbe(page);
      const ratios = await page.evaluate(() => {
        const root = document.querySelector('anon-chat')!.shadowRoot!;
        // Through a canvas: colours derived from the accent compute to lab(), not rgb().
        const parse = (c: string): number[] => (window as unknown as { __probe: Probe }).__probe.rgba(c);
        const lum = ([r, g, b]: number[]): number => {
          const f = (v: number): number => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
        };
        /** Text colour blended over its effective background (opacity and translucent colours included). */
        const ratio = (el: Element, pseudo?: string): number => {
          let fg = parse(getComputedStyle(el, pseudo).color);
          let alpha = fg[3] ?? 1;
          let node: Element | null = el;
          let bg: number[] = [255, 255, 255];
          while (node) {
            const style = getComputedStyle(node);
            alpha *= Number(style.opacity);
            const b = parse(style.backgroundColor);
            if ((b[3] ?? 1) > 0 && b.length >= 3) {
              bg = b;
              break;
            }
            node = node.parentElement ?? ((node.getRootNode() as ShadowRoot).host ?? null);
          }
          fg = fg.slice(0, 3).map((v, i) => v * alpha + bg[i]! * (1 - alpha));
          const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
          return (hi! + 0.05) / (lo! + 0.05);
        };
        const pick = (selector: string): Element => root.querySelector(selector)!;
        return {
          title: ratio(pick('.title')),
          availability: ratio(pick('.availability')),
          greeting: ratio(pick('.greeting')),
          separator: ratio(pick('.separator')),
          ownText: ratio(pick('.msg--own .msg__text')),
          ownTime: ratio(pick('.msg--own time')),
          otherText: ratio(pick('.msg--other .msg__text')),
          otherTime: ratio(pick('.msg--other time')),
          author: ratio(pick('.msg__author')),
          input: ratio(pick('.input')),
          placeholder: ratio(pick('.input'), '::placeholder'),
          counter: ratio(pick('.counter')),
        };
      });
      for (const [name, value] of Object.entries(ratios)) expect({ name, ok: value >= 4.5, value }).toMatchObject({ name, ok: true });
      await context.close();
    });
  }
});
