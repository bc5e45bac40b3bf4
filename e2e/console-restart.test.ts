/**
 * Kill -9 and restart of the bridge mid-conversation, with the demo widget and the console open in Chromium:
 * both sides reconnect by themselves, what each side sent while the bridge was down arrives once, and nothing
 * sent before is lost or duplicated — also after reloading both pages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startBridgeProcess, PROCESS_ADMIN, type BridgeProcess } from '../bridge/testing/index.ts';
import { NETWORK_ERRORS, ensureBuilt, launchChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { inboxItems, reply, signInToConsole, threadMessage, threadTexts, waitConsoleConnected } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage, widgetTexts } from './helpers/widget-page.ts';

/** A port that was free a moment ago, so the restarted bridge listens where the pages reconnect to. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe('bridge killed and restarted under an open console and widget', () => {
  let dataDir: string;
  let port: number;
  let bridge: BridgeProcess | undefined;
  let browser: Browser;
  let visitor: Page;
  let agent: Page;
  const problems: PageProblems[] = [];

  beforeAll(async () => {
    ensureBuilt();
    dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-e2e-restart-'));
    port = await freePort();
    bridge = await startBridgeProcess({ dataDir, port });
    browser = await launchChromium();
    const viewport = { width: 1280, height: 800 };
    const v = await openPage(await browser.newContext({ viewport }), NETWORK_ERRORS);
    const a = await openPage(await browser.newContext({ viewport }), NETWORK_ERRORS);
    visitor = v.page;
    agent = a.page;
    problems.push(v.problems, a.problems);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bridge?.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('reconnects both sides and shows every message exactly once', async () => {
    const url = `http://127.0.0.1:${port}`;
    await signInToConsole(agent, url, PROCESS_ADMIN.name, PROCESS_ADMIN.password);
    await visitor.goto(`${url}/demo/`);
    await openWidget(visitor);
    await sendFromWidget(visitor, 'Before the crash: hello');
    const item = inboxItems(agent).first();
    await item.waitFor();
    await item.click();
    await threadMessage(agent, 'Before the crash: hello').waitFor();
    await reply(agent, 'Before the crash: hi there');
    await widgetMessage(visitor, 'Before the crash: hi there').waitFor();
    await threadMessage(agent, 'Before the crash: hi there').locator('.ticks--read').waitFor();

    // kill -9: no goodbye to the sockets.
    await bridge?.kill('SIGKILL');
    bridge = undefined;
    await agent.locator('anon-console .conn[data-state="connecting"]').waitFor();

    // Both sides write while the bridge is down: the reply waits as `sending`, the visitor's in its outbox.
    await reply(agent, 'While down: reply from the console');
    await threadMessage(agent, 'While down: reply from the console').locator('.ticks--sending').waitFor();
    await sendFromWidget(visitor, 'While down: visitor message');
    await widgetMessage(visitor, 'While down: visitor message').waitFor();

    bridge = await startBridgeProcess({ dataDir, port });
    await waitConsoleConnected(agent, 30_000);

    await threadMessage(agent, 'While down: visitor message').waitFor({ timeout: 30_000 });
    await widgetMessage(visitor, 'While down: reply from the console').waitFor({ timeout: 30_000 });
    await threadMessage(agent, 'While down: reply from the console').locator('.ticks--read').waitFor();

    // A message right after the restart flows live in both directions.
    await sendFromWidget(visitor, 'After the restart: still here');
    await threadMessage(agent, 'After the restart: still here').waitFor();

    const visitorSide = ['Before the crash: hello', 'While down: visitor message', 'After the restart: still here'];
    const agentSide = ['Before the crash: hi there', 'While down: reply from the console'];
    const check = async (texts: string[]): Promise<void> => {
      for (const text of [...visitorSide, ...agentSide]) expect(texts.filter((t) => t === text)).toHaveLength(1);
      expect(texts).toHaveLength(visitorSide.length + agentSide.length);
      // Each side's own messages stay in the order they were written.
      expect(texts.filter((t) => visitorSide.includes(t))).toEqual(visitorSide);
      expect(texts.filter((t) => agentSide.includes(t))).toEqual(agentSide);
    };
    await expect.poll(async () => (await threadTexts(agent)).length).toBe(5);
    await check(await threadTexts(agent));
    await expect.poll(async () => (await widgetTexts(visitor)).length).toBe(5);
    await check(await widgetTexts(visitor));
    // Both pages show the same order (the bridge's seq).
    expect(await widgetTexts(visitor)).toEqual(await threadTexts(agent));

    // Reload both: the stored history is the same, once.
    const before = await threadTexts(agent);
    await agent.reload();
    await expect.poll(() => threadTexts(agent)).toEqual(before);
    await visitor.reload();
    await openWidget(visitor);
    await expect.poll(() => widgetTexts(visitor)).toEqual(before);

    for (const p of problems) expect(p.errors).toEqual([]);
  }, 180_000);
});
