/**
 * The console's inbox and conversation view in Chromium against a real bridge: search by text, the open/all
 * filter, closing and reopening from the conversation header, older history on scroll without gaps or duplicates, keyboard-only operation, the tab title count with
 * the remembered sound toggle (WebAudio), and the single-pane layout on narrow screens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, connectVisitor, emitWithAck, type TestBridge, type ConnectedVisitor } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { inboxItem, inboxItems, signInToConsole, threadMessage, threadTexts, waitConsoleConnected } from './helpers/console-page.ts';

const HISTORY = 75;

describe('console inbox and conversation view (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: PageProblems[] = [];
  const visitors: ConnectedVisitor[] = [];
  const ids: Record<'long' | 'order' | 'beans', string> = { long: '', order: '', beans: '' };

  async function page(viewport = { width: 1280, height: 800 }, ignore: RegExp[] = []): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const opened = await openPage(context, ignore);
    problems.push(opened.problems);
    return opened.page;
  }

  let signedIn: BrowserContext | undefined;
  /**
   * A console tab of the file's one signed-in agent: the first signs in, later ones find the stored session (as a
   * new tab of the same browser does), so cases that only need a signed-in console share one context.
   */
  async function signedInTab(viewport?: { width: number; height: number }, beforeLoad?: (page: Page) => Promise<unknown>): Promise<Page> {
    const first = !signedIn;
    signedIn ??= await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const opened = await openPage(signedIn);
    problems.push(opened.problems);
    if (viewport) await opened.page.setViewportSize(viewport);
    await beforeLoad?.(opened.page);
    if (first) {
      await signInToConsole(opened.page, bridge.url, bridge.agent.name, bridge.agent.password);
    } else {
      await opened.page.goto(`${bridge.url}/console/`);
      await waitConsoleConnected(opened.page);
    }
    return opened.page;
  }

  async function visitorSays(text: string, visitor?: ConnectedVisitor): Promise<string> {
    const socket = visitor ?? (await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } }));
    if (!visitor) visitors.push(socket);
    const ack = await emitWithAck(socket, 'message:send', { clientId: `c-${Math.random().toString(36).slice(2)}`, text });
    if (!ack.ok) throw new Error(ack.error.message);
    return ack.data.conversationId;
  }

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
    const long = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
    visitors.push(long);
    for (let i = 1; i <= HISTORY; i++) ids.long = await visitorSays(`history message ${i}`, long);
    ids.beans = await visitorSays('Is the Yirgacheffe available as whole bean?');
    ids.order = await visitorSays('My order #1042 has not arrived yet');
  }, 120_000);

  afterAll(async () => {
    for (const v of visitors) v.close();
    await browser?.close();
    await bridge?.close();
  });

  it('searches by message text, filters open/all, and closes and reopens from the conversation header', async () => {
    const agent = await signedInTab();
    await expect.poll(() => inboxItems(agent).count()).toBe(3);

    await agent.getByRole('searchbox', { name: 'Search conversations' }).fill('whole bean');
    await expect.poll(() => inboxItems(agent).count()).toBe(1);
    expect(await inboxItems(agent).first().getAttribute('data-conversation-id')).toBe(ids.beans);
    await agent.getByRole('searchbox', { name: 'Search conversations' }).fill('no such words anywhere');
    await agent.locator('console-inbox .state', { hasText: 'No matches' }).waitFor();
    await agent.getByRole('searchbox', { name: 'Search conversations' }).fill('');
    await expect.poll(() => inboxItems(agent).count()).toBe(3);

    // Close from the header with the keyboard: the Open inbox drops it live and focus stays on the button.
    await inboxItem(agent, ids.order).click();
    const stateButton = agent.locator('console-thread .state-btn');
    expect(await stateButton.getAttribute('aria-label')).toBe('Close conversation');
    await stateButton.focus();
    await agent.keyboard.press('Enter');
    await expect.poll(() => inboxItems(agent).count()).toBe(2);
    expect(await inboxItem(agent, ids.order).count()).toBe(0);
    await expect.poll(async () => (await bridge.store.getConversation(ids.order))?.state).toBe('closed');
    await agent.getByRole('button', { name: 'Reopen conversation' }).waitFor();
    expect(await stateButton.textContent()).toMatch(/^\s*Reopen\s*$/);
    expect(await stateButton.evaluate((el) => (el.getRootNode() as ShadowRoot).activeElement === el)).toBe(true);
    await agent.locator('console-thread .head__presence', { hasText: 'Closed' }).waitFor();
    await agent.getByRole('button', { name: 'All' }).click();
    await expect.poll(() => inboxItems(agent).count()).toBe(3);
    await agent.getByRole('button', { name: 'Open', exact: true }).click();
    await expect.poll(() => inboxItems(agent).count()).toBe(2);

    // Reopen: it comes back into the Open inbox live.
    await agent.getByRole('button', { name: 'Reopen conversation' }).click();
    await expect.poll(() => inboxItem(agent, ids.order).count()).toBe(1);
    await agent.getByRole('button', { name: 'Close conversation' }).waitFor();
    expect((await bridge.store.getConversation(ids.order))?.state).toBe('open');

    // Presence is live: the visitor of the order conversation leaves.
    await agent.getByRole('button', { name: 'All' }).click();
    await expect.poll(() => inboxItem(agent, ids.order).locator('.avatar__dot').count()).toBe(1);
    visitors.find((v) => v.session.conversationId === ids.order)?.close();
    await expect.poll(() => inboxItem(agent, ids.order).locator('.avatar__dot').count()).toBe(0);

    // Each channel has its badge (an XMTP conversation, as the XMTP transport creates them).
    const xmtp = await bridge.store.createConversation({ channel: 'xmtp', name: '0x4f2a…c91e', externalUserId: 'inbox-4f2a' });
    await bridge.store.appendMessage({ conversationId: xmtp.id, clientId: 'x1', author: { role: 'visitor' }, text: 'gm! is this end-to-end encrypted?' });
    await agent.getByRole('button', { name: 'Open', exact: true }).click();
    await expect.poll(() => inboxItem(agent, xmtp.id).locator('.badge').textContent()).toBe('XMTP');
    await agent.close();
  });

  it('refuses a wrong password with a message and keeps the session across reloads once signed in', async () => {
    // The browser logs the refused login request itself.
    const agent = await page(undefined, [/status of 401/]);
    await agent.goto(`${bridge.url}/console/`);
    await agent.getByLabel('Agent name').fill(bridge.agent.name);
    await agent.getByLabel('Password').fill('not the password');
    await agent.getByRole('button', { name: 'Sign in' }).click();
    await agent.getByRole('alert').filter({ hasText: 'Wrong name or password.' }).waitFor();
    await agent.getByLabel('Password').fill(bridge.agent.password);
    await agent.getByRole('button', { name: 'Sign in' }).click();
    await agent.locator('anon-console .conn[data-state="online"]').waitFor();
    await agent.reload();
    await agent.locator('anon-console .conn[data-state="online"]').waitFor();
    expect(await agent.locator('anon-console .me__name').textContent()).toBe(bridge.agent.displayName);

    // Signing out in one tab signs out the other tabs of the same browser.
    const otherTab = await agent.context().newPage();
    await otherTab.goto(`${bridge.url}/console/`);
    await otherTab.locator('anon-console .conn[data-state="online"]').waitFor();
    await agent.getByRole('button', { name: 'Sign out' }).click();
    await otherTab.getByLabel('Agent name').waitFor();
  });

  it('signs out with a message when the bridge refuses the stored token', async () => {
    const agent = await page();
    // A stored session whose token the bridge never signed (another secret, a rotated one): the socket is refused.
    await agent.addInitScript(() => {
      const forged = ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'eyJzdWIiOiJ4IiwibmFtZSI6IngiLCJhdWQiOiJhbm9uLWNoYXQ6YWdlbnQiLCJleHAiOjQxMDI0NDQ4MDB9', 'c2lnbmF0dXJl'].join('.');
      if (!sessionStorage.getItem('seeded')) {
        sessionStorage.setItem('seeded', '1');
        localStorage.setItem(
          'anon-chat-console:session',
          JSON.stringify({
            token: forged,
            agent: { id: 'x', name: 'mallory', displayName: 'Mallory', role: 'admin', active: true, hasPassword: true, availability: 'online', createdAt: '2026-01-01T00:00:00.000Z' },
            expiresAt: '2099-12-31T00:00:00.000Z',
          }),
        );
      }
    });
    await agent.goto(`${bridge.url}/console/`);
    await agent.getByRole('alert').filter({ hasText: 'Your session ended. Sign in again.' }).waitFor();
    expect(await agent.evaluate(() => localStorage.getItem('anon-chat-console:session'))).toBeNull();

    // An expired stored session never reaches the socket: the sign-in form shows at once.
    await agent.evaluate(() =>
      localStorage.setItem(
        'anon-chat-console:session',
        JSON.stringify({ token: 'a.b.c', agent: { id: 'x', name: 'Old' }, expiresAt: '2001-01-01T00:00:00.000Z' }),
      ),
    );
    await agent.reload();
    await agent.getByLabel('Agent name').waitFor();
    expect(await agent.getByRole('alert').count()).toBe(0);
  });

  it('loads older history on scroll up, in order, without gaps or duplicates', async () => {
    const agent = await signedInTab();
    await inboxItem(agent, ids.long).click();
    await threadMessage(agent, `history message ${HISTORY}`).waitFor();
    const firstPage = await threadTexts(agent);
    expect(firstPage.length).toBeLessThan(HISTORY);
    expect(firstPage.at(-1)).toBe(`history message ${HISTORY}`);

    const expected = Array.from({ length: HISTORY }, (_, i) => `history message ${i + 1}`);
    await expect
      .poll(
        async () => {
          await agent.locator('console-thread .messages').evaluate((el) => (el.scrollTop = 0));
          return threadTexts(agent);
        },
        { timeout: 15_000 },
      )
      .toEqual(expected);
    await agent.locator('console-thread .edge', { hasText: 'Start of the conversation' }).waitFor();
    await agent.close();
  });

  it('works with the keyboard alone: sign in, move through the inbox, open, reply', async () => {
    const agent = await page();
    await agent.goto(`${bridge.url}/console/`);
    await agent.getByLabel('Agent name').focus();
    await agent.keyboard.type(bridge.agent.name);
    await agent.keyboard.press('Tab');
    await agent.keyboard.type(bridge.agent.password);
    await agent.keyboard.press('Enter');
    await agent.locator('anon-console .conn[data-state="online"]').waitFor();
    await expect.poll(() => inboxItems(agent).count()).toBe(4);

    await agent.getByRole('searchbox', { name: 'Search conversations' }).focus();
    await agent.keyboard.press('Tab');
    const focusedId = (): Promise<string | null> =>
      agent.evaluate(() => {
        let el: Element | null = document.activeElement;
        while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
        return el?.getAttribute('data-conversation-id') ?? el?.tagName.toLowerCase() ?? null;
      });
    const order = await Promise.all((await inboxItems(agent).all()).map((item) => item.getAttribute('data-conversation-id')));
    expect(await focusedId()).toBe(order[0]);
    await agent.keyboard.press('ArrowDown');
    expect(await focusedId()).toBe(order[1]);
    await agent.keyboard.press('End');
    expect(await focusedId()).toBe(order.at(-1));
    await agent.keyboard.press('Home');
    expect(await focusedId()).toBe(order[0]);
    await agent.keyboard.press('ArrowDown');
    await agent.keyboard.press('Enter');

    // Opening moves focus to the reply box; Enter sends.
    await expect.poll(focusedId).toBe('textarea');
    await agent.keyboard.type('Typed without a mouse');
    await agent.keyboard.press('Enter');
    await threadMessage(agent, 'Typed without a mouse').locator('.ticks--sent, .ticks--delivered, .ticks--read').waitFor();
    // Every control has an accessible name (an unnamed one shows in the ARIA snapshot as a bare role).
    const tree = await agent.locator('body').ariaSnapshot();
    expect(tree).toContain('region "Inbox"');
    expect(tree).toContain('region "Conversation"');
    expect(tree).toContain('searchbox "Search conversations"');
    expect(tree).toMatch(/textbox "Reply to [^"]+"/);
    expect(tree).not.toMatch(/- (button|textbox|searchbox|link|img)(\s*\[[^\]]*\])?:?\s*$/m);
    expect(await agent.locator('console-thread').evaluate((el) => el.shadowRoot?.querySelector('.head__name span')?.textContent)).toBe(
      await inboxItem(agent, order[1] ?? '').locator('.item__name').textContent(),
    );
  });

  it('counts unread visitor messages in the tab title and chimes when the remembered sound toggle is on', async () => {
    // Count the oscillators the console starts: the chime is synthesised with WebAudio.
    const agent = await signedInTab(undefined, (tab) => tab.addInitScript(() => {
      const w = window as unknown as { oscillators: number };
      w.oscillators = 0;
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called back below with the instance as `this`.
      const original = AudioContext.prototype.createOscillator;
      AudioContext.prototype.createOscillator = function (this: AudioContext) {
        w.oscillators++;
        return original.call(this);
      };
    }));
    const oscillators = (): Promise<number> => agent.evaluate(() => (window as unknown as { oscillators: number }).oscillators);
    // The known starting state: the bridge's unread total over the open conversations (the console's default list),
    // shown in the title once the inbox has loaded; the title read right after sign-in may not count them all yet.
    const total = (await bridge.store.listConversations({ filter: 'open' })).reduce((sum, c) => sum + c.unread, 0);
    const titleWith = (unread: number): string => (unread > 0 ? `(${unread}) anon-chat console` : 'anon-chat console');
    await expect.poll(() => agent.title()).toBe(titleWith(total));

    const sound = agent.getByRole('button', { name: 'Sound for new messages' });
    expect(await sound.getAttribute('aria-pressed')).toBe('false');
    await visitorSays('First ping, sound off');
    await expect.poll(() => agent.title()).toBe(titleWith(total + 1));
    expect(await oscillators()).toBe(0);

    await sound.click();
    expect(await sound.getAttribute('aria-pressed')).toBe('true');
    await agent.reload();
    await agent.locator('anon-console .conn[data-state="online"]').waitFor();
    expect(await agent.getByRole('button', { name: 'Sound for new messages' }).getAttribute('aria-pressed')).toBe('true');
    const before = await oscillators();
    await visitorSays('Second ping, sound on');
    await expect.poll(() => agent.title()).toBe(titleWith(total + 2));
    await expect.poll(oscillators).toBeGreaterThan(before);
    await agent.close();
  });

  it('shows one pane at a time on a narrow screen and both on a tablet', async () => {
    const tablet = await signedInTab({ width: 768, height: 1024 });
    await inboxItem(tablet, ids.beans).click();
    await threadMessage(tablet, 'Is the Yirgacheffe available as whole bean?').waitFor();
    expect(await tablet.locator('console-inbox').isVisible()).toBe(true);
    const box = await tablet.locator('console-thread').boundingBox();
    expect(box?.width).toBeGreaterThan(400);

    const phone = await signedInTab({ width: 600, height: 900 });
    await inboxItem(phone, ids.beans).click();
    await threadMessage(phone, 'Is the Yirgacheffe available as whole bean?').waitFor();
    expect(await phone.locator('console-inbox').count()).toBe(0);
    await phone.getByRole('button', { name: 'Back to inbox' }).click();
    await inboxItem(phone, ids.beans).waitFor();
    expect(await phone.locator('console-thread').count()).toBe(0);

    for (const p of problems) expect(p.errors).toEqual([]);
  });
});
