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
import { inboxItem, signInToConsole, threadMessage } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage } from './helpers/widget-page.ts';

describe('axe-core, WCAG 2.1 A + AA (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let agent: AgentClient;
  const contexts: BrowserContext[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    return (await openPage(context)).page;
  }

  /** The visitor writes, the agent answers: own and agent bubbles, ticks and times on screen. */
  async function converse(page: Page, question: string, answer: string): Promise<string> {
    const received = nextEvent(agent, 'message:new', 10_000);
    await sendFromWidget(page, question);
    const { conversationId } = await received;
    const ack = await emitWithAck(agent, 'message:send', { conversationId, clientId: `axe-${conversationId}`, text: answer });
    expect(ack.ok).toBe(true);
    await widgetMessage(page, answer).waitFor({ timeout: 10_000 });
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
    const page = await newPage();
    await page.goto(`${bridge.url}/demo/`);
    await page.locator('anon-chat .launcher').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await openWidget(page);
    await converse(page, 'Hi! Do you ship to Canada?', 'Yes, free over $40.');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('theming demo, dark and light, open with a conversation', async () => {
    const page = await newPage();
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
    const visitor = await newPage();
    await visitor.goto(`${bridge.url}/demo/`);
    await openWidget(visitor);
    const conversationId = await converse(visitor, 'My order #1042 has not arrived', 'Checking it now.');

    const page = await newPage();
    await page.goto(`${bridge.url}/console/`);
    await page.getByLabel('Agent name').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await signInToConsole(page, bridge.url, bridge.agent.name, bridge.agent.password);
    await inboxItem(page, conversationId).click();
    await threadMessage(page, 'Checking it now.').waitFor({ timeout: 10_000 });
    expect(await axeViolations(page)).toEqual([]);
  });

  it('console: the Team page with an invite link, and the page the invite opens', async () => {
    const page = await newPage();
    await signInToConsole(page, bridge.url, bridge.agent.name, bridge.agent.password);
    await page.getByRole('button', { name: 'Team', exact: true }).click();
    await page.getByLabel('Login name').fill('axe.agent');
    await page.getByLabel('Display name').fill('Axe Agent');
    await page.getByRole('button', { name: 'Add agent' }).click();
    const inviteUrl = (await page.locator('console-team .invite-url').textContent())!.trim();
    expect(await axeViolations(page)).toEqual([]);
    const invited = await newPage();
    await invited.goto(inviteUrl);
    await invited.getByLabel('New password').waitFor();
    expect(await axeViolations(invited)).toEqual([]);
  });
});
