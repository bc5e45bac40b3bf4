/**
 * Web Push to agents (#13): a visitor's message notifies, in every browser where they turned notifications on, the
 * assignee of its conversation — or, for the first message of an unassigned conversation, every active agent — unless
 * one of that agent's console tabs is visible (the `VISIBLE_ROOM` sockets, on any node). The node that stored the
 * message queues one push per subscription under an id derived from the message and the subscription, so queueing
 * again (a retried call, another node) adds nothing; the durable queue then sends each, claimed by one worker, retried
 * with backoff. A push service answering 404 or 410 has dropped the subscription: it is forgotten.
 *
 * Requests are signed with VAPID (RFC 8292) and encrypted with `aes128gcm` (RFC 8291) by the `web-push` library; they
 * go out through the bridge's HTTP client with the same private-address guard as event webhooks, and only to https
 * endpoints unless `WEBHOOK_ALLOW_PRIVATE` allows loopback receivers (tests).
 *
 * The payload is encrypted for the browser alone (push services see ciphertext): it carries the conversation's name, a
 * preview of at most `PREVIEW_LENGTH` characters of the message, and the console link of the conversation.
 */
import webpush from 'web-push';
import type { AxiosInstance } from 'axios';
import type { PushSettings } from '../config.ts';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message } from '../../protocol/message.ts';
import type { QueueItem } from '../store/store.ts';
import type { FanoutSink } from '../fanout.ts';
import type { AgentNamespace } from '../realtime/namespaces.ts';
import { visibleAgentIds } from '../realtime/presence.ts';
import { newQueueWorker, parseRetryAfter, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from '../webhooks/queue-worker.ts';
import type { RetryPolicy } from '../webhooks/webhook-config.ts';
import { assertLiteralHostAllowed, ForbiddenAddressError, guardedLookup, systemResolver, type Resolver } from '../webhooks/ssrf-guard.ts';
import { listSubscriptions, subscriptionNamespaceOf, type StoredPushSubscription } from './push-subscriptions.ts';

/** Store queue of Web Push requests. */
export const PUSH_QUEUE = 'web-push';
/** Longest message preview in a notification (characters). */
export const PREVIEW_LENGTH = 100;
/** How long a push service keeps a push for a browser that is offline (seconds): a day-old chat notice is stale. */
export const PUSH_TTL_SECONDS = 86_400;
/** Retries: a push is worth little late, so they end within about an hour. */
export const PUSH_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 10_000, maxDelayMs: 900_000 };

/** What the console's service worker shows (the decrypted push payload). */
export interface PushNotification {
  title: string;
  body: string;
  /** The console with this conversation open. */
  url: string;
  /** One notification per conversation: a newer one replaces it. */
  tag: string;
  conversationId: string;
}

/** One queued push: the subscription is read when it is sent, so one removed meanwhile is not pushed to. */
export interface QueuedPush {
  agentId: string;
  subscriptionId: string;
  notification: PushNotification;
}

/** What every push id of a conversation starts with: erasing the conversation removes its queued previews by it. */
export function pushIdPrefixOf(conversationId: string): string {
  return `push:${conversationId}:`;
}

/** The queue id of the push about `messageId` to one subscription: the same on every node and after a restart. */
export function pushIdOf(conversationId: string, messageId: string, subscriptionId: string): string {
  return `${pushIdPrefixOf(conversationId)}${messageId}:${subscriptionId}`;
}

/** What Web Push needs. */
export interface WebPushDeps extends QueueWorkerDeps {
  agentNs: AgentNamespace;
  http: AxiosInstance;
  settings: PushSettings;
  /** The bridge's public URL (the console link), read when a push is made: known only once listening. */
  publicUrl: () => string;
  /** Loopback and private endpoints, and plain http, are allowed (WEBHOOK_ALLOW_PRIVATE; tests). */
  allowPrivate: boolean;
  retry?: RetryPolicy;
  resolver?: Resolver;
}

/** The Web Push sink (queues pushes for new visitor messages) and the worker that sends them. */
export class WebPush {
  readonly worker: QueueWorker<QueuedPush>;
  private readonly lookup;
  /** Queueing started by the sink and not finished yet: stop() waits for it. */
  private readonly queueing = new Set<Promise<unknown>>();

  constructor(private readonly deps: WebPushDeps) {
    this.lookup = guardedLookup(deps.resolver ?? systemResolver);
    this.worker = newQueueWorker<QueuedPush>(deps, {
      queue: PUSH_QUEUE,
      retry: deps.retry ?? PUSH_RETRY,
      deliver: (item, signal) => this.send(item, signal),
    });
  }

  /** The fan-out sink: queueing reads the store and the sockets, so it runs after the broadcast, not before it. */
  sink(): FanoutSink {
    return {
      name: 'web-push',
      messageCreated: (message, conversation) => {
        if (message.author.role !== 'visitor') return;
        const queueing = this.queue(message, conversation)
          .catch((error: unknown) => this.deps.logger.error({ err: error, messageId: message.id }, 'push: queueing failed'))
          .finally(() => this.queueing.delete(queueing));
        this.queueing.add(queueing);
      },
    };
  }

  start(): void {
    this.worker.start();
  }

