/**
 * Erasure in real Chromium against a real bridge: the visitor deletes their conversation from the widget (only
 * with `allow-erase`, only after confirming), the agent console drops it from the inbox live and closes its
 * thread, no file under DATA_DIR keeps the text, and the widget carries on as a new visitor; an agent's erasure
 * (REST) makes an open widget start fresh too.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { inboxItem, signInToConsole } from './helpers/console-page.ts';
import { conversationOf, openPanel, openWidget, pageEvents, renderedMessages, sendFromComposer, useWidgetRig } from './widget-harness.ts';
import { filesHolding } from '../bridge/testing/store-files.ts';

const rig = useWidgetRig();

/** The bridge has the message (an agent console may already have marked it delivered or read). */
function stored(status: string): boolean {
  return ['sent', 'delivered', 'read'].includes(status);
}

function unique(label: string): string {
  return `${label}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** The widget's stored visitor token (to prove it changed). */
function storedToken(page: Page): Promise<string | undefined> {
  return page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('anon-chat:') && k.endsWith(':token'));
    return key ? (JSON.parse(localStorage.getItem(key) ?? 'null') as string) : undefined;
  });
}

describe('erasing a conversation (Chromium, real bridge)', () => {
  it('the visitor deletes it from the widget after confirming; the console drops it live; nothing stays on disk', async () => {
    const siteKey = unique('erase-site');
    const secret = unique('visitor secret');
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: siteKey, attributes: 'allow-erase' }));
    await openPanel(page);
    await sendFromComposer(page, secret);
    await expect.poll(async () => (await renderedMessages(page)).map((m) => stored(m.status)), { timeout: 15_000 }).toEqual([true]);
    const conversation = await conversationOf(rig.agent, siteKey);
    const tokenBefore = await storedToken(page);

    const consolePage = await (await rig.browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signInToConsole(consolePage, rig.bridge.url, rig.bridge.agent.name, rig.bridge.agent.password);
    await inboxItem(consolePage, conversation.id).click();
    await consolePage.locator('console-thread .messages .msg__text', { hasText: secret }).waitFor();

    // First ask, then keep: nothing is erased.
    await page.getByRole('button', { name: 'Delete conversation' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain('Delete this conversation and everything you wrote?');
    // Focus starts on the safe choice.
    expect(await page.locator('anon-chat .erase-no').evaluate((el) => (el.getRootNode() as ShadowRoot).activeElement === el)).toBe(true);
    await page.getByRole('button', { name: 'Keep' }).click();
    await confirm.waitFor({ state: 'detached' });
    expect(await rig.bridge.store.getConversation(conversation.id)).toBeDefined();

    await page.getByRole('button', { name: 'Delete conversation' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => pageEvents(page, 'anon-chat-erased'), { timeout: 20_000 }).toHaveLength(1);
    expect(await renderedMessages(page)).toEqual([]);
    expect(await rig.bridge.store.getConversation(conversation.id)).toBeUndefined();
    expect(await filesHolding(rig.bridge.dataDir, secret)).toEqual([]);

    // The console: gone from the inbox and the thread closed, without a reload.
    await inboxItem(consolePage, conversation.id).waitFor({ state: 'detached', timeout: 15_000 });
    await consolePage.locator('console-thread .messages .msg__text', { hasText: secret }).waitFor({ state: 'detached' });

    // The widget is a new visitor now: a new token, and its next message opens a new conversation.
    await expect.poll(() => storedToken(page), { timeout: 15_000 }).not.toBe(tokenBefore);
    await sendFromComposer(page, 'a fresh start');
    await expect.poll(async () => (await renderedMessages(page)).map((m) => [m.text, stored(m.status)]), { timeout: 15_000 }).toEqual([
      ['a fresh start', true],
    ]);
    const fresh = await conversationOf(rig.agent, siteKey);
    expect(fresh.id).not.toBe(conversation.id);
    await consolePage.context().close();
    await page.context().close();
  });

  it('offers no delete button without allow-erase', async () => {
    const siteKey = unique('no-erase-site');
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: siteKey }));
    await openPanel(page);
    await page.locator('anon-chat [part="close-button"]').waitFor();
    expect(await page.locator('anon-chat [part="erase-button"]').count()).toBe(0);
    await page.context().close();
  });

  it('an open widget starts fresh when an agent erases its conversation', async () => {
    const siteKey = unique('agent-erase-site');
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: siteKey }));
    await openPanel(page);
    await sendFromComposer(page, 'please delete my data');
    await expect.poll(async () => (await renderedMessages(page)).map((m) => stored(m.status)), { timeout: 15_000 }).toEqual([true]);
    const conversation = await conversationOf(rig.agent, siteKey);

    const res = await fetch(`${rig.bridge.url}/api/conversations/${conversation.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${rig.bridge.agent.token}` },
    });
    expect(res.status).toBe(204);
    await expect.poll(() => pageEvents(page, 'anon-chat-erased'), { timeout: 15_000 }).toHaveLength(1);
    await expect.poll(() => renderedMessages(page)).toEqual([]);
    await sendFromComposer(page, 'hello again');
    await expect.poll(async () => (await renderedMessages(page)).map((m) => [m.text, stored(m.status)]), { timeout: 15_000 }).toEqual([
      ['hello again', true],
    ]);
    expect((await conversationOf(rig.agent, siteKey)).id).not.toBe(conversation.id);
    await page.context().close();
  });
});
