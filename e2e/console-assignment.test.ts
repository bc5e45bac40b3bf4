/**
 * Assignment and saved replies in real Chromium against a real bridge: an admin and an agent in two browsers; the
 * admin assigns a conversation to the agent (the agent sees it under Mine live), transfers it back, filters the inbox
 * Mine / Unassigned / Everyone, adds saved replies on the Team page (the agent's open console hears of them live), and
 * the agent inserts one with `/` in the composer, the list filtered as they type.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connectVisitor, emitWithAck, startTestBridge, type ConnectedVisitor, type TestBridge } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { inboxItem, inboxItems, signInToConsole, threadMessage } from './helpers/console-page.ts';

describe('console assignment and saved replies (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: PageProblems[] = [];
  const visitors: ConnectedVisitor[] = [];

  async function page(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const opened = await openPage(context);
    problems.push(opened.problems);
    return opened.page;
  }

  async function conversation(text: string): Promise<string> {
    const visitor = await connectVisitor(bridge.url);
    visitors.push(visitor);
    expect((await emitWithAck(visitor, 'message:send', { clientId: `c-${visitors.length}`, text })).ok).toBe(true);
    return visitor.session.conversationId;
  }

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const visitor of visitors) visitor.close();
    for (const context of contexts) await context.close();
    await browser?.close();
    await bridge?.close();
  });

  it('opens a mailed conversation link after sign-in; assigns, transfers, filters Mine / Unassigned / Everyone; saved replies arrive live and insert with /', async () => {
    const created = await fetch(`${bridge.url}/api/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bridge.agent.token}` },
      body: JSON.stringify({ name: 'cleo', displayName: 'Cleo Park', role: 'agent', password: 'cleo-password-1' }),
    });
    expect(created.status).toBe(201);
    const cleoId = ((await created.json()) as { agent: { id: string } }).agent.id;
    const first = await conversation('first question');
    const second = await conversation('second question');

    const admin = await page();
    await signInToConsole(admin, bridge.url, bridge.agent.name, bridge.agent.password);
    // Cleo follows the link of an unanswered-conversation mail while signed out: after sign-in it is open.
    const cleo = await page();
    await signInToConsole(cleo, bridge.url, 'cleo', 'cleo-password-1', first);
    await threadMessage(cleo, 'first question').waitFor();

    // Cleo looks at her own conversations: none yet.
    await cleo.getByRole('button', { name: 'Mine' }).click();
    await expect.poll(() => inboxItems(cleo).count()).toBe(0);

    // The admin assigns the first conversation to Cleo from its header; it appears under Cleo's Mine live.
    await inboxItem(admin, first).click();
    const picker = admin.getByRole('combobox', { name: 'Assignee' });
    await picker.selectOption({ label: 'Cleo Park' });
    await inboxItem(cleo, first).waitFor();
    await expect.poll(() => inboxItems(cleo).count()).toBe(1);
    await inboxItem(admin, first).locator('.item__assignee', { hasText: 'Cleo Park' }).waitFor();

    // Unassigned shows the second conversation only; Everyone shows both.
    await admin.getByRole('button', { name: 'Unassigned' }).click();
    await inboxItem(admin, second).waitFor();
    await expect.poll(() => inboxItems(admin).count()).toBe(1);
    await admin.getByRole('button', { name: 'Everyone' }).click();
    await inboxItem(admin, first).waitFor();
    await inboxItem(admin, second).waitFor();

    // Transfer back to the admin: it leaves Cleo's Mine live.
    await inboxItem(admin, first).click();
    await picker.selectOption({ label: bridge.agent.displayName });
    await expect.poll(() => inboxItems(cleo).count()).toBe(0);
    expect((await bridge.store.getConversation(first))!.assigneeId).toBe(bridge.agent.id);

    // A saved reply added on the Team page is inserted with /.
    await admin.getByRole('button', { name: 'Team', exact: true }).click();
    await admin.getByLabel('Shortcut').fill('thanks');
    await admin.getByLabel('Text', { exact: true }).fill('Thank you for waiting, we are on it!');
    await admin.getByRole('button', { name: 'Save reply' }).click();
    await admin.locator('console-saved-replies td', { hasText: '/thanks' }).waitFor();
    await admin.getByLabel('Shortcut').fill('hello');
    await admin.getByLabel('Text', { exact: true }).fill('Hello! How can I help?');
    await admin.getByRole('button', { name: 'Save reply' }).click();
    await admin.locator('console-saved-replies td', { hasText: '/hello' }).waitFor();
    await admin.getByRole('button', { name: 'Inbox' }).click();
    // Cleo's console, open all along, hears of both live (no reload); typing filters them.
    await cleo.getByRole('button', { name: 'Everyone' }).click();
    await inboxItem(cleo, second).click();
    const box = cleo.getByRole('textbox', { name: /Reply to/ });
    const list = cleo.getByRole('listbox', { name: 'Saved replies' });
    await box.fill('/');
    await expect.poll(() => list.getByRole('option').count(), { message: 'both saved replies offered live' }).toBe(2);
    await box.fill('/tha');
    await expect.poll(() => list.getByRole('option').allTextContents()).toEqual([expect.stringContaining('/thanks')]);
    await box.press('Escape');
    await expect.poll(() => list.count()).toBe(0);
    await box.fill('/th');
    await box.press('Tab');
    await expect.poll(() => box.inputValue()).toBe('Thank you for waiting, we are on it!');
    await box.press('Enter');
    await expect
      .poll(async () => (await bridge.store.getMessages(second, { limit: 10 })).map((m) => m.text))
      .toContain('Thank you for waiting, we are on it!');
    // The reply assigned the unassigned conversation to Cleo.
    expect((await bridge.store.getConversation(second))!.assigneeId).toBe(cleoId);

    for (const p of problems) expect(p.errors).toEqual([]);
  });
});
