/**
 * The panel's dialog controller and the scroll anchor controller work in either construction order (issue #16): the
 * scroll controller anchors the list once the dialog controller reports the dialog shown, so opening a panel of 120
 * held messages scrolls to the newest, renders one window of 50 and asks for no older page — also when the scroll
 * controller's hostUpdated runs first, which once read an unfilled view and fetched a second page (fe509d9).
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.ts';

let browser: Browser;
let context: BrowserContext;
let bundle: string;

beforeAll(async () => {
  const built = await build({
    entryPoints: [join(import.meta.dirname, 'helpers', 'panel-scroll-host.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    logLevel: 'silent',
  });
  bundle = built.outputFiles[0]!.text;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
});

interface Opened {
  rows: number;
  loadOlderCalls: number;
  gapToBottom: number;
  dialogOpen: boolean;
}

describe('panel dialog and scroll anchor controllers', () => {
  for (const order of ['dialog-first', 'scroll-first'] as const) {
    it(`open at the newest message with one render window and no older page asked for (${order})`, async () => {
      const page = await context.newPage();
      await page.setContent(`<script>window.scrollFirst = ${order === 'scroll-first'}</script><panel-scroll-host></panel-scroll-host>`);
      await page.addScriptTag({ content: bundle, type: 'module' });
      await page.waitForFunction(() => customElements.get('panel-scroll-host') !== undefined);
      // A string body: tsx/esbuild name helpers would otherwise leak into the page and fail there.
      const opened = await page.evaluate<Opened>(`(async () => {
        const el = document.querySelector('panel-scroll-host');
        el.isOpen = true;
        // Until no update is pending (a window revealed or a page asked for would request another one), then a frame.
        while (!(await el.updateComplete)) {}
        await new Promise((resolve) => requestAnimationFrame(() => resolve()));
        const dialog = el.shadowRoot.querySelector('dialog');
        const list = dialog.querySelector('.list');
        return {
          rows: list.querySelectorAll('.row').length,
          loadOlderCalls: el.loadOlderCalls,
          gapToBottom: list.scrollHeight - list.scrollTop - list.clientHeight,
          dialogOpen: dialog.open,
        };
      })()`);
      expect(opened).toEqual({ rows: 50, loadOlderCalls: 0, gapToBottom: 0, dialogOpen: true });
      await page.close();
    });
  }
});
