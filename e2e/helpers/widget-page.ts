/** Drives an `<anon-chat>` widget on a host page: open it, send as the visitor, read its messages and ticks. */
import type { Locator, Page } from 'playwright-core';

/** The widget element on the page. */
export function widget(page: Page): Locator {
  return page.locator('anon-chat').first();
}

/** Opens the widget's panel through its launcher (as a visitor would) unless it is open. */
export async function openWidget(page: Page): Promise<void> {
  const panel = page.locator('anon-chat .panel');
  if (await panel.isVisible()) return;
  await page.locator('anon-chat .launcher').click();
  await panel.waitFor({ state: 'visible' });
}

/** Types `text` into the widget's composer and presses Enter. */
export async function sendFromWidget(page: Page, text: string): Promise<void> {
  const input = page.locator('anon-chat .composer .input');
  await input.fill(text);
  await input.press('Enter');
}

/** A message in the widget by its text. */
export function widgetMessage(page: Page, text: string): Locator {
  return page.locator('anon-chat .list .msg').filter({ has: page.locator('.msg__text', { hasText: text }) });
}

/** Texts of every message the widget shows, in order. */
export function widgetTexts(page: Page): Promise<string[]> {
  return page.locator('anon-chat .list .msg__text').allTextContents();
}

