/**
 * Queues (outbound deliveries, webhooks): items bucketed by id, an in-memory index of the pending ones per queue in
 * due order so a claim reads only what it takes (never delivered history, nor the whole backlog), and in-memory leases
 * (one process is every worker there is).
 */
import { isDeepStrictEqual } from 'node:util';
import { newQueueItem, type OutboundItem, type QueueItem, type QueueLease, type Store } from '../store.ts';
import type { Journal } from './journal.ts';
import type { JournalRecord } from './journal-records.ts';
import { yieldToLoop, type LowdbState } from './lowdb-state.ts';
import { PendingQueue } from './pending-queue.ts';
import { copyJson } from './stored-shapes.ts';

/** Attempts kept in a queue item's log. */
const QUEUE_LOG_LIMIT = 20;
/** Queue items a background scan looks at per event-loop turn. */
const QUEUE_SCAN_SLICE = 2_000;

type QueueCalls =
  | 'enqueue'
  | 'dueItems'
  | 'claimDueItems'
  | 'updateQueueItem'
  | 'replaceQueueItem'
  | 'pruneQueueItems'
  | 'listQueueItems'
  | 'getQueueItem'
  | 'countQueueItems';

/** The queue calls of the Store, and the queue items other changes create with them. */
export class LowdbQueues implements Pick<Store, QueueCalls> {
  /** Pending queue items by queue, in due order. */
  pendingItems = new Map<string, PendingQueue>();
  /** Queue claims: item id → lease end (ISO). */
  readonly leases = new Map<string, QueueLease>();

  constructor(private readonly s: LowdbState) {}

  /** Forgets the pending index (before an open loads the data directory); leases outlive a reopen, as before. */
  reset(): void {
    this.pendingItems = new Map();
  }

