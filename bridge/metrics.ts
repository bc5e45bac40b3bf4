/**
 * The bridge's Prometheus metrics (prom-client), one registry per bridge: `createBridge` takes a `BridgeMetrics`
 * in its deps (or builds one), so several bridges in one process each count their own traffic.
 *
 * Hot paths pay one array increment (messages stored) or one histogram observe (send→ack, store commit); gauges
 * (sockets, queue items) are read from their source only when Prometheus scrapes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Namespace } from 'socket.io';
import { Channel } from '../protocol/conversation.ts';
import type { AuthorRole } from '../protocol/message.ts';
import type { QueueItem, Store } from './store/store.ts';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'anon_chat_';

/** Where an inbound webhook came in. */
export type InboundWebhook = 'whatsapp' | 'whatsapp_verify' | 'status';
/** What became of an inbound webhook: accepted (2xx), refused (4xx: the sender's fault) or failed (5xx: ours). */
export type InboundResult = 'accepted' | 'refused' | 'failed';
/** What became of one outbound delivery attempt. */
export type DeliveryResult = 'delivered' | 'retry' | 'dead';
/** Which limit refused a request or event. */
/** `login` counts per-IP login refusals, `login_account` those of an account delayed after failed logins. */
export type RateLimitScope = 'messages' | 'events' | 'typing' | 'context' | 'connections' | 'http' | 'login' | 'login_account';

const CHANNELS = Object.values(Channel);
const ROLES: readonly AuthorRole[] = ['visitor', 'agent', 'system'];
const QUEUE_STATES: readonly QueueItem['state'][] = ['pending', 'delivered', 'dead'];

/** Latency buckets in seconds: 0.5 ms to 10 s, wide enough for an fsync on a slow disk. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics of one bridge and the cheap recorders its parts call. */
export class BridgeMetrics {
  readonly registry: Registry;
  /** Socket.IO `message:send` received → ack sent, in seconds (visitor and agent sends). */
  readonly sendAck: Histogram;
  /** One durable store commit (a journal batch written with O_DSYNC), in seconds. */
  readonly storeCommit: Histogram;
  private readonly inbound: Counter<'webhook' | 'result' | 'reason'>;
  private readonly deliveries: Counter<'queue' | 'result'>;
  private readonly refusals: Counter<'scope'>;
  /** Messages stored, by channel index × role index (plain numbers: the hot path allocates nothing). */
  private readonly stored: number[] = new Array<number>(CHANNELS.length * ROLES.length).fill(0);
  private readonly namespaces: { name: string; ns: Namespace }[] = [];
  private queueSource: { store: Store; queues: readonly string[] } | undefined;
  private processMetricsOn = false;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    // prom-client calls collect() with `this` bound to the metric, so the bridge's own state is captured here.
    const { namespaces, stored } = this;
    const queueSource = () => this.queueSource;

    new Gauge({
      name: `${METRIC_PREFIX}connected_sockets`,
      help: 'Socket.IO sockets connected to this bridge, by namespace.',
      labelNames: ['namespace'],
      registers,
      collect() {
        for (const { name, ns } of namespaces) this.set({ namespace: name }, ns.sockets.size);
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}messages_stored_total`,
      help: 'Messages newly stored (retries deduplicated), by channel and author role.',
      labelNames: ['channel', 'role'],
      registers,
      collect() {
        this.reset();
        CHANNELS.forEach((channel, c) =>
          ROLES.forEach((role, r) => this.inc({ channel, role }, stored[c * ROLES.length + r] ?? 0)),
        );
      },
    });
    this.sendAck = new Histogram({
      name: `${METRIC_PREFIX}send_ack_seconds`,
      help: 'Socket.IO message:send received until its ack was sent (stored durably), in seconds.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.storeCommit = new Histogram({
      name: `${METRIC_PREFIX}store_commit_seconds`,
      help: 'Duration of one durable store commit (lowdb: one group-committed journal write; PostgreSQL: one COMMIT of a write transaction), in seconds.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: `${METRIC_PREFIX}queue_items`,
      help: 'Durable queue items (outbound webhooks, WhatsApp sends), by queue and state.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const source = queueSource();
        if (!source) return;
        for (const queue of source.queues) {
          const counts = await source.store.countQueueItems(queue);
          for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state]);
        }
      },
    });
    this.inbound = new Counter({
      name: `${METRIC_PREFIX}inbound_webhooks_total`,
      help: 'Inbound webhook requests, by webhook, result (accepted, refused, failed) and reason.',
      labelNames: ['webhook', 'result', 'reason'],
      registers,
    });
    this.deliveries = new Counter({
      name: `${METRIC_PREFIX}outbound_deliveries_total`,
      help: 'Outbound delivery attempts (event webhooks, WhatsApp sends), by queue and result (delivered, retry, dead).',
      labelNames: ['queue', 'result'],
      registers,
    });
    this.refusals = new Counter({
      name: `${METRIC_PREFIX}rate_limit_refusals_total`,
      help: 'Requests, connections and events refused by a rate limit, by scope.',
      labelNames: ['scope'],
      registers,
    });
  }

  /** Records one send→ack latency in seconds (a bound function: handlers keep it without allocating). */
  readonly observeSendAck = (seconds: number): void => this.sendAck.observe(seconds);
  /** Records one store commit's duration in seconds (pass it to the store). */
  readonly observeStoreCommit = (seconds: number): void => this.storeCommit.observe(seconds);

  /** Counts `count` newly stored messages (default one). */
  messageStored(channel: Channel, role: AuthorRole, count = 1): void {
    const c = CHANNELS.indexOf(channel);
    const r = ROLES.indexOf(role);
    if (c >= 0 && r >= 0) this.stored[c * ROLES.length + r]! += count;
  }

  /** Counts one inbound webhook request; `reason` is from a closed set (never request content). */
  inboundWebhook(webhook: InboundWebhook, result: InboundResult, reason: string): void {
    this.inbound.inc({ webhook, result, reason });
  }

  /** Counts one outbound delivery attempt. */
  delivery(queue: string, result: DeliveryResult): void {
    this.deliveries.inc({ queue, result });
  }

  /** Counts one rate-limit refusal. */
  rateLimitRefused(scope: RateLimitScope): void {
    this.refusals.inc({ scope });
  }

  /** Reports `ns`'s connected sockets at each scrape. */
  watchNamespace(name: string, ns: Namespace): void {
    this.namespaces.push({ name, ns });
  }

  /** Reports the items of `queues` by state at each scrape. */
  watchQueues(store: Store, queues: readonly string[]): void {
    this.queueSource = { store, queues };
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (!this.processMetricsOn) {
      // Process CPU, memory, handles, GC and event-loop lag (`anon_chat_nodejs_eventloop_lag_seconds`, …). Started at
      // the first scrape: their event-loop sampler and GC observer cannot be stopped, and a bridge nobody scrapes
      // (tests build dozens per process) should not leave them running.
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      this.processMetricsOn = true;
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
