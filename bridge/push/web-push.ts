/**
 * Web Push to agents (#13): a visitor's message notifies, in every browser where they turned notifications on, the
 * assignee of its conversation — or, for the first message of an unassigned conversation, every active agent — unless
 * one of that agent's console tabs is visible (the `VISIBLE_ROOM` sockets, on any node).
 *
 * Two durable steps, so no crash loses a push: the store queues one `PUSH_EVENT_QUEUE` item per message that may
 * notify (`push:<conversationId>:<messageId>`, derived by `outbound()` inside the atomic step that stores the message,
 * like event webhooks and WhatsApp sends); a worker on any node then works out who is pushed and queues one push per
 * subscription under an id derived from the message and the subscription (`…:<messageId>:<subscriptionId>`), so
 * working an event out again (a retry, another node, a restart) adds nothing. Who is pushed is decided then, at work
 * time, not when the message is stored: console visibility is live state (the agents:visible room), the subscriptions
 * are those existing then, and the store step must not wait on sockets of other nodes. The durable queue sends each
 * push, claimed by one worker, retried with backoff. A push service answering 404 or 410 has dropped the
 * subscription: it is forgotten.
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
import type { OutboundItem, OutboundWork, QueueItem } from '../store/store.ts';
import type { FanoutSink } from '../fanout.ts';
import type { AgentNamespace } from '../realtime/namespaces.ts';
import { visibleAgentIds } from '../realtime/presence.ts';
import { newQueueWorker, parseRetryAfter, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from '../webhooks/queue-worker.ts';
import type { RetryPolicy } from '../webhooks/webhook-config.ts';
import { assertLiteralHostAllowed, ForbiddenAddressError, guardedLookup, systemResolver, type Resolver } from '../webhooks/ssrf-guard.ts';
import { listSubscriptions, subscriptionNamespaceOf, type StoredPushSubscription } from './push-subscriptions.ts';

/** Store queue of Web Push requests. */
export const PUSH_QUEUE = 'web-push';
/** Store queue of messages whose pushes are still to be worked out (queued with the message itself). */
export const PUSH_EVENT_QUEUE = 'web-push-event';
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

/** A stored visitor message that may notify: what working out its pushes needs, taken when it was stored. */
export interface PushEvent {
  conversationId: string;
  conversationName: string;
  /** The assignee when the message was stored (recipients follow the conversation as the message left it). */
  assigneeId?: string;
  messageId: string;
  seq: number;
  /** The notification body (at most PREVIEW_LENGTH characters). */
  preview: string;
}

/** What every push id of a conversation starts with: erasing the conversation removes its queued previews by it. */
export function pushIdPrefixOf(conversationId: string): string {
  return `push:${conversationId}:`;
}

