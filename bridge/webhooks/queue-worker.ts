/**
 * Works one durable Store queue (outbound event webhooks, WhatsApp sends): takes due items, delivers them,
 * records each attempt, and reschedules failures with exponential backoff and jitter (or the receiver's
 * Retry-After) until the item is delivered or dead. Items live in the store, so a restart resumes where it stopped.
 */
import type { BridgeMetrics } from '../metrics.ts';
import type { Logger } from 'pino';
import type { QueueItem, Store } from '../store/store.ts';
import type { RetryPolicy } from './webhook-config.ts';
import { randomId } from '../ids.ts';
import { backoffDelay } from '../../protocol/backoff.ts';

/** What one delivery attempt achieved. */
export type DeliveryOutcome =
  | { ok: true; status?: number }
  | {
      ok: false;
      /** No later attempt can succeed (a refused address, a 4xx from Meta): the item is dead at once. */
      permanent: boolean;
      status?: number;
      error: string;
      /** The receiver asked for this delay (429/503 Retry-After). */
      retryAfterMs?: number;
    };

/**
 * What the owner of a queue (event webhooks, WhatsApp sends and media, Web Push, mail) is given by the bridge and
 * hands on to its worker unchanged.
 */
export interface QueueWorkerDeps {
  store: Store;
  logger: Logger;
  clock: () => Date;
  /** How often to look for due items besides the wake-ups on enqueue. */
  pollMs: number;
  /**
   * How long a claimed item stays this worker's (default 60 s): longer than any attempt takes, short enough that
   * the items of a node that died are picked up by another node soon after.
   */
  leaseMs?: number;
  /** Counts each attempt's result (delivered, retry, dead). */
  metrics?: BridgeMetrics;
  /** Uniform random in [0, 1) for jitter (injected so tests can pin it). */
  random?: () => number;
}

/** What one queue decides for itself: its name, retries, and how an item is delivered. */
export interface QueueOptions<T> {
  queue: string;
  retry: RetryPolicy;
  /** One attempt; `signal` aborts when the bridge closes (the item then stays pending, unchanged). */
  deliver: (item: QueueItem<T>, signal: AbortSignal) => Promise<DeliveryOutcome>;
  /** Runs after an item reached a final state (delivered or dead) and was saved. */
  settled?: (item: QueueItem<T>, outcome: DeliveryOutcome) => Promise<void>;
  /** Attempts in flight at most (default 8). */
  concurrency?: number;
}

/** How a worker is built. */
export type QueueWorkerOptions<T> = QueueWorkerDeps & QueueOptions<T>;

/** The worker of `queue`, run with the dependencies its owner was given (only those it was given are passed on). */
export function newQueueWorker<T>(deps: QueueWorkerDeps, queue: QueueOptions<T>): QueueWorker<T> {
  return new QueueWorker<T>({
    store: deps.store,
    logger: deps.logger,
    clock: deps.clock,
    pollMs: deps.pollMs,
    ...(deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...queue,
  });
}

/** Default lease on claimed items. */
export const QUEUE_LEASE_MS = 60_000;

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: unknown, now: Date): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}

const MAX_LOG = 20;

/** The newest `limit` items of a queue, newest first. */
export async function recentItems(store: Store, queue: string, limit: number): Promise<QueueItem[]> {
  const items = await store.listQueueItems(queue, Math.max(limit, 1000));
  return [...items].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
}

/** What `requeueItem` did: the item requeued (`item` as saved), or refused by `allowed` (`item` as it is stored). */
export interface Requeued {
  requeued: boolean;
  item: QueueItem;
}

/**
 * Makes item `id` of `queue` due now with a fresh attempt budget (its id and payload unchanged; the log keeps the
 * earlier attempts). Undefined when the queue has no such item; refused, the item unchanged, when `allowed` refuses
 * it as it is stored now.
 */
export async function requeueItem(
  store: Store,
  queue: string,
  id: string,
  now: Date,
  allowed: (item: QueueItem) => boolean = () => true,
): Promise<Requeued | undefined> {
  for (let read = 1; ; read++) {
    const item = await store.getQueueItem(queue, id);
    if (!item) return undefined;
    if (!allowed(item)) return { requeued: false, item };
    const at = now.toISOString();
    const updated: QueueItem = { ...item, state: 'pending', attempts: 0, dueAt: at, updatedAt: at };
    // Only over the item as read: a stale read must not end the claim a worker made after someone else requeued it.
    if (await store.replaceQueueItem(item, updated)) return { requeued: true, item: updated };
    if (read === 8) throw new Error(`queue item ${id} kept changing while it was being requeued`);
  }
}

