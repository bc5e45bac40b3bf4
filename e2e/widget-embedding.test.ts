/**
 * Embedding `<anon-chat>` in hostile places, in real Chromium against a real bridge: markup in messages stays inert
 * text, a strict CSP page reports no violation (ES module and classic script), aggressive host CSS does not break
 * it, it is keyboard operable, its public events fire with the documented details, and it renders once.
 */
import { createHmac } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { emitWithAck } from '../bridge/testing/index.ts';
import {
  openPanel,
  openWidget,
  pageEvents,
  renderedMessages,
  sendFromComposer,
  useWidgetRig,
  conversationOf,
} from './widget-harness.ts';

const rig = useWidgetRig();

let shared: BrowserContext | undefined;
/** The file's one browser context for the single-device cases: each is a new visitor on a site key of its own, in a page it closes. */
async function sharedContext(): Promise<BrowserContext> {
  shared ??= await rig.browser.newContext();
  return shared;
}
let siteCounter = 0;

const newSite = (): string => `site-e${++siteCounter}-${Date.now()}`;

async function agentSays(conversationId: string, text: string): Promise<void> {
  const res = await emitWithAck(rig.agent, 'message:send', { conversationId, clientId: `a-${Math.random().toString(36).slice(2)}`, text });
  if (!res.ok) throw new Error(res.error.code);
}

/** Class name of the focused element inside the widget's shadow root ('' when focus is elsewhere). */
function focusedInWidget(page: Page): Promise<string> {
  return page.evaluate(() => {
    const host = document.querySelector('anon-chat');
    return document.activeElement === host ? (host?.shadowRoot?.activeElement?.className ?? '') : '';
  });
}

/** Sends one message, gets one agent reply, and returns once both are on screen. */
async function roundTrip(page: Page, key: string): Promise<void> {
  await openPanel(page);
  await sendFromComposer(page, 'ping from the visitor');
  await page.locator('anon-chat .msg--own.msg--sent').waitFor();
  await agentSays((await conversationOf(rig.agent, key)).id, 'pong from the agent');
  await page.locator('anon-chat .msg--other', { hasText: 'pong from the agent' }).waitFor();
}

