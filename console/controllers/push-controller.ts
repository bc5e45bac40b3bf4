/**
 * Web Push opt-in of this browser: registers the console's service worker (`/console/push-sw.js`), subscribes with the
 * bridge's VAPID key and hands the subscription to the bridge (`POST /api/push/subscriptions`); turning it off ends the
 * subscription in the browser and on the bridge. Only where the browser has PushManager.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { agentRest, type AgentRestOptions } from '../agent-rest.ts';

/** Where the console's service worker lives; its scope is the console. */
export const PUSH_WORKER_URL = '/console/push-sw.js';
export const PUSH_SCOPE = '/console/';

/** Whether this browser gets notifications: it cannot, they are off or on, or the agent blocked them for the site. */
export type PushState = 'unsupported' | 'off' | 'on' | 'blocked';

/** This browser's push subscription, kept in step with the bridge. */
export class PushController implements ReactiveController {
  state: PushState = 'off';
  busy = false;
  /** The last failure, readable. */
  error = '';

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: AgentRestOptions,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    void this.refresh();
  }

  /** True where the browser can receive Web Push (secure context, service workers, PushManager, notifications). */
  static supported(): boolean {
    return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  /** Reads what the browser holds now. */
  async refresh(): Promise<void> {
    if (!PushController.supported()) return this.set('unsupported');
    if (Notification.permission === 'denied') return this.set('blocked');
    const registration = await navigator.serviceWorker.getRegistration(PUSH_SCOPE);
    const subscription = await registration?.pushManager.getSubscription();
    this.set(subscription ? 'on' : 'off');
  }

  /** Asks for permission, subscribes and tells the bridge. */
  async enable(): Promise<void> {
    await this.run(async () => {
      const config = await agentRest<{ publicKey: string }>(this.options, 'GET', '/api/push/config');
      if (!config.ok) return config.error;
      if ((await Notification.requestPermission()) !== 'granted') {
        this.state = 'blocked';
        return 'Notifications are blocked for this site in the browser settings.';
      }
      const registration = await navigator.serviceWorker.register(PUSH_WORKER_URL, { scope: PUSH_SCOPE });
      await navigator.serviceWorker.ready;
      // A subscription made with another key (the bridge's keys were replaced) cannot be reused.
      await (await registration.pushManager.getSubscription())?.unsubscribe();
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlBytes(config.body.publicKey),
      });
      const saved = await agentRest(this.options, 'POST', '/api/push/subscriptions', subscription.toJSON());
      if (!saved.ok) {
        await subscription.unsubscribe();
        return saved.error;
      }
      this.state = 'on';
      return '';
    });
  }

  /** Ends this browser's subscription, here and on the bridge. */
  async disable(): Promise<void> {
    await this.run(async () => {
      const registration = await navigator.serviceWorker.getRegistration(PUSH_SCOPE);
      const subscription = await registration?.pushManager.getSubscription();
      if (subscription) {
        const removed = await agentRest(this.options, 'DELETE', '/api/push/subscriptions', { endpoint: subscription.endpoint });
        if (!removed.ok) return removed.error;
        await subscription.unsubscribe();
      }
      this.state = 'off';
      return '';
    });
  }

  private async run(work: () => Promise<string>): Promise<void> {
    this.busy = true;
    this.error = '';
    this.host.requestUpdate();
    try {
      this.error = await work();
    } catch {
      // A push service the browser cannot reach (no network, or none configured, as in some headless browsers).
      this.error = 'This browser could not turn notifications on. Try again later.';
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  }

  private set(state: PushState): void {
    this.state = state;
    this.host.requestUpdate();
  }
}

/**
 * Ends this browser's push subscription at sign-out (the bridge forgets the ones made in that sign-in): the next
 * person signing in here starts with notifications off.
 */
export async function unsubscribeThisBrowser(): Promise<void> {
  if (!PushController.supported()) return;
  const registration = await navigator.serviceWorker.getRegistration(PUSH_SCOPE);
  await (await registration?.pushManager.getSubscription())?.unsubscribe();
}

function base64UrlBytes(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