/** The queue id of the event of `messageId`, whose pushes are worked out from it: one per message on every node. */
export function pushEventIdOf(conversationId: string, messageId: string): string {
  return `${pushIdPrefixOf(conversationId)}${messageId}`;
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

/** Web Push: the outbound work that queues each message's event, the worker that works out its pushes, the sender. */
export class WebPush {
  readonly worker: QueueWorker<QueuedPush>;
  /** Works out the pushes of each queued event (PUSH_EVENT_QUEUE). */
  readonly events: QueueWorker<PushEvent>;
  private readonly lookup;

  constructor(private readonly deps: WebPushDeps) {
    this.lookup = guardedLookup(deps.resolver ?? systemResolver);
    this.worker = newQueueWorker<QueuedPush>(deps, {
      queue: PUSH_QUEUE,
      retry: deps.retry ?? PUSH_RETRY,
      deliver: (item, signal) => this.send(item, signal),
    });
    this.events = newQueueWorker<PushEvent>(deps, {
      queue: PUSH_EVENT_QUEUE,
      retry: deps.retry ?? PUSH_RETRY,
      deliver: async (item) => {
        await this.queueEvent(item.payload);
        return { ok: true };
      },
    });
  }

  /** Derives a message's push event inside the store step that stores it (see the file comment). */
  outbound(): OutboundWork {
    return {
      messageCreated: (message, conversation): OutboundItem[] => {
        if (message.author.role !== 'visitor') return [];
        // Nobody is pushed for a later message of an unassigned conversation: nothing to queue.
        if (conversation.assigneeId === undefined && message.seq !== 1) return [];
        return [{ queue: PUSH_EVENT_QUEUE, id: pushEventIdOf(conversation.id, message.id), payload: eventOf(message, conversation) }];
      },
    };
  }

  /** The fan-out sink: the node that stored a message wakes its event worker at once (others find it by polling). */
  sink(): FanoutSink {
    return {
      name: 'web-push',
      messageCreated: (message) => {
        if (message.author.role === 'visitor') this.events.kick();
      },
    };
  }

  start(): void {
    this.events.start();
    this.worker.start();
  }

  /** Resolves once the events being worked out are, and the sending worker's pass (if one runs) has ended. */
  async idle(): Promise<void> {
    await this.events.idle();
    await this.worker.idle();
  }

  async stop(): Promise<void> {
    await this.events.stop();
    await this.worker.stop();
  }

  /** Queues the pushes `message` calls for (see the file comment); resolves with how many subscriptions it reached. */
  queue(message: Message, conversation: Conversation): Promise<number> {
    return this.queueEvent(eventOf(message, conversation));
  }

  private async queueEvent(event: PushEvent): Promise<number> {
    const { store, agentNs } = this.deps;
    const recipients = await this.recipients(event);
    if (recipients.length === 0) return 0;
    const subscriptions = (await Promise.all(recipients.map((agentId) => listSubscriptions(store, agentId)))).flat();
    if (subscriptions.length === 0) return 0;
    const visible = await visibleAgentIds(agentNs);
    const targets = subscriptions.filter((subscription) => !visible.has(subscription.agentId));
    if (targets.length === 0) return 0;
    const notification = this.notificationOf(event);
    for (const subscription of targets) {
      const payload: QueuedPush = { agentId: subscription.agentId, subscriptionId: subscription.id, notification };
      await store.enqueue(PUSH_QUEUE, payload, pushIdOf(event.conversationId, event.messageId, subscription.id));
    }
    this.worker.kick();
    return targets.length;
  }

  /** The assignee (when active); for the first message of an unassigned conversation, every active agent. */
  private async recipients(event: PushEvent): Promise<string[]> {
    const { store } = this.deps;
    if (event.assigneeId !== undefined) {
      const assignee = await store.getAgent(event.assigneeId);
      return assignee?.active ? [assignee.id] : [];
    }
    if (event.seq !== 1) return [];
    return (await store.listAgents()).filter((agent) => agent.active).map((agent) => agent.id);
  }

  private notificationOf(event: PushEvent): PushNotification {
    return {
      title: event.seq === 1 ? `New conversation: ${event.conversationName}` : event.conversationName,
      body: event.preview,
      url: `${this.deps.publicUrl()}/console/#${encodeURIComponent(event.conversationId)}`,
      tag: `conversation:${event.conversationId}`,
      conversationId: event.conversationId,
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

/** The push event of a stored message: its preview cut here, so the queued item holds no more of the text. */
function eventOf(message: Message, conversation: Conversation): PushEvent {
  const text = message.text.replace(/\s+/g, ' ').trim();
  const chars = [...text];
  const preview = chars.length > PREVIEW_LENGTH ? `${chars.slice(0, PREVIEW_LENGTH - 1).join('')}…` : text;
  return {
    conversationId: conversation.id,
    conversationName: conversation.name,
    ...(conversation.assigneeId !== undefined ? { assigneeId: conversation.assigneeId } : {}),
    messageId: message.id,
    seq: message.seq,
    preview: preview || (message.attachments?.length ? 'Sent an attachment' : 'New message'),
  };
}