/** The worker of one queue. Start it with the bridge, stop it on close. */
export class QueueWorker<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /**
   * Attempts under way, with when their claim ends (ms): each runs on its own, so one slow receiver holds one slot,
   * not the whole queue.
   */
  private readonly inFlight = new Map<Promise<void>, number>();
  private readonly abort = new AbortController();
  /** What this worker's claim owners start with: unique per process and queue, so leases of different nodes never look alike. */
  private readonly owner = `${process.pid}-${randomId()}`;
  /**
   * Claims made so far: each claim has an owner of its own (`<owner>:<n>`), so an attempt whose item was made due
   * again meanwhile (a Retry, an expired claim) and claimed anew, by this worker too, cannot save over the new claim.
   */
  private claims = 0;

  constructor(private readonly options: QueueWorkerOptions<T>) {}

  /** Starts polling and runs a first pass (picks up what a previous process left). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      this.kick();
      this.timer = setTimeout(tick, this.options.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Runs a pass soon (after an enqueue); coalesces with a pass in progress. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runPasses().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no pass and no attempt is running (tests and close). */
  async idle(): Promise<void> {
    while (this.running || this.inFlight.size > 0) {
      await this.running;
      await Promise.all(this.inFlight.keys());
    }
  }

  /** Stops polling, aborts attempts in flight (their items stay pending) and waits for the pass and the attempts to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.idle();
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.pass();
      } catch (error) {
        this.options.logger.error({ err: error, queue: this.options.queue }, 'webhooks: queue pass failed');
      }
    } while (this.again && !this.stopped);
  }

  /**
   * Claims due items into the free slots and starts their attempts without waiting for them: an attempt that ends
   * kicks the next pass. A pass that would fill fewer than half the slots while attempts are under way waits for more
   * to end, so a busy queue claims in batches rather than one query per finished attempt. Nor does it claim while an
   * attempt has outlived its claim: its item is claimable again, by this worker too, and must go to another worker.
   */
  private async pass(): Promise<void> {
    const { store, queue, clock, logger } = this.options;
    const slots = this.options.concurrency ?? 8;
    for (;;) {
      if (this.stopped) return;
      const free = slots - this.inFlight.size;
      if (free <= 0 || (this.inFlight.size > 0 && free < Math.ceil(slots / 2))) return;
      const now = clock();
      for (const claimEnds of this.inFlight.values()) if (claimEnds <= now.getTime()) return;
      // Claimed, not just read: a worker on another node skips these until this one has updated them.
      const claimEnds = now.getTime() + (this.options.leaseMs ?? QUEUE_LEASE_MS);
      const until = new Date(claimEnds).toISOString();
      const owner = `${this.owner}:${++this.claims}`;
      const items = await store.claimDueItems<T>(queue, now.toISOString(), free, { owner, until });
      for (const item of items) {
        const attempt: Promise<void> = this.attempt(item, owner)
          .catch((error: unknown) => logger.error({ err: error, queue, id: item.id }, 'webhooks: queue attempt failed'))
          .finally(() => {
            this.inFlight.delete(attempt);
            this.kick();
          });
        this.inFlight.set(attempt, claimEnds);
      }
      if (items.length < free) return;
    }
  }

  private async attempt(item: QueueItem<T>, owner: string): Promise<void> {
    const { clock, logger, queue, retry } = this.options;
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.options.deliver(item, this.abort.signal);
    } catch (error) {
      outcome = { ok: false, permanent: false, error: error instanceof Error ? error.message : 'delivery failed' };
    }
    // Closing mid-attempt: leave the item as it was, claim released, so the next start (or another node) retries it.
    if (this.stopped && this.abort.signal.aborted && !outcome.ok) {
      await this.options.store.updateQueueItem(item, owner).catch(() => undefined);
      return;
    }
    const now = clock();
    const attempts = item.attempts + 1;
    const entry: QueueItem<T>['log'][number] = { at: now.toISOString(), ok: outcome.ok };
    if (outcome.status !== undefined) entry.status = outcome.status;
    if (!outcome.ok) entry.error = outcome.error;
    const updated: QueueItem<T> = {
      ...item,
      attempts,
      updatedAt: now.toISOString(),
      log: [...item.log, entry].slice(-MAX_LOG),
    };
    let final = true;
    if (outcome.ok) {
      updated.state = 'delivered';
      delete updated.lastError;
    } else {
      updated.lastError = outcome.error;
      if (outcome.permanent || attempts >= retry.maxAttempts) updated.state = 'dead';
      else {
        final = false;
        // Retry-After is a floor, never an invitation to retry sooner than the backoff (`Retry-After: 0` loops).
        const backoff = backoffDelay(retry, attempts, this.options.random ?? Math.random);
        const delay = Math.min(Math.max(outcome.retryAfterMs ?? 0, backoff), Math.max(retry.maxDelayMs, backoff));
        updated.dueAt = new Date(now.getTime() + delay).toISOString();
      }
    }
    if (!(await this.options.store.updateQueueItem(updated, owner))) {
      // The lease ran out during the attempt and another worker claimed the item: its result is the one that counts.
      logger.warn({ queue, id: item.id, ok: outcome.ok }, 'webhooks: claim lost during the attempt; its result was not saved');
      return;
    }
    this.options.metrics?.delivery(queue, outcome.ok ? 'delivered' : final ? 'dead' : 'retry');
    if (!outcome.ok) {
      logger.warn({ queue, id: item.id, attempts, state: updated.state, error: outcome.error }, 'webhooks: delivery failed');
    }
    if (final && this.options.settled) {
      try {
        await this.options.settled(updated, outcome);
      } catch (error) {
        logger.error({ err: error, queue, id: item.id }, 'webhooks: settling a delivery failed');
      }
    }
  }
}
