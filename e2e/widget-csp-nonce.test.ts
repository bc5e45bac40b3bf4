/**
 * The `nonce` path, in real Chromium against a real bridge: on a browser without constructable stylesheets Lit
 * falls back to <style> elements in the shadow root; under a strict CSP those need the page's nonce, which the
 * widget takes from its `nonce` attribute (kept by the browser even after it hides the attribute). The page takes
 * constructable stylesheet support away before the widget loads, so Chromium runs the same code such a browser would.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from '../bridge/testing/index.ts';
import { launchChromium } from './helpers/browser.ts';
import { openPanel, openWidget, renderedMessages, sendFromComposer, startHostSite, type HostSite } from './widget-harness.ts';

let browser: Browser;
let site: HostSite;
let bridge: TestBridge;
let siteCounter = 0;

beforeAll(async () => {
  site = await startHostSite();
  [browser, bridge] = await Promise.all([launchChromium(), startTestBridge({ config: { allowedOrigins: [site.origin] } })]);
});

afterAll(async () => {
  await browser?.close();
  await bridge?.close();
  await site?.close();
});

const newSite = (): string => `site-n${++siteCounter}-${Date.now()}`;
const NONCE = 'r4nd0m-n0nce-Zq8';

/** How the widget's shadow root is styled, and what the page reports. */
function inspect(page: Page): Promise<{
  constructable: boolean;
  styleElements: number;
  distinctStyles: number;
  styleNonces: string[];
  launcher: { position: string; width: string; background: string };
  violations: string[];
}> {
  return page.evaluate(() => {
    const root = document.querySelector('anon-chat')!.shadowRoot!;
    const launcher = getComputedStyle(root.querySelector('.launcher')!);
    const styles = [...root.querySelectorAll('style')];
    return {
      constructable: 'adoptedStyleSheets' in Document.prototype || 'adoptedStyleSheets' in ShadowRoot.prototype,
      styleElements: styles.length,
      distinctStyles: new Set(styles.map((s) => s.textContent)).size,
      styleNonces: [...new Set(styles.map((s) => s.nonce ?? ''))],
      launcher: { position: launcher.position, width: launcher.width, background: launcher.backgroundColor },
      violations: (window as unknown as { __violations: string[] }).__violations,
    };
  });
}

describe('without constructable stylesheets, under a strict CSP with a nonce', () => {
  for (const script of ['module', 'classic'] as const) {
    it(`styles the launcher and the panel through nonce'd <style> elements with no violation (${script} script)`, async () => {
      const key = newSite();
      const url = site.url({
        server: bridge.url,
        site: key,
        script,
        strictCsp: true,
        styleNonce: NONCE,
        noConstructableStylesheets: true,
        attributes: `nonce="${NONCE}"`,
      });
      const { context, page, errors } = await openWidget(browser, url);
      // The launcher is styled from the first render: its sheet came in a <style> with the nonce.
      await expect.poll(async () => (await inspect(page)).launcher.position).toBe('fixed');
      const first = await inspect(page);
      expect(first.constructable).toBe(false);
      expect(first.launcher).toEqual({ position: 'fixed', width: '56px', background: 'rgb(26, 86, 219)' });
      expect(first.styleNonces).toEqual([NONCE]);

      // The panel's sheets are appended when the panel first renders; it must be laid out as a panel, not unstyled.
      await openPanel(page);
      const panel = await page.locator('anon-chat .panel').evaluate((el) => {
        const style = getComputedStyle(el);
        return { position: style.position, width: style.width, display: style.display, background: style.backgroundColor };
      });
      expect(panel).toEqual({ position: 'fixed', width: '370px', display: 'flex', background: 'rgb(255, 255, 255)' });
      await sendFromComposer(page, 'styled without adoptedStyleSheets');
      await page.locator('anon-chat .msg--own.msg--sent').waitFor();
      expect(await renderedMessages(page)).toEqual([{ text: 'styled without adoptedStyleSheets', own: true, status: 'sent', seq: '1' }]);
      // The bubble styles (widget/ui, a panel sheet) apply too.
      const own = await page.locator('anon-chat .msg--own .msg__bubble').evaluate((el) => getComputedStyle(el).backgroundColor);
      expect(own).toBe('rgb(26, 86, 219)');

      // Launcher sheet + panel sheets (bubbles, panel) + the attachment module's (it loads after the panel), each
      // once, all carrying the nonce; nothing was blocked.
      await expect.poll(async () => (await inspect(page)).styleElements).toBe(4);
      const after = await inspect(page);
      expect(after.distinctStyles).toBe(4);
      expect(after.styleNonces).toEqual([NONCE]);
      expect(after.violations).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    });
  }

  it('is blocked without the nonce attribute (the check above can fail): violations reported, launcher unstyled', async () => {
    const url = site.url({ server: bridge.url, site: newSite(), strictCsp: true, styleNonce: NONCE, noConstructableStylesheets: true });
    const { context, page } = await openWidget(browser, url);
    await expect.poll(async () => (await inspect(page)).violations.length).toBeGreaterThan(0);
    const state = await inspect(page);
    expect(state.constructable).toBe(false);
    expect(state.violations.every((v) => v.startsWith('style-src'))).toBe(true);
    expect(state.launcher.position).not.toBe('fixed');
    await context.close();
  });
});