  async enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    const journal = await this.s.writable();
    const itemId = id ?? this.s.randomId();
    const existing = this.s.queueBuckets.get(itemId);
    if (existing) {
      await this.s.durable(journal.barrier());
      return copyJson(existing) as QueueItem<T>;
    }
    const now = this.s.now();
    const item: QueueItem = newQueueItem(queue, itemId, copyJson(payload), now);
    this.putQueueItem(item);
    await this.s.durable(journal.append({ t: 'q', v: item } satisfies JournalRecord));
    return copyJson(item) as QueueItem<T>;
  }

  async dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    this.s.assertOpen();
    return this.dueNow(queue, now, limit).map((item) => copyJson(item) as QueueItem<T>);
  }

  /** One process per data directory: a lease only has to hold against this process's other workers, so it lives in memory. */
  async claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]> {
    this.s.assertOpen();
    const items = this.dueNow(queue, now, limit);
    for (const item of items) this.leases.set(item.id, { ...lease });
    return items.map((item) => copyJson(item) as QueueItem<T>);
  }

  /** Up to `limit` due items of `queue` that no live lease holds, by dueAt then createdAt. */
  dueNow(queue: string, now: string, limit: number): QueueItem[] {
    const pending = this.pendingItems.get(queue);
    if (!pending) return [];
    return pending.due(now, limit, (item) => {
      const leased = this.leases.get(item.id);
      return leased !== undefined && leased.until > now;
    });
  }

  async updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean> {
    const journal = await this.s.writable();
    if (owner !== undefined && this.leases.get(item.id)?.owner !== owner) return false;
    await this.save(journal, item);
    return true;
  }

  async replaceQueueItem<T>(expected: QueueItem<T>, item: QueueItem<T>): Promise<boolean> {
    const journal = await this.s.writable();
    // Checked and saved with no await in between: no other call can change the item after the check.
    const stored = this.s.queueBuckets.get(item.id);
    if (expected.id !== item.id || !stored || !isDeepStrictEqual(stored, copyJson(expected))) return false;
    await this.save(journal, item);
    return true;
  }

  /** Saves `item` in memory and ends its lease at once (synchronously), then waits until its record is durable. */
  private save(journal: Journal, item: QueueItem): Promise<void> {
    this.leases.delete(item.id);
    const stored = copyJson(item);
    stored.log = stored.log.slice(-QUEUE_LOG_LIMIT);
    this.putQueueItem(stored);
    return this.s.durable(journal.append({ t: 'q', v: stored } satisfies JournalRecord));
  }

  async pruneQueueItems(before: string, limit: number): Promise<number> {
    this.s.assertOpen();
    const prunable = (item: QueueItem | undefined): boolean => item !== undefined && item.state !== 'pending' && item.updatedAt < before;
    const candidates: string[] = [];
    // QUEUE_SCAN_SLICE items per event-loop turn: a sweep over hundreds of thousands of items never holds the loop
    // long, however full one bucket is.
    for (const doc of this.s.queueBuckets.docs) {
      const ids = Object.keys(doc.data.items);
      for (let i = 0; i < ids.length && candidates.length < limit; i++) {
        if (prunable(doc.data.items[ids[i]!])) candidates.push(ids[i]!);
        if ((i + 1) % QUEUE_SCAN_SLICE === 0) await yieldToLoop();
      }
      if (candidates.length >= limit) break;
      await yieldToLoop();
    }
    const journal = await this.s.writable();
    // Checked again: an item may have been retried (pending again) while the scan yielded.
    const ids = candidates.filter((id) => prunable(this.s.queueBuckets.get(id)));
    if (ids.length === 0) return 0;
    for (const id of ids) this.removeQueueItem(id);
    await this.s.durable(journal.append({ t: 'qd', ids } satisfies JournalRecord));
    return ids.length;
  }

  removeQueueItem(id: string): void {
    const item = this.s.queueBuckets.get(id);
    if (!item) return;
    this.pendingItems.get(item.queue)?.delete(id);
    this.leases.delete(id);
    this.s.queueBuckets.delete(id);
  }

  putQueueItem(item: QueueItem): void {
    const previous = this.s.queueBuckets.get(item.id);
    if (previous && previous.queue !== item.queue) this.pendingItems.get(previous.queue)?.delete(item.id);
    this.s.queueBuckets.set(item.id, item);
    this.indexQueueItem(item);
  }

  indexQueueItem(item: QueueItem): void {
    let pending = this.pendingItems.get(item.queue);
    if (item.state === 'pending') {
      if (!pending) this.pendingItems.set(item.queue, (pending = new PendingQueue()));
      pending.set(item);
    } else {
      pending?.delete(item.id);
    }
  }

  async listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    this.s.assertOpen();
    const items: QueueItem[] = [];
    for (const [, item] of this.s.queueBuckets.entries()) if (item.queue === queue) items.push(item);
    items.sort((a, b) => compare(b.createdAt, a.createdAt));
    return items.slice(0, limit).map((item) => copyJson(item) as QueueItem<T>);
  }

  async getQueueItem<T>(queue: string, id: string): Promise<QueueItem<T> | undefined> {
    this.s.assertOpen();
    const item = this.s.queueBuckets.get(id);
    return item?.queue === queue ? (copyJson(item) as QueueItem<T>) : undefined;
  }

  async countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    this.s.assertOpen();
    const counts = { pending: 0, delivered: 0, dead: 0 };
    for (const [, item] of this.s.queueBuckets.entries()) if (item.queue === queue) counts[item.state] += 1;
    return counts;
  }

  /** New queue items for the ids not queued yet, in memory; the caller journals them with the change. */
  queueOutbound(items: OutboundItem[], now: string): QueueItem[] {
    const queued: QueueItem[] = [];
    for (const { queue, id, payload } of items) {
      if (this.s.queueBuckets.get(id)) continue;
      const item = newQueueItem(queue, id, copyJson(payload), now);
      this.putQueueItem(item);
      queued.push(item);
    }
    return queued;
  }

  /** Ids of queue items starting with one of `prefixes`, scanned a bucket per event-loop turn. */
  async queueItemsMatching(prefixes: string[]): Promise<string[]> {
    if (prefixes.length === 0) return [];
    const matches = prefixMatcher(prefixes);
    const ids: string[] = [];
    for (const doc of this.s.queueBuckets.docs) {
      for (const itemId of Object.keys(doc.data.items)) if (matches(itemId)) ids.push(itemId);
      await yieldToLoop();
    }
    return ids;
  }

  /** Every queue item of every queue, in any state, without leases (they end with the process); for `npm run import-lowdb`. */
  exportQueueItems(): QueueItem[] {
    this.s.assertOpen();
    return [...this.s.queueBuckets.entries()].map(([, item]) => copyJson(item));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A test for "starts with one of `prefixes`" in O(log n) per id: sorted, without prefixes that extend a shorter
 * one, the only candidate for an id is the greatest prefix not above it (any string between a prefix p and an id
 * starting with p starts with p too).
 */
export function prefixMatcher(prefixes: string[]): (id: string) => boolean {
  const sorted = [...new Set(prefixes)].filter((p) => p.length > 0).sort(compare);
  const kept: string[] = [];
  for (const p of sorted) if (kept.length === 0 || !p.startsWith(kept[kept.length - 1]!)) kept.push(p);
  return (id) => {
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (kept[mid]! <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && id.startsWith(kept[lo - 1]!);
  };
}