  /** Resolves once the pushes being queued are queued and the worker's pass (if one runs) has ended. */
  async idle(): Promise<void> {
    while (this.queueing.size > 0) await Promise.all([...this.queueing]);
    await this.worker.idle();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.queueing]);
    await this.worker.stop();
  }

  /** Queues the pushes `message` calls for (see the file comment); resolves with how many subscriptions it reached. */
  async queue(message: Message, conversation: Conversation): Promise<number> {
    const { store, agentNs } = this.deps;
    const recipients = await this.recipients(message, conversation);
    if (recipients.length === 0) return 0;
    const subscriptions = (await Promise.all(recipients.map((agentId) => listSubscriptions(store, agentId)))).flat();
    if (subscriptions.length === 0) return 0;
    const visible = await visibleAgentIds(agentNs);
    const targets = subscriptions.filter((subscription) => !visible.has(subscription.agentId));
    if (targets.length === 0) return 0;
    const notification = this.notificationOf(message, conversation, message.seq === 1);
    for (const subscription of targets) {
      const payload: QueuedPush = { agentId: subscription.agentId, subscriptionId: subscription.id, notification };
      await store.enqueue(PUSH_QUEUE, payload, pushIdOf(conversation.id, message.id, subscription.id));
    }
    this.worker.kick();
    return targets.length;
  }

  /** The assignee (when active); for the first message of an unassigned conversation, every active agent. */
  private async recipients(message: Message, conversation: Conversation): Promise<string[]> {
    const { store } = this.deps;
    if (conversation.assigneeId !== undefined) {
      const assignee = await store.getAgent(conversation.assigneeId);
      return assignee?.active ? [assignee.id] : [];
    }
    if (message.seq !== 1) return [];
    return (await store.listAgents()).filter((agent) => agent.active).map((agent) => agent.id);
  }

  private notificationOf(message: Message, conversation: Conversation, isNew: boolean): PushNotification {
    const text = message.text.replace(/\s+/g, ' ').trim();
    const chars = [...text];
    const preview = chars.length > PREVIEW_LENGTH ? `${chars.slice(0, PREVIEW_LENGTH - 1).join('')}…` : text;
    return {
      title: isNew ? `New conversation: ${conversation.name}` : conversation.name,
      body: preview || (message.attachments?.length ? 'Sent an attachment' : 'New message'),
      url: `${this.deps.publicUrl()}/console/#${encodeURIComponent(conversation.id)}`,
      tag: `conversation:${conversation.id}`,
      conversationId: conversation.id,
    };
  }

  /** One attempt: encrypt for the subscription, sign, POST; 404/410 forgets the subscription. */
  private async send(item: QueueItem<QueuedPush>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { store, settings, http, allowPrivate, clock } = this.deps;
    const { agentId, subscriptionId, notification } = item.payload;
    const subscription = await store.getRecord<StoredPushSubscription>(subscriptionNamespaceOf(agentId), subscriptionId);
    if (!subscription) return { ok: false, permanent: true, error: 'subscription removed' };
    let target: URL;
    try {
      target = new URL(subscription.endpoint);
      if (target.protocol !== 'https:' && !(allowPrivate && target.protocol === 'http:')) {
        return { ok: false, permanent: true, error: 'push endpoint is not https' };
      }
      if (!allowPrivate) assertLiteralHostAllowed(target);
    } catch (error) {
      return { ok: false, permanent: true, error: error instanceof ForbiddenAddressError ? error.message : 'invalid push endpoint' };
    }
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(
        { endpoint: subscription.endpoint, keys: subscription.keys },
        JSON.stringify(notification),
        {
          vapidDetails: { subject: settings.subject, publicKey: settings.publicKey, privateKey: settings.privateKey },
          TTL: PUSH_TTL_SECONDS,
          urgency: 'high',
        },
      );
    } catch {
      return { ok: false, permanent: true, error: 'the subscription cannot be encrypted for' };
    }
    let response;
    try {
      response = await http.request({
        method: 'POST',
        url: target.toString(),
        headers: details.headers,
        data: details.body,
        maxRedirects: 0,
        responseType: 'stream',
        validateStatus: () => true,
        proxy: false,
        signal,
        ...(allowPrivate ? {} : { lookup: this.lookup }),
      });
    } catch (error) {
      if (isForbidden(error)) return { ok: false, permanent: true, error: 'push endpoint resolves to a private address' };
      const code = (error as { code?: unknown }).code;
      return { ok: false, permanent: false, error: `network error${typeof code === 'string' ? ` (${code})` : ''}` };
    }
    // Only the status matters; a push service's body is never read.
    (response.data as { destroy?: () => void } | undefined)?.destroy?.();
    const { status } = response;
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status === 404 || status === 410) {
      await store.deleteRecord(subscriptionNamespaceOf(agentId), subscriptionId);
      this.deps.logger.info({ agentId, subscriptionId, status }, 'push: subscription gone, forgotten');
      return { ok: false, permanent: true, status, error: `HTTP ${status} (subscription gone; forgotten)` };
    }
    if (status === 429 || status >= 500) {
      return { ok: false, permanent: false, status, error: `HTTP ${status}`, retryAfterMs: parseRetryAfter(response.headers['retry-after'], clock()) };
    }
    // 400, 401/403 (a VAPID key the subscription was not made with), 413: the same request cannot succeed later.
    return { ok: false, permanent: true, status, error: `HTTP ${status}` };
  }
}

function isForbidden(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof ForbiddenAddressError || (current as { code?: unknown }).code === 'EFORBIDDENADDRESS') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
