/**
 * Catch-up after a reconnect, deterministically: the console's socket is dropped by the bridge while the page is
 * offline, the visitor writes more than one sync page (MAX_PAGE_SIZE) of messages and reads the agent's reply;
 * back online, the console re-lists the inbox and syncs the open conversation by rev (looping while `hasMore`):
 * every message once, in order, and the reply's read tick.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { MAX_PAGE_SIZE } from '../protocol/limits.ts';
import { startTestBridge, connectVisitor, emitWithAck, type ConnectedVisitor, type TestBridge } from '../bridge/testing/index.ts';
import { NETWORK_ERRORS, ensureBuilt, launchChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { inboxItem, reply, signInToConsole, threadMessage, threadTexts, waitConsoleConnected } from './helpers/console-page.ts';

const MISSED = MAX_PAGE_SIZE + 20;

describe('console catch-up after a reconnect (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let context: BrowserContext;
  let agent: Page;
  let problems: PageProblems;
  let visitor: ConnectedVisitor;

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const opened = await openPage(context, [...NETWORK_ERRORS, /ERR_INTERNET_DISCONNECTED/]);
    agent = opened.page;
    problems = opened.problems;
    visitor = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
  }, 120_000);

  afterAll(async () => {
    visitor?.close();
    await browser?.close();
    await bridge?.close();
  });

  it('syncs every missed message and status by rev, in pages, without duplicates', async () => {
    const first = await emitWithAck(visitor, 'message:send', { clientId: 'v-0', text: 'visitor 0' });
    if (!first.ok) throw new Error(first.error.message);
    const conversationId = first.data.conversationId;
    await signInToConsole(agent, bridge.url, bridge.agent.name, bridge.agent.password);
    await inboxItem(agent, conversationId).click();
    await threadMessage(agent, 'visitor 0').waitFor();
    await reply(agent, 'agent reply');
    await threadMessage(agent, 'agent reply').locator('.ticks--sent').waitFor();

    // Offline, then dropped by the bridge: the console cannot come back until the test says so.
    await context.setOffline(true);
    bridge.bridge.io.of('/agent').disconnectSockets(true);
    await agent.locator('anon-console .conn[data-state="connecting"]').waitFor();

    let lastSeq = 0;
    for (let i = 1; i <= MISSED; i++) {
      const ack = await emitWithAck(visitor, 'message:send', { clientId: `v-${i}`, text: `visitor ${i}` });
      if (!ack.ok) throw new Error(ack.error.message);
      lastSeq = ack.data.seq;
    }
    // The visitor reads the agent's reply while the console is away: a status change only sync can bring.
    const read = await emitWithAck(visitor, 'receipt', { upToSeq: lastSeq, status: 'read' });
    expect(read.ok).toBe(true);
    expect(await threadMessage(agent, 'agent reply').locator('.ticks--read').count()).toBe(0);

    await context.setOffline(false);
    await waitConsoleConnected(agent, 30_000);
    await threadMessage(agent, 'agent reply').locator('.ticks--read').waitFor();
    const expected = ['visitor 0', 'agent reply', ...Array.from({ length: MISSED }, (_, i) => `visitor ${i + 1}`)];
    await expect.poll(() => threadTexts(agent)).toEqual(expected);
    // The re-listed inbox shows the newest message; the open, visible conversation is read again.
    await expect.poll(() => inboxItem(agent, conversationId).locator('.item__preview').textContent()).toBe(`visitor ${MISSED}`);
    await inboxItem(agent, conversationId).locator('.unread').waitFor({ state: 'detached' });
    expect(problems.errors).toEqual([]);
  }, 120_000);
});
