/**
 * What axe cannot see in `<anon-chat>`, in real Chromium against a real bridge: a long word in the composer at 1280
 * and 375 px, 44 × 44 tap targets on a phone, a visible focus indicator (≥ 3:1, different from unfocused) on every
 * keyboard stop, the announcement of a reply while the panel is closed, the full-screen panel as a modal dialog,
 * contrast of everything drawn on the accent over a palette of accents in both themes, read vs delivered ticks
 * without colour, and right-to-left text with the UI's language.
 */
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { emitWithAck } from '../bridge/testing/index.ts';
import { contrast, installContrastProbe, walkFocusStops, type Probe, type Rgba } from './helpers/contrast.ts';
import { saveScreenshot } from './helpers/browser.ts';
import { conversationOf, openPanel, openWidget, sendFromComposer, useWidgetRig, type PageOptions } from './widget-harness.ts';

const rig = useWidgetRig();
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 667 };
let sites = 0;
/** One page per viewport for the whole file: each case loads it afresh on a new site key (a new visitor). */
const pages = new Map<{ width: number; height: number }, Page>();

afterAll(async () => {
  for (const page of pages.values()) await page.context().close();
});

/** A host page on a fresh site key, at `viewport`, with the launcher on screen. */
async function widgetPage(viewport: { width: number; height: number }, options: Partial<PageOptions> = {}): Promise<{ page: Page; site: string }> {
  const site = `a11y-${++sites}-${Date.now()}`;
  const url = rig.site.url({ server: rig.bridge.url, site, ...options });
  let page = pages.get(viewport);
  if (page) {
    await page.goto(url);
    await page.locator('anon-chat .launcher').first().waitFor();
  } else {
    const context = await rig.browser.newContext({ viewport, hasTouch: viewport.width < 500 });
    page = (await openWidget(rig.browser, url, context)).page;
    pages.set(viewport, page);
  }
  return { page, site };
}

/** The agent's side marks the visitor's messages up to `upToSeq` as delivered or read. */
async function receipt(site: string, upToSeq: number, status: 'delivered' | 'read'): Promise<void> {
  const res = await emitWithAck(rig.agent, 'receipt', { conversationId: (await conversationOf(rig.agent, site)).id, upToSeq, status });
  expect(res.ok).toBe(true);
}

async function agentSays(site: string, text: string): Promise<void> {
  const res = await emitWithAck(rig.agent, 'message:send', { conversationId: (await conversationOf(rig.agent, site)).id, clientId: `a-${Math.random()}`, text });
  expect(res.ok).toBe(true);
}

/** Geometry of the panel's parts and of the page, for layout checks. */
function layout(page: Page) {
  return page.evaluate(() => {
    const root = document.querySelector('anon-chat')!.shadowRoot!;
    const rect = (selector: string) => {
      const r = root.querySelector(selector)!.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width };
    };
    return {
      viewport: { width: innerWidth, height: innerHeight, scrollWidth: document.scrollingElement!.scrollWidth },
      panel: rect('.panel'),
      header: rect('.header'),
      input: rect('.input'),
      send: rect('.send'),
      list: rect('.list'),
    };
  });
}

