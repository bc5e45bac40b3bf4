/**
 * The agent console against a real bridge, with the demo page's widget as the visitor, in real Chromium:
 * visitor writes → console lists it live → agent replies → visitor sees it → read ticks both ways; a second agent
 * sees the reply live with the author's name; typing both ways; reload of both sides shows the full history once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, connectVisitor, emitWithAck, type ConnectedVisitor, type TestBridge } from '../bridge/testing/index.ts';
import { createAgentAccount } from '../bridge/auth/agent-accounts.ts';
import { ensureBuilt, launchChromium, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { inboxItem, inboxItems, reply, signInToConsole, threadMessage, threadTexts } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage, widgetTexts } from './helpers/widget-page.ts';

const SECOND_AGENT = { name: 'sam.k', displayName: 'Sam', password: 'second-agent-password' };

/** Emulates the tab going to the background (or coming back): what `document.visibilityState` reports. */
function setHidden(page: Page, hidden: boolean): Promise<void> {
  return page.evaluate((h) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}
const VIEWPORT = { width: 1280, height: 800 };

describe('agent console ⇄ demo widget (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let visitorContext: BrowserContext;
  let agentContext: BrowserContext;
  let secondContext: BrowserContext;
  let visitor: Page;
  let agent: Page;
  let second: Page;
  const problems: PageProblems[] = [];
  const seeded: ConnectedVisitor[] = [];

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    await createAgentAccount(bridge.store, { ...SECOND_AGENT, role: 'agent' }, new Date());
    browser = await launchChromium();
    visitorContext = await browser.newContext({ viewport: VIEWPORT });
    agentContext = await browser.newContext({ viewport: VIEWPORT });
    secondContext = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    for (const [context, assign] of [
      [visitorContext, (p: Page) => (visitor = p)],
      [agentContext, (p: Page) => (agent = p)],
      [secondContext, (p: Page) => (second = p)],
    ] as const) {
      const opened = await openPage(context);
      assign(opened.page);
      problems.push(opened.problems);
    }
  }, 120_000);

  afterAll(async () => {
    for (const socket of seeded) socket.close();
    await browser?.close();
    await bridge?.close();
  });

  it('lists a visitor message live, delivers the reply, and shows read ticks on both sides', async () => {
    await signInToConsole(agent, bridge.url, bridge.agent.name, bridge.agent.password);
    await expect.poll(() => agent.locator('console-inbox .state').textContent()).toContain('No conversations yet');

    await visitor.goto(`${bridge.url}/demo/`);
    await openWidget(visitor);
    await sendFromWidget(visitor, 'Hi! Do you ship to Canada?');

    // Live: the conversation appears in the already open inbox, with preview, unread count, channel and online dot.
    const item = inboxItems(agent).first();
    await expect.poll(() => item.locator('.item__preview').textContent()).toBe('Hi! Do you ship to Canada?');
    expect(await item.locator('.unread').textContent()).toBe('1');
    expect(await item.locator('.badge').textContent()).toBe('Web');
    expect(await item.locator('.avatar__dot').count()).toBe(1);
    await expect.poll(() => agent.title()).toMatch(/^\(1\) /);
    // The console got it: the visitor sees it delivered before any agent opened the conversation.
    await widgetMessage(visitor, 'Hi! Do you ship to Canada?').locator('.ticks--delivered').waitFor();
    const conversationId = (await item.getAttribute('data-conversation-id')) ?? '';
    expect(conversationId).not.toBe('');

    // The agent opens it: the visitor's message is read → the widget shows read ticks on it.
    await item.click();
    await threadMessage(agent, 'Hi! Do you ship to Canada?').waitFor();
    await widgetMessage(visitor, 'Hi! Do you ship to Canada?').locator('.ticks--read').waitFor();
    await expect.poll(() => agent.title()).not.toMatch(/^\(/);
    expect(await inboxItem(agent, conversationId).locator('.unread').count()).toBe(0);

    // A second agent has the same conversation open.
    await signInToConsole(second, bridge.url, SECOND_AGENT.name, SECOND_AGENT.password);
    await inboxItem(second, conversationId).click();
    await threadMessage(second, 'Hi! Do you ship to Canada?').waitFor();

    // Typing, visitor → console.
    await visitor.locator('anon-chat .composer .input').pressSequentially('Also', { delay: 30 });
    await expect.poll(() => agent.locator('console-thread .typing').textContent()).toContain('is typing');
    await visitor.locator('anon-chat .composer .input').fill('');

    // Typing, console → widget.
    await agent.locator('console-composer textarea').pressSequentially('Ye', { delay: 30 });
    await visitor.locator('anon-chat .typing').waitFor();

    // Reply: optimistic, then sent; the visitor's open panel reads it → read ticks in the console.
    await reply(agent, 'Yes — free shipping to Canada over $40.');
    const own = threadMessage(agent, 'Yes — free shipping to Canada over $40.');
    await own.waitFor();
    await widgetMessage(visitor, 'Yes — free shipping to Canada over $40.').waitFor();
    await own.locator('.ticks--read').waitFor();
    expect(await own.locator('.msg__author').textContent()).toBe(bridge.agent.displayName);

    // The second agent saw the reply live, with the replying agent's name, and its read state.
    const seen = threadMessage(second, 'Yes — free shipping to Canada over $40.');
    await seen.waitFor();
    expect(await seen.locator('.msg__author').textContent()).toBe(bridge.agent.displayName);
    await seen.locator('.ticks--read').waitFor();
    // A reply ends its author's typing indicator; the visitor's expires on its own (TYPING_TTL_MS) at the latest.
    await expect.poll(() => second.locator('console-thread .typing').textContent()).not.toContain('is typing');

    // The second agent's reply shows up for the first, named.
    await reply(second, 'I have added a discount code to your order notes.');
    const fromSam = threadMessage(agent, 'I have added a discount code to your order notes.');
    await fromSam.waitFor();
    expect(await fromSam.locator('.msg__author').textContent()).toBe(SECOND_AGENT.displayName);
    await widgetMessage(visitor, 'I have added a discount code to your order notes.').waitFor();

    // Other visitors, so the inbox in the screenshot looks like a working day.
    for (const text of ['Is the Yirgacheffe available as whole bean?', 'My order #1042 has not arrived yet']) {
      const other = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
      const ack = await emitWithAck(other, 'message:send', { clientId: `seed-${text.length}`, text });
      expect(ack.ok).toBe(true);
      seeded.push(other);
    }
    await expect.poll(() => inboxItems(agent).count()).toBe(3);

    // Read state across agents, and reading only while the tab is visible: the first agent's tab goes to the
    // background, the second agent looks at another conversation.
    await inboxItems(second).filter({ hasText: 'whole bean' }).click();
    await setHidden(agent, true);
    await sendFromWidget(visitor, 'Perfect, thank you!');
    await threadMessage(agent, 'Perfect, thank you!').waitFor();
    // Screen readers hear the new message through the live region (the log itself stays quiet).
    expect(await agent.locator('console-thread [data-announcement]').textContent()).toContain('Perfect, thank you!');
    await expect.poll(() => inboxItem(second, conversationId).locator('.unread').textContent()).toBe('1');
    await widgetMessage(visitor, 'Perfect, thank you!').locator('.ticks--delivered').waitFor();
    await setHidden(agent, false);
    await inboxItem(second, conversationId).locator('.unread').waitFor({ state: 'detached' });
    await widgetMessage(visitor, 'Perfect, thank you!').locator('.ticks--read').waitFor();

    const expected = [
      'Hi! Do you ship to Canada?',
      'Yes — free shipping to Canada over $40.',
      'I have added a discount code to your order notes.',
      'Perfect, thank you!',
    ];
    await expect.poll(() => threadTexts(agent)).toEqual(expected);
    await expect.poll(() => widgetTexts(visitor)).toEqual(expected);

    // Newest activity first.
    expect(await inboxItems(agent).first().getAttribute('data-conversation-id')).toBe(conversationId);
    expect(await inboxItems(agent).nth(1).locator('.item__preview').textContent()).toBe('My order #1042 has not arrived yet');
    await saveScreenshot(agent, 'console');
    await saveScreenshot(visitor, 'demo-widget-open');

    // Reload both sides: the full history, once, in order.
    await visitor.reload();
    await openWidget(visitor);
    await expect.poll(() => widgetTexts(visitor)).toEqual(expected);
    await agent.reload();
    await expect.poll(() => threadTexts(agent)).toEqual(expected);
    await expect.poll(() => inboxItems(agent).count()).toBe(3);

    // Sign-out forgets the session; the reload after it shows the sign-in form.
    await agent.getByRole('button', { name: 'Sign out' }).click();
    await agent.reload();
    await agent.getByLabel('Agent name').waitFor();

    for (const p of problems) expect(p.errors).toEqual([]);
  }, 120_000);
});