describe('widget embedding', () => {
  it('renders <script>, <img onerror> and javascript: payloads as inert text, from either side', async () => {
    const key = newSite();
    const { page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    const payloads = [
      '<script>window.__xss = "script"</script>',
      '<img src=x onerror="window.__xss = \'img\'">',
      'javascript:window.__xss = "js"',
      '<a href="javascript:window.__xss=1">click</a><svg onload="window.__xss=2"></svg>',
    ];
    await openPanel(page);
    await sendFromComposer(page, payloads[0]!);
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const conversation = await conversationOf(rig.agent, key);
    for (const payload of payloads) await agentSays(conversation.id, payload);
    await sendFromComposer(page, payloads[1]!);
    await expect.poll(async () => (await renderedMessages(page)).filter((m) => m.seq !== null).length).toBe(6);
    const texts = (await renderedMessages(page)).map((m) => m.text);
    expect(texts).toEqual([payloads[0], ...payloads, payloads[1]]);
    const injected = await page.evaluate(() => {
      const root = document.querySelector('anon-chat')!.shadowRoot!;
      return {
        xss: (window as unknown as { __xss?: unknown }).__xss ?? null,
        elementsInTexts: [...root.querySelectorAll('.msg__text')].reduce((n, el) => n + el.children.length, 0),
        dangerous: root.querySelectorAll('.list script, .list img, .list a, .list iframe, .list [onerror], .list [onload]').length,
      };
    });
    expect(injected).toEqual({ xss: null, elementsInTexts: 0, dangerous: 0 });
    expect(errors).toEqual([]);
    await page.close();
  });

  for (const script of ['module', 'classic'] as const) {
    it(`works under a strict Content-Security-Policy with no violation (${script} script)`, async () => {
      const key = newSite();
      const { page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, script, strictCsp: true }), await sharedContext());
      await roundTrip(page, key);
      const violations = await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
      expect(violations).toEqual([]);
      expect(errors).toEqual([]);
      // Without a `server` attribute the bridge is the script's origin (here the host site, which served it).
      expect(await page.evaluate(() => document.createElement('anon-chat').serverUrl)).toBe(rig.site.origin);
      // The detector itself works: an inline <style> on this page is a violation it reports.
      await page.evaluate(() => document.head.append(Object.assign(document.createElement('style'), { textContent: 'p{}' })));
      await expect.poll(() => page.evaluate(() => (window as unknown as { __violations: string[] }).__violations.length)).toBe(1);
      await page.close();
    });
  }

  it('survives aggressive host CSS (div:empty{display:none}, *{all:unset}) and keeps its own look', async () => {
    const key = newSite();
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, hostileCss: true }), await sharedContext());
    const launcher = await page.locator('anon-chat .launcher').boundingBox();
    expect(launcher?.width).toBeGreaterThanOrEqual(48);
    expect(launcher?.height).toBeGreaterThanOrEqual(48);
    await roundTrip(page, key);
    const panel = await page.locator('anon-chat .panel').boundingBox();
    expect(panel?.width).toBeGreaterThan(250);
    expect(panel?.height).toBeGreaterThan(300);
    const look = await page.locator('anon-chat .msg--other .msg__text').evaluate((el) => {
      const style = getComputedStyle(el);
      return { color: style.color, fontSize: parseFloat(style.fontSize), visible: el.getClientRects().length > 0 };
    });
    expect(look.color).not.toBe('rgba(0, 0, 0, 0)');
    expect(look.fontSize).toBeGreaterThanOrEqual(12);
    expect(look.visible).toBe(true);
    await page.close();
  });

  it('is keyboard operable: open, type with Shift+Enter, send with Enter, close with Escape, focus returns', async () => {
    const key = newSite();
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await page.keyboard.press('Tab');
    expect(await focusedInWidget(page)).toBe('launcher');
    expect(await page.locator('anon-chat .launcher').getAttribute('aria-expanded')).toBe('false');
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedInWidget(page)).toBe('input');
    expect(await page.locator('anon-chat .launcher').getAttribute('aria-expanded')).toBe('true');
    await page.keyboard.type('first line');
    expect((await page.locator('anon-chat .counter').textContent())?.trim()).toBe('10/4000');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('second line');
    await page.keyboard.press('Enter');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    expect((await renderedMessages(page)).map((m) => m.text)).toEqual(['first line\nsecond line']);
    expect(await page.locator('anon-chat textarea').inputValue()).toBe('');
    await page.keyboard.press('Escape');
    await expect.poll(() => focusedInWidget(page)).toBe('launcher');
    expect(await page.locator('anon-chat .panel').isHidden()).toBe(true);
    await page.close();
  });

  it('fires the public events with the documented details', async () => {
    const key = newSite();
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await expect.poll(async () => (await pageEvents(page, 'anon-chat-connection')).map((e) => e.detail)).toContainEqual({ state: 'online', transport: 'realtime' });
    await openPanel(page);
    expect(await pageEvents(page, 'anon-chat-open')).toEqual([{ type: 'anon-chat-open', detail: {} }]);
    const sent = await page.evaluate(() => document.querySelector('anon-chat')!.send('via the API').then((m) => ({ text: m.text, seq: m.seq })));
    expect(sent).toEqual({ text: 'via the API', seq: 1 });
    const conversation = await conversationOf(rig.agent, key);
    await emitWithAck(rig.agent, 'receipt', { conversationId: conversation.id, upToSeq: 1, status: 'delivered' });
    await emitWithAck(rig.agent, 'receipt', { conversationId: conversation.id, upToSeq: 1, status: 'read' });
    await expect.poll(async () => (await pageEvents(page, 'anon-chat-status')).map((e) => e.detail.status)).toEqual(['sending', 'sent', 'delivered', 'read']);
    const statuses = await pageEvents(page, 'anon-chat-status');
    expect(statuses[0]!.detail).toMatchObject({ status: 'sending', text: 'via the API' });
    expect(statuses[0]!.detail.clientId).toBe(statuses[3]!.detail.clientId);
    expect(statuses[3]!.detail.messageId).toEqual(expect.any(String));
    await page.keyboard.press('Escape');
    expect((await pageEvents(page, 'anon-chat-close')).length).toBe(1);
    await agentSays(conversation.id, 'a reply while closed');
    await expect.poll(async () => (await pageEvents(page, 'anon-chat-message')).map((e) => (e.detail.message as { text: string }).text)).toEqual(['a reply while closed']);
    await expect.poll(async () => (await pageEvents(page, 'anon-chat-unread')).map((e) => e.detail.unread)).toEqual([1]);
    expect(await page.evaluate(() => document.querySelector('anon-chat')!.unread)).toBe(1);
    expect(await page.locator('anon-chat .badge').textContent()).toBe('1');
    expect(await page.locator('anon-chat .launcher').getAttribute('aria-label')).toBe('Open chat (1 unread)');
    await page.evaluate(() => document.querySelector('anon-chat')!.open());
    await expect.poll(async () => (await pageEvents(page, 'anon-chat-unread')).map((e) => e.detail.unread)).toEqual([1, 0]);
    expect(await page.evaluate(() => document.querySelector('anon-chat')!.connection)).toBe('online');
    // The `open` attribute is the same state: changing it from the page fires the same events.
    await page.evaluate(() => document.querySelector('anon-chat')!.removeAttribute('open'));
    await expect.poll(async () => (await pageEvents(page)).filter((e) => e.type === 'anon-chat-open' || e.type === 'anon-chat-close').map((e) => e.type)).toEqual([
      'anon-chat-open',
      'anon-chat-close',
      'anon-chat-open',
      'anon-chat-close',
    ]);
    expect(await page.locator('anon-chat .panel').isHidden()).toBe(true);
    await page.close();
  });

  it('renders once when an SPA mounts it twice or the page loads both script forms', async () => {
    const key = newSite();
    const { page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, twice: true, bothScripts: true }), await sharedContext());
    await page.locator('anon-chat .launcher').first().waitFor();
    await roundTrip(page, key);
    // Both mounts and both script forms have run by the time a message went both ways.
    expect(await page.locator('anon-chat .launcher').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('identify() links the conversation to a verified user, which another device then continues', async () => {
    const key = newSite();
    const userId = `user-${Date.now()}`;
    const userHash = createHmac('sha256', rig.bridge.config.secrets.site).update(userId).digest('hex');
    const one = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }));
    await openPanel(one.page);
    await sendFromComposer(one.page, 'from device one');
    await one.page.locator('anon-chat .msg--own.msg--sent').waitFor();
    await one.page.evaluate(([id, hash]) => document.querySelector('anon-chat')!.identify({ userId: id!, userHash: hash!, name: 'Ada' }), [userId, userHash]);
    await expect.poll(async () => (await conversationOf(rig.agent, key)).externalUserId).toBe(userId);
    const two = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key, attributes: `user-id="${userId}" user-hash="${userHash}"` }));
    await openPanel(two.page);
    await two.page.locator('anon-chat .msg', { hasText: 'from device one' }).waitFor();
    await one.context.close();
    await two.context.close();
  });
});
