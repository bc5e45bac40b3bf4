/**
 * Web Push in the console, in real Chromium against a real bridge: My account offers the opt-in (PushManager
 * exists), the console reports its tab's visibility over its socket, and the console's service worker
 * (`/console/push-sw.js`, registered under the page's CSP) shows the notification for a push — the exact payload the
 * bridge encrypted for a subscription, as the loopback push service decrypted it — and the click's message opens the
 * conversation. Headless Chromium has no push service to subscribe with and cannot click a notification: the push is
 * delivered to the worker over CDP (`ServiceWorker.deliverPushMessage`) and the click's message is posted from the
 * worker. Chromium refuses `pushManager.subscribe` in its incognito-like test contexts ("does not support the Push API in
 * incognito mode"), so the opt-in click is checked to register the worker and end in the console's readable message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestBridge, type TestBridge } from '../bridge/testing/index.ts';
import { loadConfig } from '../bridge/config.ts';
import { generateVapidKeys } from '../bridge/auth/vapid-keys.ts';
import { visibleAgentIds } from '../bridge/realtime/presence.ts';
import { startTestPushService, type TestPushService } from '../bridge/testing/test-push-service.ts';
import { connectVisitor, emitWithAck, type ConnectedVisitor } from '../bridge/testing/clients.ts';
import { waitUntil } from '../bridge/testing/wait-until.ts';
import { subscriptionNamespaceOf } from '../bridge/push/push-subscriptions.ts';
import { ensureBuilt, launchDesktopChromium, openPage, type PageProblems } from './helpers/browser.ts';
import { signInToConsole } from './helpers/console-page.ts';

describe('console Web Push (Chromium, real bridge)', () => {
  const vapid = generateVapidKeys();
  let bridge: TestBridge;
  let service: TestPushService;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: PageProblems;
  let visitor: ConnectedVisitor | undefined;

  beforeAll(async () => {
    ensureBuilt();
    service = await startTestPushService(vapid.publicKey);
    const env = { WEBHOOK_ALLOW_PRIVATE: 'true', VISITOR_TOKEN_SECRET: 'v'.repeat(32), AGENT_TOKEN_SECRET: 'a'.repeat(32), SITE_SECRET: 's'.repeat(32) };
    const { webhooks } = loadConfig(env, { persistSecrets: false });
    bridge = await startTestBridge({ config: { push: { ...vapid, subject: 'mailto:ops@example.com' }, webhooks } });
    browser = await launchDesktopChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['notifications'], { origin: bridge.url });
    // Chromium logs that its (incognito-like) test contexts have no Push API; the console shows its own message then.
    ({ page, problems } = await openPage(context, [/Push API in incognito mode/]));
    await signInToConsole(page, bridge.url, bridge.agent.name, bridge.agent.password);
  }, 120_000);

  afterAll(async () => {
    visitor?.close();
    await context?.close();
    await browser?.close();
    await bridge?.close();
    await service?.close();
  });

  it('reports the tab visible, then hidden, over the console socket', async () => {
    const agentNs = bridge.bridge.context.agentNs;
    await waitUntil('the console tab reported visible', async () => (await visibleAgentIds(agentNs)).has(bridge.agent.id));
    // Headless tabs are always visible: the page's visibilityState is overridden and its change event fired, as a
    // browser does when the tab goes to the background.
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await waitUntil('the console tab reported hidden', async () => !(await visibleAgentIds(agentNs)).has(bridge.agent.id));
  });

  it('offers the opt-in on My account and registers the service worker under the page CSP', async () => {
    await page.getByRole('button', { name: /My account/ }).click();
    const turnOn = page.getByRole('button', { name: 'Turn on notifications in this browser' });
    await turnOn.waitFor();
    await turnOn.click();
    // Chromium refuses to subscribe in this context (see above): the console says so and the bridge keeps nothing.
    await page.locator('console-push [role="alert"]', { hasText: 'This browser could not turn notifications on.' }).waitFor();
    expect(await bridge.store.listRecords(subscriptionNamespaceOf(bridge.agent.id), 10)).toEqual([]);
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    expect(scope).toBe(`${bridge.url}/console/`);
    expect(problems.errors).toEqual([]);
  });

  it('shows the notification of a real push payload and opens its conversation from the click message', async () => {
    // A subscription whose keys the loopback push service holds: the bridge encrypts for it, the service decrypts.
    const subscription = service.subscription('console');
    const saved = await fetch(`${bridge.url}/api/push/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bridge.agent.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(subscription),
    });
    expect(saved.status).toBe(201);
    visitor = await connectVisitor(bridge.url);
    expect(await emitWithAck(visitor, 'message:send', { clientId: 'p1', text: 'Can I pay by invoice?' })).toMatchObject({ ok: true });
    const [pushed] = await waitUntil('the push at the loopback service', () => service.received.length > 0 && service.received);
    const payload = pushed!.payload as { title: string; body: string; url: string; conversationId: string };
    expect(payload.url).toBe(`${bridge.url}/console/#${visitor.session.conversationId}`);

    const cdp = await context.newCDPSession(page);
    const registrationId = new Promise<string>((resolve) =>
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const found = registrations.find((registration) => registration.scopeURL === `${bridge.url}/console/` && !registration.isDeleted);
        if (found) resolve(found.registrationId);
      }),
    );
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: bridge.url, registrationId: await registrationId, data: JSON.stringify(payload) });
    const shown = await waitUntil('the notification shown by the service worker', async () => {
      const notifications = await page.evaluate(async () =>
        (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as unknown })),
      );
      return notifications.length > 0 && notifications;
    });
    expect(shown).toEqual([
      {
        title: payload.title,
        body: 'Can I pay by invoice?',
        tag: `conversation:${payload.conversationId}`,
        data: { url: payload.url, conversationId: payload.conversationId },
      },
    ]);

    // What the worker's notificationclick sends an open console tab (a real click needs a notification UI).
    const worker = context.serviceWorkers().find((candidate) => candidate.url().endsWith('/console/push-sw.js'));
    expect(worker).toBeDefined();
    await worker!.evaluate(async (conversationId) => {
      const sw = self as unknown as { clients: { matchAll(o: object): Promise<{ postMessage(m: unknown): void }[]> } };
      for (const client of await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
        client.postMessage({ type: 'anon-chat:open-conversation', conversationId });
      }
    }, payload.conversationId);
    await page.waitForURL(`${bridge.url}/console/#${payload.conversationId}`);
    await page.locator('console-thread').waitFor();
    expect(problems.errors).toEqual([]);
  });
});