describe('widget accessibility (Chromium, real bridge)', () => {
  for (const viewport of [DESKTOP, PHONE]) {
    it(`keeps the panel intact with a 500-character word in the composer, and wraps it once sent (${viewport.width} px)`, async () => {
      const { page } = await widgetPage(viewport);
      await openPanel(page);
      await page.locator('anon-chat .input').fill('W'.repeat(500));
      const l = await layout(page);
      expect(l.viewport.scrollWidth).toBeLessThanOrEqual(l.viewport.width);
      expect(l.panel.left).toBeGreaterThanOrEqual(0);
      expect(l.panel.right).toBeLessThanOrEqual(l.viewport.width);
      expect(l.header.left).toBeGreaterThanOrEqual(l.panel.left);
      expect(l.input.right).toBeLessThanOrEqual(l.panel.right);
      expect(l.send.right).toBeLessThanOrEqual(l.panel.right);
      expect(l.send.bottom).toBeLessThanOrEqual(l.viewport.height);
      expect(l.list.width).toBeGreaterThan(0);
      await page.locator('anon-chat .input').press('Enter');
      const bubble = page.locator('anon-chat .msg--own .msg__bubble');
      await bubble.waitFor();
      const b = await bubble.boundingBox();
      expect(b!.x + b!.width).toBeLessThanOrEqual((await layout(page)).panel.right);
    });
  }

  it('gives every control at least 44 × 44 px on a phone', async () => {
    const { page } = await widgetPage(PHONE);
    const sizes = async (selector: string) =>
      page.locator(`anon-chat ${selector}`).evaluateAll((els) => els.map((el) => ({ name: el.className, ...el.getBoundingClientRect().toJSON() as DOMRect })));
    const launcher = (await sizes('.launcher'))[0]!;
    expect([launcher.width, launcher.height].every((n) => n >= 44)).toBe(true);
    await openPanel(page);
    await page.locator('anon-chat .input').fill('hello');
    for (const target of await sizes('.panel button, .panel textarea')) {
      expect({ name: target.name, big: target.width >= 44 && target.height >= 44 }).toEqual({ name: target.name, big: true });
    }
  });

  it('shows a visible focus indicator (≥ 3:1, differs from unfocused) on every keyboard stop, light and dark', async () => {
    for (const theme of ['light', 'dark'] as const) {
      const { page, site } = await widgetPage(DESKTOP, { attributes: `theme="${theme}"` });
      await openPanel(page);
      await sendFromComposer(page, 'Hello there');
      await agentSays(site, 'Hi! How can we help?');
      await page.locator('anon-chat .msg--other').waitFor();
      await page.locator('anon-chat .input').fill('draft, so Send is enabled');
      // From the page's start: the host page's heading has no stop; the launcher is first.
      await page.locator('h1').click();
      const stops = await walkFocusStops(page, (stop) => stop.element.startsWith('button#outside') || stop.element.startsWith('button "outside"'));
      const names = stops.map((s) => s.element);
      expect(names.some((n) => n.includes('launcher'))).toBe(true);
      expect(names.some((n) => n.includes('icon-button'))).toBe(true);
      expect(names.some((n) => n.includes('list'))).toBe(true);
      expect(names.some((n) => n.includes('input'))).toBe(true);
      expect(names.some((n) => n.includes('send'))).toBe(true);
      for (const stop of stops.filter((s) => !s.element.includes('outside'))) {
        expect({ theme, element: stop.element, contrast: stop.contrast, visible: stop.indicator !== 'none' && stop.contrast >= 3 }).toEqual({ theme, element: stop.element, contrast: stop.contrast, visible: true });
      }
    }
  });

  it('announces a reply that arrives while the panel is closed', async () => {
    const { page, site } = await widgetPage(DESKTOP);
    await openPanel(page);
    await sendFromComposer(page, 'Is anyone there?');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('anon-chat .panel').waitFor({ state: 'hidden' });
    await agentSays(site, 'Yes, we are here.');
    const region = page.locator('anon-chat [aria-live="polite"]', { hasText: 'Yes, we are here.' });
    await region.waitFor({ state: 'attached' });
    // In the accessibility tree (not inside the hidden panel), so screen readers hear it.
    expect(await page.locator('anon-chat').ariaSnapshot()).toContain(`${rig.bridge.agent.displayName}: Yes, we are here.`);
    expect(await region.evaluate((el) => el.closest('.panel'))).toBeNull();
    // Above the reply: the agent's display name with an initials avatar (hidden from screen readers), never the login name.
    await openPanel(page);
    const author = page.locator('anon-chat .msg--agent .msg__author').last();
    expect(await author.locator('.msg__avatar').textContent()).toBe('TA');
    expect(await author.locator('.msg__avatar').getAttribute('aria-hidden')).toBe('true');
    expect(await author.textContent()).toBe(`TA${rig.bridge.agent.displayName}`);
    expect(await page.locator('anon-chat [part="messages"]').textContent()).not.toContain(rig.bridge.agent.name);
  });

  it('makes the full-screen panel a modal dialog on a phone: focus stays in, page inert, Escape closes', async () => {
    const { page } = await widgetPage(PHONE);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('anon-chat .panel').waitFor();
    expect(await page.locator('anon-chat .panel').evaluate((el) => el.matches(':modal'))).toBe(true);
    const l = await layout(page);
    expect(l.panel).toMatchObject({ left: 0, top: 0, right: PHONE.width, bottom: PHONE.height });
    const inPanel = () => page.evaluate(() => {
      const root = document.querySelector('anon-chat')!.shadowRoot!;
      return document.activeElement === root.host && !!root.activeElement?.closest('.panel');
    });
    for (let i = 0; i < 8; i++) {
      expect(await inPanel()).toBe(true);
      await page.keyboard.press('Tab');
      // Tab past the last control leaves the page for the browser's own UI, then comes back into the dialog.
      if (!(await page.evaluate(() => document.activeElement !== document.body))) await page.keyboard.press('Tab');
    }
    // The host page behind is inert: its button can take neither focus nor clicks.
    await page.locator('#outside').evaluate((el: HTMLElement) => el.focus());
    expect(await page.evaluate(() => document.activeElement?.id)).not.toBe('outside');
    await page.keyboard.press('Escape');
    await page.locator('anon-chat .panel').waitFor({ state: 'hidden' });
    expect(await page.evaluate(() => document.querySelector('anon-chat')!.shadowRoot!.activeElement?.className)).toBe('launcher');
  });

  it('closes with Escape while focus is on the launcher (desktop, panel beside the page)', async () => {
    const { page } = await widgetPage(DESKTOP);
    await openPanel(page);
    expect(await page.locator('anon-chat .panel').evaluate((el) => el.matches(':modal'))).toBe(false);
    await page.locator('anon-chat .launcher').focus();
    await page.keyboard.press('Escape');
    await page.locator('anon-chat .panel').waitFor({ state: 'hidden' });
  });

  it('keeps the composer above the on-screen keyboard: the phone panel follows the visual viewport', async () => {
    const { page } = await widgetPage(PHONE);
    await openPanel(page);
    // A pinch zoom shrinks the visual viewport like an on-screen keyboard does; the layout viewport stays.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setPageScaleFactor', { pageScaleFactor: 2 });
    await expect.poll(() => page.evaluate(() => visualViewport!.height)).toBeLessThan(PHONE.height / 1.5);
    const visible = await page.evaluate(() => ({ top: visualViewport!.offsetTop, bottom: visualViewport!.offsetTop + visualViewport!.height }));
    await expect.poll(async () => (await layout(page)).send.bottom).toBeLessThanOrEqual(visible.bottom);
    expect((await layout(page)).input.bottom).toBeLessThanOrEqual(visible.bottom);
    await cdp.send('Emulation.setPageScaleFactor', { pageScaleFactor: 1 });
    await cdp.detach();
  });

  it('keeps AA contrast for everything drawn on the accent, over a palette of accents, light and dark; tells read from delivered without colour', async () => {
    const { page, site } = await widgetPage(DESKTOP);
    await openPanel(page);
    await sendFromComposer(page, 'First question');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    await receipt(site, 1, 'read');
    await page.locator('anon-chat .msg--own.msg--read').waitFor();
    await sendFromComposer(page, 'Second question');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    await receipt(site, 2, 'delivered');
    await page.locator('anon-chat .msg--own.msg--delivered').waitFor();
    await page.locator('anon-chat .input').fill('draft');
    await installContrastProbe(page);
    // Read vs delivered without colour, in the default theme: read ticks sit in a filled pill.
    const fill = (selector: string) =>
      page.locator(`anon-chat ${selector} .ticks`).evaluate((el) => {
        const probe = (window as unknown as { __probe: Probe }).__probe;
        return { own: probe.rgba(getComputedStyle(el).backgroundColor), bubble: probe.background(el.closest('.msg__bubble')!) };
      });
    const read = await fill('.msg--read');
    const delivered = await fill('.msg--delivered');
    expect(delivered.own[3]).toBe(0);
    expect(read.own[3]).toBe(1);
    expect(contrast(read.own, read.bubble)).toBeGreaterThanOrEqual(3);
    // The status is the glyph's accessible name, not repeated as a description (no title).
    expect(await page.locator('anon-chat .msg--read .ticks').getAttribute('aria-label')).toBe('Read');
    expect(await page.locator('anon-chat .msg--read .ticks').getAttribute('title')).toBeNull();

    // Keyboard modality, so the rings below are the :focus-visible ones.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');

    const accents = ['#1a56db', '#0f766e', '#b45309', '#be123c', '#6d28d9', '#7a3e1d', '#fbbf24', '#7fe3ff', '#22c55e', '#ff0000', '#777777', '#808080', '#000000', '#ffffff'];
    const results: Array<{ accent: string; theme: string; worst: string; ratio: number }> = [];
    for (const theme of ['light', 'dark']) {
      for (const accent of accents) {
        const measured = await page.evaluate(
          ({ accent, theme }) => {
            const probe = (window as unknown as { __probe: Probe }).__probe;
            const host = document.querySelector('anon-chat')!;
            host.setAttribute('theme', theme);
            host.style.setProperty('--anon-chat-accent', accent);
            const root = host.shadowRoot!;
            const q = (selector: string) => root.querySelector<HTMLElement>(selector)!;
            const color = (el: Element) => probe.rgba(getComputedStyle(el).color);
            const bg = (el: Element) => probe.background(el);
            const ring = (el: HTMLElement) => {
              el.focus();
              return probe.rgba(getComputedStyle(el).outlineColor);
            };
            const read = q('.msg--read .ticks--read');
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- it makes each pair a tuple, which tsc needs below.
            return {
              text: [color(q('.msg--own .msg__text')), bg(q('.msg--own .msg__bubble'))],
              time: [color(q('.msg--own time')), bg(q('.msg--own .msg__bubble'))],
              delivered: [color(q('.msg--delivered .ticks')), bg(q('.msg--delivered .msg__bubble'))],
              readGlyph: [color(read.firstElementChild!), bg(read)],
              readPill: [bg(read), bg(q('.msg--read .msg__bubble'))],
              title: [color(q('.title')), bg(q('.header'))],
              closeRing: [ring(q('.icon-button')), bg(q('.header'))],
              inputRing: [ring(q('.input')), bg(q('.composer'))],
              launcherIcon: [color(q('.launcher')), bg(q('.launcher'))],
              sendIcon: [color(q('.send')), bg(q('.send'))],
            } as Record<string, [Rgba, Rgba]>;
          },
          { accent, theme },
        );
        const needs: Record<string, number> = { text: 4.5, time: 4.5, delivered: 4.5, readGlyph: 4.5, readPill: 3, title: 4.5, closeRing: 3, inputRing: 3, launcherIcon: 3, sendIcon: 3 };
        let worst = '';
        let ratio = Infinity;
        for (const [name, [fg, back]] of Object.entries(measured)) {
          const r = contrast(fg, back) / needs[name]!;
          if (r < ratio) [worst, ratio] = [name, r];
        }
        results.push({ accent, theme, worst, ratio: Math.round(ratio * 100) / 100 });
      }
    }
    // Each entry: the least contrasting part, as a multiple of what WCAG AA asks for it (≥ 1 passes).
    expect(results.filter((r) => r.ratio < 1)).toEqual([]);
  });

  it('speaks the UI language (lang), mirrors Arabic and Hebrew, and isolates each message (dir=auto)', async () => {
    const { page } = await widgetPage(DESKTOP, { attributes: 'locale="de"' });
    expect(await page.locator('anon-chat .root').getAttribute('lang')).toBe('de');

    for (const [locale, send] of [['he', 'שליחה'], ['ar', 'إرسال']] as const) {
      const { page: rtl, site } = await widgetPage(DESKTOP, { attributes: `locale="${locale}"` });
      // Arabic and Hebrew load from their own file next to the widget, after the launcher has painted.
      await expect.poll(() => rtl.locator('anon-chat .root').getAttribute('lang')).toBe(locale);
      expect(await rtl.locator('anon-chat .root').getAttribute('dir')).toBe('rtl');
      await openPanel(rtl);
      expect(await rtl.locator('anon-chat .send').getAttribute('aria-label')).toBe(send);
      await sendFromComposer(rtl, 'Do you ship to Canada?');
      await rtl.locator('anon-chat .msg--own.msg--sent').waitFor();
      // The English question keeps its question mark at its end (to the right of "Canada"), inside a right-to-left UI.
      const marks = await rtl.locator('anon-chat .msg--own .msg__text').evaluate((el) => {
        const text = [...el.childNodes].find((n) => n.nodeType === Node.TEXT_NODE)!;
        const at = (i: number) => {
          const range = document.createRange();
          range.setStart(text, i);
          range.setEnd(text, i + 1);
          return range.getBoundingClientRect().left;
        };
        const value = text.textContent!;
        return { c: at(value.indexOf('C')), q: at(value.indexOf('?')) };
      });
      expect(marks.q).toBeGreaterThan(marks.c);
      await agentSays(site, locale === 'he' ? 'כן, אנחנו שולחים לקנדה!' : 'نعم، نشحن إلى كندا!');
      await rtl.locator('anon-chat .msg--other').waitFor();
      expect(await rtl.locator('anon-chat .msg--other .msg__text').evaluate((el) => getComputedStyle(el).direction)).toBe('rtl');
    }
  });

  it('phone layout screenshots: light, dark, right-to-left', async () => {
    for (const [name, attributes] of [
      ['widget-phone-light', 'theme="light" title="Northwind Coffee"'],
      ['widget-phone-dark', 'theme="dark" title="Northwind Coffee"'],
      ['widget-phone-rtl', 'theme="light" locale="he"'],
    ] as const) {
      const hebrew = attributes.includes('locale="he"');
      const { page, site } = await widgetPage(PHONE, { attributes });
      await expect.poll(() => page.locator('anon-chat .root').getAttribute('lang')).toBe(hebrew ? 'he' : 'en');
      await openPanel(page);
      await sendFromComposer(page, hebrew ? 'האם אתם שולחים לקנדה?' : 'Do you ship to Canada?');
      await page.locator('anon-chat .msg--own.msg--sent').waitFor();
      await receipt(site, 1, 'read');
      await agentSays(site, hebrew ? 'כן — משלוח חינם מעל 40$.' : 'Yes — free shipping to Canada over $40.');
      await page.locator('anon-chat .msg--other').waitFor();
      await page.locator('anon-chat .input').click();
      await saveScreenshot(page, name);
    }
  });
});
