/**
 * Outbound event webhooks: every new message and status change is queued durably (one delivery per receiver
 * URL) and POSTed as signed JSON. A delivery keeps its id and body across retries; redirects are not followed;
 * responses are not read beyond their status; receivers on private addresses are refused unless allowed;
 * a receiver that keeps failing is marked, and its dead deliveries can be redelivered via REST. Event and delivery
 * ids are derived from the message and its status. The deliveries are derived by `outbound()`, which the store
 * asks inside the change's own atomic step: a stored change always has its deliveries queued.
 */
import { createHash } from 'node:crypto';
import type { AxiosInstance } from 'axios';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message, StatusChange } from '../../protocol/message.ts';
import type { OutboundItem, OutboundWork, QueueItem } from '../store/store.ts';
import { toStatusChange, type FanoutSink } from '../fanout.ts';
import type { WebhookConfig } from './webhook-config.ts';
import { newQueueWorker, parseRetryAfter, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from './queue-worker.ts';
import { timestampedSignature } from './signatures.ts';
import { assertLiteralHostAllowed, findForbidden, ForbiddenAddressError, guardedLookup, systemResolver, type Resolver } from './ssrf-guard.ts';

/** Store queue of outbound event webhook deliveries. */
export const EVENT_WEBHOOK_QUEUE = 'webhook';
/** Store namespace of per-receiver health. */
export const RECEIVER_NAMESPACE = 'webhook-receiver';
/** Consecutive failed attempts after which a receiver is reported as failing. */
export const RECEIVER_FAILING_AFTER = 5;

/** Event types sent to receivers. */
export type EventType = 'message.created' | 'message.status';

/** The conversation as receivers see it. */
export interface EventConversation {
  id: string;
  channel: Conversation['channel'];
  name: string;
  state: Conversation['state'];
  externalUserId?: string;
  site?: string;
}

/** The JSON body POSTed to receivers. */
export interface EventEnvelope {
  /** Event id: the same for every receiver of this event. */
  id: string;
  type: EventType;
  /** ISO time the bridge recorded the event. */
  createdAt: string;
  data: { conversation: EventConversation; message: Message; change?: StatusChange };
}

/** One queued delivery: the exact body bytes (as a string) are fixed at enqueue time, so retries resend them. */
export interface EventDelivery {
  url: string;
  type: EventType;
  eventId: string;
  body: string;
}

/** Health of one receiver URL. */
export interface ReceiverHealth {
  url: string;
  consecutiveFailures: number;
  failing: boolean;
  lastSuccessAt?: string;
  lastFailureAt?: string;
  lastError?: string;
}

/** Dependencies of event webhooks. */
export interface EventWebhooksDeps extends QueueWorkerDeps {
  http: AxiosInstance;
  config: WebhookConfig['events'];
  /** DNS for the private-address guard (defaults to the system resolver). */
  resolver?: Resolver;
}

/**
 * The id of the event a message's current state stands for: `evt:<messageId>:created` for a new message,
 * `evt:<messageId>:<status>:r<rev>` for a status change. A status can be reached more than once (a failed send fails
 * again after a Retry; a failed WhatsApp reply is accepted again after one), and each such change is a new event that
 * receivers must not drop as a duplicate; the rev the store gave that change tells them apart, and deriving the id
 * again from the same change gives the same id.
 */
export function eventIdOf(type: EventType, message: Message): string {
  const what = type === 'message.created' ? 'created' : `${message.status}:r${message.rev}`;
  return `${eventIdPrefixOf(message.id)}${what}`;
}

/** What every event id (and so every delivery id) of one message starts with: an erasure removes them by it. */
export function eventIdPrefixOf(messageId: string): string {
  return `evt:${messageId}:`;
}

/** The queue item id of `eventId` for receiver `url` (the `X-AnonChat-Delivery` header): stable, so enqueueing twice is a no-op. */
export function deliveryIdOf(eventId: string, url: string): string {
  return `${eventId}:${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

/** Signing headers, user agent and the id a receiver dedupes on. */
const USER_AGENT = 'anon-chat-webhooks/1';

function conversationOf(conversation: Conversation): EventConversation {
  const view: EventConversation = {
    id: conversation.id,
    channel: conversation.channel,
    name: conversation.name,
    state: conversation.state,
  };
  if (conversation.externalUserId !== undefined) view.externalUserId = conversation.externalUserId;
  if (conversation.site !== undefined) view.site = conversation.site;
  return view;
}

/** The outbound event webhook sink and its delivery worker. */
export class EventWebhooks {
  readonly worker: QueueWorker<EventDelivery>;
  private readonly lookup;

  constructor(private readonly deps: EventWebhooksDeps) {
    this.lookup = guardedLookup(deps.resolver ?? systemResolver);
    this.worker = newQueueWorker<EventDelivery>(deps, {
      queue: EVENT_WEBHOOK_QUEUE,
      retry: deps.config.retry,
      deliver: (item, signal) => this.deliver(item, signal),
    });
  }

  /** True when receivers are configured (otherwise nothing is queued). */
  get enabled(): boolean {
    return this.deps.config.urls.length > 0;
  }

  /** The fan-out sink: the store has queued the deliveries with the change; wake the worker. */
  sink(): FanoutSink {
    return {
      name: 'event-webhooks',
      messageCreated: () => this.wake(),
      statusChanged: () => this.wake(),
    };
  }

  /** What the store queues with each change: one event per new message and per changed status, for every receiver. */
  outbound(): OutboundWork {
    return {
      messageCreated: (message, conversation) => this.deliveries('message.created', [message], conversation),
      statusChanged: (messages, conversation) => this.deliveries('message.status', messages, conversation),
    };
  }

  private wake(): void {
    if (this.enabled) this.worker.kick();
  }

  /** The deliveries of the `type` event of each message (in its given state), one per receiver. */
  deliveries(type: EventType, messages: Message[], conversation: Conversation): OutboundItem[] {
    const { urls } = this.deps.config;
    if (urls.length === 0 || messages.length === 0) return [];
    const createdAt = this.deps.clock().toISOString();
    const items: OutboundItem[] = [];
    for (const message of messages) {
      const change: StatusChange | undefined = type === 'message.status' ? toStatusChange(message) : undefined;
      const envelope: EventEnvelope = {
        id: eventIdOf(type, message),
        type,
        createdAt,
        data: { conversation: conversationOf(conversation), message, ...(change ? { change } : {}) },
      };
      const body = JSON.stringify(envelope);
      for (const url of urls) {
        const payload: EventDelivery = { url, type, eventId: envelope.id, body };
        items.push({ queue: EVENT_WEBHOOK_QUEUE, id: deliveryIdOf(envelope.id, url), payload });
      }
    }
    return items;
  }

  /** Health of each configured receiver. */
  async receivers(): Promise<ReceiverHealth[]> {
    return Promise.all(
      this.deps.config.urls.map(
        async (url) =>
          (await this.deps.store.getRecord<ReceiverHealth>(RECEIVER_NAMESPACE, url)) ?? {
            url,
            consecutiveFailures: 0,
            failing: false,
          },
      ),
    );
  }

  private async deliver(item: QueueItem<EventDelivery>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const outcome = await this.post(item, signal);
    if (!signal.aborted) await this.noteReceiver(item.payload.url, outcome);
    return outcome;
  }

  private async post(item: QueueItem<EventDelivery>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { config, clock, http } = this.deps;
    const { url, body, type } = item.payload;
    if (!config.secret) return { ok: false, permanent: true, error: 'WEBHOOK_SECRET is not set' };
    let target: URL;
    try {
      target = new URL(url);
      if (!config.allowPrivate) assertLiteralHostAllowed(target);
    } catch (error) {
      return { ok: false, permanent: true, error: error instanceof ForbiddenAddressError ? error.message : 'invalid receiver URL' };
    }
    const timestamp = Math.floor(clock().getTime() / 1000);
    let response;
    try {
      response = await http.request({
        method: 'POST',
        url: target.toString(),
        data: Buffer.from(body, 'utf8'),
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': USER_AGENT,
          'X-AnonChat-Event': type,
          'X-AnonChat-Delivery': item.id,
          'X-AnonChat-Signature': timestampedSignature(config.secret, timestamp, body),
        },
        timeout: config.timeoutMs,
        maxRedirects: 0,
        // Only the status matters: the body is never read, so a receiver cannot make the bridge buffer megabytes.
        responseType: 'stream',
        validateStatus: () => true,
        proxy: false,
        signal,
        ...(config.allowPrivate ? {} : { lookup: this.lookup }),
      });
    } catch (error) {
      const forbidden = findForbidden(error);
      if (forbidden) return { ok: false, permanent: true, error: forbidden.message };
      const code = (error as { code?: unknown }).code;
      return { ok: false, permanent: false, error: `network error${typeof code === 'string' ? ` (${code})` : ''}` };
    }
    (response.data as { destroy?: () => void } | undefined)?.destroy?.();
    const { status } = response;
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status >= 300 && status < 400) return { ok: false, permanent: false, status, error: `HTTP ${status} (redirects are not followed)` };
    return {
      ok: false,
      permanent: false,
      status,
      error: `HTTP ${status}`,
      retryAfterMs: status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after'], clock()) : undefined,
    };
  }

  private async noteReceiver(url: string, outcome: DeliveryOutcome): Promise<void> {
    const { store, clock, logger } = this.deps;
    const previous = (await store.getRecord<ReceiverHealth>(RECEIVER_NAMESPACE, url)) ?? {
      url,
      consecutiveFailures: 0,
      failing: false,
    };
    const now = clock().toISOString();
    const next: ReceiverHealth = outcome.ok
      ? { ...previous, consecutiveFailures: 0, failing: false, lastSuccessAt: now }
      : {
          ...previous,
          consecutiveFailures: previous.consecutiveFailures + 1,
          failing: previous.consecutiveFailures + 1 >= RECEIVER_FAILING_AFTER,
          lastFailureAt: now,
          lastError: outcome.error,
        };
    // Only write on a change of state or a failure count step, not on every success.
    if (outcome.ok && previous.consecutiveFailures === 0 && previous.lastSuccessAt) return;
    if (next.failing && !previous.failing) logger.warn({ url }, 'webhooks: receiver marked failing');
    await store.putRecord(RECEIVER_NAMESPACE, url, next);
  }
}
