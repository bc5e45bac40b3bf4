/**
 * The launcher paints before anything else starts (issue 7, scenario 8), in real Chromium against a real bridge: no
 * localStorage read, no WebSocket and no panel until the frame that shows the launcher; then the widget connects,
 * renders the panel, and a returning visitor's unread badge comes back from the cached history.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { emitWithAck } from '../bridge/testing/index.ts';
import { openPanel, openWidget, sendFromComposer, useWidgetRig, conversationOf } from './widget-harness.ts';

const rig = useWidgetRig();

interface Timeline {
  launcherAt?: number;
  panelAtLauncher?: boolean;
  firstStorageAt?: number;
  firstSocketAt?: number;
}

/** Records, from before any page script runs, when storage and WebSockets are first used and the launcher first paints. */
async function watch(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const t: Timeline = {};
    (window as unknown as { __timeline: Timeline }).__timeline = t;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called back below with the instance as `this`.
    const getItem = Storage.prototype.getItem;
    Storage.prototype.getItem = function (this: Storage, key: string) {
      if (key.startsWith('anon-chat:')) t.firstStorageAt ??= performance.now();
      return getItem.call(this, key);
    };
    const Native = WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        t.firstSocketAt ??= performance.now();
        super(url, protocols);
      }
    };
    const check = (): void => {
      const root = document.querySelector('anon-chat')?.shadowRoot;
      const launcher = root?.querySelector('.launcher');
      if (launcher && launcher.getBoundingClientRect().width > 0) {
        t.launcherAt = performance.now();
        t.panelAtLauncher = root!.querySelector('.panel') !== null;
        return;
      }
      requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
}

const timeline = (page: Page): Promise<Timeline> => page.evaluate(() => (window as unknown as { __timeline: Timeline }).__timeline);

describe('first paint of the launcher', () => {
  for (const script of ['module', 'classic'] as const) {
    it(`paints the launcher before reading storage, connecting or rendering the panel, then starts them (${script} script)`, async () => {
      const context = await rig.browser.newContext();
      await watch(context);
      const { page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: `site-p-${script}-${Date.now()}`, script }), context);
      await expect.poll(async () => (await timeline(page)).firstSocketAt).toBeTypeOf('number');
      const t = await timeline(page);
      expect(t.launcherAt).toBeTypeOf('number');
      expect(t.panelAtLauncher).toBe(false);
      expect(t.firstStorageAt).toBeGreaterThan(t.launcherAt!);
      expect(t.firstSocketAt).toBeGreaterThan(t.launcherAt!);
      // Then everything else follows without the visitor doing anything: connected, and the panel is there.
      await expect.poll(() => page.evaluate(() => document.querySelector('anon-chat')!.connection)).toBe('online');
      expect(await page.locator('anon-chat .panel').count()).toBe(1);
      expect(errors).toEqual([]);
      await context.close();
    });
  }

  it('still brings a returning visitor\'s unread badge back after a reload, with storage read after first paint', async () => {
    const key = `site-p-unread-${Date.now()}`;
    const url = rig.site.url({ server: rig.bridge.url, site: key });
    const { context, page } = await openWidget(rig.browser, url);
    await openPanel(page);
    await sendFromComposer(page, 'hello');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    await page.locator('anon-chat .launcher').click();
    const conversation = await conversationOf(rig.agent, key);
    const res = await emitWithAck(rig.agent, 'message:send', { conversationId: conversation.id, clientId: 'a-1', text: 'an answer' });
    expect(res.ok).toBe(true);
    await page.locator('anon-chat [part="badge"]').waitFor();
    // After a reload the badge comes back (from the cached history, then the catch-up) without opening the panel.
    await page.reload();
    await page.locator('anon-chat .launcher').waitFor();
    await expect.poll(() => page.locator('anon-chat [part="badge"]').textContent()).toBe('1');
    await context.close();
  });
});
