/** Drives the agent console in a page: sign in, find conversations, open one, reply, read what it shows. */
import type { Locator, Page } from 'playwright-core';
import { WAIT_DEADLINE_MS } from '../../bridge/testing/wait-until.ts';

/**
 * Opens `/console/` on `baseUrl` (at `/console/#<conversationId>`, the link notification mails carry, when given) and
 * signs in; resolves once the inbox is connected.
 */
export async function signInToConsole(page: Page, baseUrl: string, name: string, password: string, conversationId?: string): Promise<void> {
  await page.goto(`${baseUrl}/console/${conversationId ? `#${encodeURIComponent(conversationId)}` : ''}`);
  await page.getByLabel('Agent name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitConsoleConnected(page);
}

/** Resolves once the console shows "Connected". */
export async function waitConsoleConnected(page: Page, timeout = WAIT_DEADLINE_MS): Promise<void> {
  await page.locator('anon-console .conn[data-state="online"]').waitFor({ timeout });
}

/** The inbox entry of a conversation. */
export function inboxItem(page: Page, conversationId: string): Locator {
  return page.locator(`console-inbox .item[data-conversation-id="${conversationId}"]`);
}

/** Every inbox entry, in the order shown. */
export function inboxItems(page: Page): Locator {
  return page.locator('console-inbox .item');
}

/** The message bubbles of the open conversation. */
export function threadMessages(page: Page): Locator {
  return page.locator('console-thread .messages .msg');
}

/** A message in the open conversation by its text. */
export function threadMessage(page: Page, text: string): Locator {
  return page.locator('console-thread .messages .msg').filter({ has: page.locator('.msg__text', { hasText: text }) });
}

/** Types a reply into the composer and presses Enter. */
export async function reply(page: Page, text: string): Promise<void> {
  const box = page.locator('console-composer textarea');
  await box.fill(text);
  await box.press('Enter');
}

/** Texts of the open conversation's messages in display order. */
export function threadTexts(page: Page): Promise<string[]> {
  return page.locator('console-thread .messages .msg__text').allTextContents();
}
