/**
 * axe-core with the WCAG 2.1 A and AA rules, in real Chromium against a real bridge, on every screen a visitor or an
 * agent meets: the shop demo with the widget closed and open on a conversation, the theming demo in its light and
 * dark theme, the console's sign-in and its inbox with a conversation open. Each must have no violation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connectAgent, emitWithAck, nextEvent, startTestBridge, type AgentClient, type TestBridge } from '../bridge/testing/index.ts';
import { axeViolations } from './helpers/axe.ts';
import { ensureBuilt, launchChromium, openPage } from './helpers/browser.ts';
import { inboxItem, signInToConsole, threadMessage, waitConsoleConnected } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage } from './helpers/widget-page.ts';

describe('axe-core, WCAG 2.1 A + AA (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let agent: AgentClient;
  /** Two browsers' worth of state for the file: the visitor's (demo pages, the invite link) and the signed-in agent's. */
  const contexts: Partial<Record<'visitor' | 'agent', BrowserContext>> = {};
  /** The conversation the shop demo case holds, which the console case opens. */
  let shopConversationId = '';

  async function newPage(side: 'visitor' | 'agent'): Promise<Page> {
    contexts[side] ??= await browser.newContext({ viewport: { width: 1280, height: 800 } });
    return (await openPage(contexts[side])).page;
  }

  /** The visitor writes, the agent answers: own and agent bubbles, ticks and times on screen. */
  async function converse(page: Page, question: string, answer: string): Promise<string> {
    const received = nextEvent(agent, 'message:new', 10_000);
    await sendFromWidget(page, question);
    const { conversationId } = await received;
    const ack = await emitWithAck(agent, 'message:send', { conversationId, clientId: `axe-${conversationId}`, text: answer });
    expect(ack.ok).toBe(true);
    await widgetMessage(page, answer).waitFor();
    return conversationId;
  }

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
    agent = await connectAgent(bridge.url, bridge.agent.token);
  }, 120_000);

  afterAll(async () => {
    agent?.close();
    await browser?.close();
    await bridge?.close();
  });

  it('shop demo: widget closed, then open with a conversation', async () => {
    const page = await newPage('visitor');
    await page.goto(`${bridge.url}/demo/`);
    await page.locator('anon-chat .launcher').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await openWidget(page);
    shopConversationId = await converse(page, 'Hi! Do you ship to Canada?', 'Yes, free over $40.');
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });

  it('theming demo, dark and light, open with a conversation', async () => {
    const page = await newPage('visitor');
    await page.goto(`${bridge.url}/demo/theming.html`);
    await page.locator('anon-chat .launcher').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await openWidget(page);
    await converse(page, 'Hallo! Gibt es Versand nach Kanada?', 'Ja, ab 40 € kostenlos.');
    expect(await axeViolations(page)).toEqual([]);
    await page.locator('#theme').selectOption('light');
    await expect.poll(() => page.locator('anon-chat').getAttribute('theme')).toBe('light');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('console: sign-in, then the inbox with a conversation open', async () => {
    // The shop demo case's conversation, own and agent messages in it.
    expect(shopConversationId).not.toBe('');
    const page = await newPage('agent');
    await page.goto(`${bridge.url}/console/`);
    await page.getByLabel('Agent name').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await signInToConsole(page, bridge.url, bridge.agent.name, bridge.agent.password);
    await inboxItem(page, shopConversationId).click();
    await threadMessage(page, 'Yes, free over $40.').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });

  it('console: the Team page with an invite link, and the page the invite opens', async () => {
    // A second tab of the signed-in agent: the stored session signs it in.
    const page = await newPage('agent');
    await page.goto(`${bridge.url}/console/`);
    await waitConsoleConnected(page);
    await page.getByRole('button', { name: 'Team', exact: true }).click();
    await page.getByLabel('Login name').fill('axe.agent');
    await page.getByLabel('Display name').fill('Axe Agent');
    await page.getByRole('button', { name: 'Add agent' }).click();
    const inviteUrl = (await page.locator('console-team .invite-url').textContent())!.trim();
    expect(await axeViolations(page)).toEqual([]);
    // The invited agent's browser has no console session (the visitor's browser here).
    const invited = await newPage('visitor');
    await invited.goto(inviteUrl);
    await invited.getByLabel('New password').waitFor();
    expect(await axeViolations(invited)).toEqual([]);
  });
});
