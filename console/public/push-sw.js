/**
 * The agent console's service worker (scope /console/): shows the Web Push notifications the bridge sends (a new
 * conversation, a message in one assigned to this agent) and, on a click, focuses a console tab on that conversation
 * or opens one. Plain script, no imports: it runs under the console's CSP (`script-src 'self'`).
 */
/// <reference lib="webworker" />

/** @param {unknown} value @returns {string} */
const text = (value) => (typeof value === 'string' ? value : '');

self.addEventListener('push', (/** @type {PushEvent} */ event) => {
  /** @type {Record<string, unknown>} */
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    // Not JSON: still tell the agent something arrived.
  }
  const scope = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self)).registration;
  event.waitUntil(
    scope.showNotification(text(data.title) || 'anon-chat', {
      body: text(data.body),
      tag: text(data.tag) || undefined,
      data: { url: text(data.url), conversationId: text(data.conversationId) },
    }),
  );
});

self.addEventListener('notificationclick', (/** @type {NotificationEvent} */ event) => {
  event.notification.close();
  const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
  const scope = sw.registration.scope;
  /** @type {{ url?: string; conversationId?: string }} */
  const data = event.notification.data ?? {};
  // Only a console page of this bridge is ever opened, whatever the payload says.
  const target = data.url && data.url.startsWith(scope) ? data.url : scope;
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((client) => client.url.startsWith(scope));
      if (open) {
        await open.focus();
        open.postMessage({ type: 'anon-chat:open-conversation', conversationId: data.conversationId ?? '' });
        return;
      }
      await sw.clients.openWindow(target);
    })(),
  );
});
