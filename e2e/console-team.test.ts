/**
 * The Team page in real Chromium against a real bridge: an admin adds an agent without a password, the invite link
 * opens the password page in another browser, the new agent lands signed in, signs out — and that token is refused
 * at once by REST. The Team page screenshot is saved (docs/screenshots/ with UPDATE_SCREENSHOTS=1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, type TestBridge } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { signInToConsole, waitConsoleConnected } from './helpers/console-page.ts';
import { waitUntil, WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import type { BusinessHours } from '../protocol/business-hours.ts';

describe('console Team page (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: PageProblems[] = [];
  /** The signed-in admin's page, kept across cases. */
  let admin: Page;

  async function page(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const opened = await openPage(context);
    problems.push(opened.problems);
    return opened.page;
  }

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge();
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await bridge?.close();
  });

  it('adds an agent, whose invite link sets a password and signs them in; their sign-out revokes the token', async () => {
    admin = await page();
    await signInToConsole(admin, bridge.url, bridge.agent.name, bridge.agent.password);
    await admin.getByRole('button', { name: 'Team', exact: true }).click();
    await admin.locator(`console-team tr[data-agent="${bridge.agent.name}"]`).waitFor();

    await admin.getByLabel('Login name').fill('bea.m');
    await admin.getByLabel('Display name').fill('Bea Martin');
    await admin.getByLabel('Role', { exact: true }).selectOption('agent');
    await admin.getByLabel('E-mail (optional)').fill('bea@example.com');
    await admin.getByRole('button', { name: 'Add agent' }).click();
    const link = admin.locator('console-team .invite-url');
    await link.waitFor();
    const inviteUrl = (await link.textContent())!.trim();
    expect(inviteUrl).toMatch(new RegExp(`^${bridge.url}/console/#invite=`));
    await admin.locator('console-team tr[data-agent="bea.m"] .badge', { hasText: 'Invited' }).waitFor();
    // The address is shown and edited in the row; the bridge keeps the change.
    const email = admin.getByLabel('E-mail of Bea Martin');
    expect(await email.inputValue()).toBe('bea@example.com');
    await email.fill('bea.m@example.com');
    await email.press('Tab');
    await waitUntil('the changed address stored', async () => (await bridge.store.getAgentByName('bea.m'))?.email === 'bea.m@example.com');
    await saveScreenshot(admin, 'console-team');

    // The new agent, in another browser: the link opens the password page; setting it signs them in.
    const bea = await page();
    await bea.goto(inviteUrl);
    await bea.getByLabel('New password').fill('bea-password-123');
    await bea.getByLabel('Repeat the password').fill('bea-password-123');
    await bea.getByRole('button', { name: 'Set password and sign in' }).click();
    await waitConsoleConnected(bea);
    expect(await bea.locator('anon-console .me__name').textContent()).toBe('Bea Martin');
    expect(new URL(bea.url()).hash).toBe('');
    // Agents have no Team page.
    expect(await bea.getByRole('button', { name: 'Team', exact: true }).count()).toBe(0);
    const token = await bea.evaluate(() => JSON.parse(localStorage.getItem('anon-chat-console:session')!).token as string);
    const me = (t: string) => fetch(`${bridge.url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status);
    expect(await me(token)).toBe(200);

    // The admin sees them active now.
    await admin.getByRole('button', { name: 'Inbox' }).click();
    await admin.getByRole('button', { name: 'Team', exact: true }).click();
    await admin.locator('console-team tr[data-agent="bea.m"] .badge', { hasText: 'Active' }).waitFor();

    // Signing out ends the session on the bridge: the token is refused at once.
    await bea.getByRole('button', { name: 'Sign out' }).click();
    await bea.getByLabel('Agent name').waitFor();
    await expect.poll(() => me(token)).toBe(401);

    // Signing in with the password set through the invite works; deactivating cuts the console off.
    await signInToConsole(bea, bridge.url, 'bea.m', 'bea-password-123');
    await admin.getByRole('button', { name: 'Deactivate Bea Martin' }).click();
    await admin.locator('console-team tr[data-agent="bea.m"] .badge', { hasText: 'Deactivated' }).waitFor();
    await bea.getByLabel('Agent name').waitFor();

    for (const p of problems) expect(p.errors).toEqual([]);
  });

  it('My account: the admin renames themselves and changes their password (a wrong current one is refused)', async () => {
    await admin.getByRole('button', { name: /^My account/ }).click();
    await admin.getByLabel('Your display name').fill('Ada Admin');
    // A rename drops the agent's sockets so they reconnect carrying the new name; the console reconnects a second
    // later and lists its account, team and saved replies again. Those requests must be answered before the password
    // change below revokes this token, or they would straddle it and be refused (401) by design.
    const reloaded = Promise.all(
      ['/api/auth/me', '/api/team', '/api/saved-replies'].map((path) =>
        admin.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === path, { timeout: WAIT_DEADLINE_MS }),
      ),
    );
    await admin.getByRole('button', { name: 'Save name' }).click();
    await admin.locator('console-account [role="status"]').waitFor();
    expect((await reloaded).map((r) => r.status())).toEqual([200, 200, 200]);
    await waitConsoleConnected(admin);
    expect(await admin.locator('anon-console .me__name').textContent()).toBe('Ada Admin');
    expect((await bridge.store.getAgentByName(bridge.agent.name))?.displayName).toBe('Ada Admin');

    const tokenOf = () => admin.evaluate(() => JSON.parse(localStorage.getItem('anon-chat-console:session')!).token as string);
    const me = (t: string) => fetch(`${bridge.url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status);
    const changePassword = async (current: string) => {
      await admin.getByLabel('Current password').fill(current);
      await admin.getByLabel('New password', { exact: true }).fill('admin-password-2');
      await admin.getByLabel('Repeat the new password').fill('admin-password-2');
      await admin.getByRole('button', { name: 'Change password' }).click();
    };
    await changePassword('not-the-password');
    await admin.locator('console-account [role="alert"]', { hasText: 'The current password is wrong.' }).waitFor();
    const before = await tokenOf();
    await changePassword(bridge.agent.password);
    await admin.locator('console-account [role="status"]', { hasText: 'Password changed' }).waitFor();
    // The old token is revoked; this console carries on with the new one.
    expect(await me(before)).toBe(401);
    expect(await me(await tokenOf())).toBe(200);
    await waitConsoleConnected(admin);
  });

  it('Team page: a new invite link for an invited agent, business hours and round-robin saved; on a phone Online/Away is 44 × 44 px and My account fits with 44 px targets', async () => {
    await admin.getByRole('button', { name: 'Team', exact: true }).click();
    await admin.getByLabel('Login name').fill('cy');
    await admin.getByLabel('Display name').fill('Cy Invited');
    await admin.getByRole('button', { name: 'Add agent' }).click();
    const link = admin.locator('console-team .invite-url');
    const first = (await link.textContent())!.trim();
    await admin.getByRole('button', { name: 'New invite link for Cy Invited' }).click();
    await expect.poll(async () => (await link.textContent())?.trim(), { message: 'a new invite link shown' }).not.toBe(first);

    await admin.getByLabel('Use business hours').check();
    await admin.getByLabel('Time zone').fill('Europe/Berlin');
    await admin.getByLabel('Saturday', { exact: true }).check();
    await admin.getByLabel('Saturday opens').fill('10:00');
    await admin.getByLabel('Saturday closes').fill('00:00');
    await admin.getByLabel('Monday', { exact: true }).uncheck();
    await admin.getByRole('button', { name: 'Save business hours' }).click();
    await admin.locator('console-business-hours [role="status"]').waitFor();
    const stored = await fetch(`${bridge.url}/api/settings/business-hours`, {
      headers: { authorization: `Bearer ${await admin.evaluate(() => JSON.parse(localStorage.getItem('anon-chat-console:session')!).token as string)}` },
    }).then((r) => r.json() as Promise<BusinessHours>);
    expect(stored).toMatchObject({ enabled: true, timeZone: 'Europe/Berlin', weekly: { mon: [], sat: [{ from: '10:00', to: '24:00' }], tue: [{ from: '09:00', to: '17:00' }] } });

    // Round-robin is a box on the Team page, stored at once.
    const roundRobin = admin.getByLabel('Assign new conversations in turn (round-robin)');
    expect(await roundRobin.isChecked()).toBe(false);
    await roundRobin.check();
    await admin.locator('console-assignment-settings [role="status"]', { hasText: 'Round-robin on.' }).waitFor();
    expect((await bridge.bridge.context.availability.assignmentSettings()).roundRobin).toBe(true);
    // The page's cards scroll together: none is squashed into a little scroll area of its own under the top bar.
    const clipped = await admin.evaluate(() =>
      ['console-team', 'console-saved-replies', 'console-business-hours', 'console-assignment-settings']
        .map((name) => document.querySelector('anon-console')!.shadowRoot!.querySelector(name)!)
        .filter((card) => card.scrollHeight > card.clientHeight + 1)
        .map((card) => card.localName),
    );
    expect(clipped).toEqual([]);

    await admin.setViewportSize({ width: 375, height: 700 });
    const box = await admin.locator('anon-console .availability').boundingBox();
    expect(box!.width).toBeGreaterThanOrEqual(44);
    expect(box!.height).toBeGreaterThanOrEqual(44);

    // My account on the phone: reached from the top bar's avatar; no sideways scrolling, every field and button a
    // 44 px tall target, Sign out there (the top bar has no room for it).
    const me = admin.getByRole('button', { name: /^My account/ });
    const meBox = await me.boundingBox();
    expect([meBox!.width, meBox!.height].every((side) => side >= 44)).toBe(true);
    await me.click();
    await admin.getByLabel('Your display name').waitFor();
    const phone = await admin.evaluate(() => {
      const account = document.querySelector('anon-console')!.shadowRoot!.querySelector('console-account')!.shadowRoot!;
      const measure = (root: ShadowRoot | null | undefined) =>
        [...(root?.querySelectorAll('input, button') ?? [])].map((el) => {
          const { width, height, right } = el.getBoundingClientRect();
          return { target: el.id || el.textContent.trim(), width, height, right };
        });
      // The Notifications section (Web Push) is its own element, shown where the browser has PushManager.
      const push = measure(account.querySelector('console-push')?.shadowRoot);
      return { width: innerWidth, scrollWidth: document.scrollingElement!.scrollWidth, targets: measure(account), push };
    });
    expect(phone.scrollWidth).toBeLessThanOrEqual(phone.width);
    expect(phone.targets.map((t) => t.target)).toEqual(['own-display', 'Save name', 'current-password', 'next-password', 'repeat-password', 'Change password', 'Sign out']);
    for (const t of [...phone.targets, ...phone.push]) {
      expect(t.height, `${t.target} height`).toBeGreaterThanOrEqual(44);
      expect(t.width, `${t.target} width`).toBeGreaterThanOrEqual(44);
      expect(t.right, `${t.target} inside the screen`).toBeLessThanOrEqual(phone.width);
    }
    await admin.getByRole('button', { name: 'Sign out' }).click();
    await admin.getByLabel('Agent name').waitFor();
    // The wrong current password refused above is the one failed request expected.
    const refused = /status of 403 .*\/api\/auth\/password\)$/;
    for (const p of problems) expect(p.errors.filter((e) => !refused.test(e))).toEqual([]);
  });
});
