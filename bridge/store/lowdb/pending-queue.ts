/**
 * One queue's pending items in due order, so a claim reads the few items it takes instead of sorting the whole queue.
 */
import type { QueueItem } from '../store.ts';
import { MinHeap } from './min-heap.ts';

/**
 * An item's place in the due order: dueAt, then createdAt, then when it became pending (`seq`), which is the order
 * a stable sort of the pending items in insertion order gave before this index existed.
 */
interface DueEntry {
  id: string;
  dueAt: string;
  createdAt: string;
  seq: number;
}

/** Heap entries beyond the live ones allowed before the heap is rebuilt (plus as many as there are live ones). */
const STALE_SLACK = 1_024;

/**
 * The pending items of one queue and a min-heap of their due order. Changes never search the heap: an item whose
 * key changes gets a new entry, and an entry that is not its item's current one is stale and dropped when it
 * surfaces, or when stale entries outnumber the live ones and the heap is rebuilt.
 */
export class PendingQueue {
  /** The pending items by id, in the order they became pending. */
  private readonly items = new Map<string, QueueItem>();
  /** Each pending item's current heap entry; any other entry for it is stale. */
  private readonly live = new Map<string, DueEntry>();
  private readonly heap = new MinHeap<DueEntry>(byDueOrder);
  private nextSeq = 0;

  /** Adds a pending item or replaces its stored version. */
  set(item: QueueItem): void {
    this.items.set(item.id, item);
    const current = this.live.get(item.id);
    if (current && current.dueAt === item.dueAt && current.createdAt === item.createdAt) return;
    // An item updated while pending keeps its place among equals, as a Map keeps an existing key's position.
    const entry: DueEntry = { id: item.id, dueAt: item.dueAt, createdAt: item.createdAt, seq: current?.seq ?? this.nextSeq++ };
    this.live.set(item.id, entry);
    this.heap.push(entry);
    this.compactIfStale();
  }

  /** Forgets an item (delivered, dead, removed or moved to another queue). */
  delete(id: string): void {
    if (!this.items.delete(id)) return;
    this.live.delete(id);
    this.compactIfStale();
  }

  /**
   * Up to `limit` items with dueAt ≤ `now` that `held` does not exclude, in due order. Cost: O((limit + held items
   * passed + stale entries dropped) · log n); the items read are put back, since they stay pending.
   */
  due(now: string, limit: number, held: (item: QueueItem) => boolean): QueueItem[] {
    const taken: DueEntry[] = [];
    const passed: DueEntry[] = [];
    // As Array.prototype.slice reads a count: truncated; NaN and negatives take nothing.
    const max = Math.trunc(limit);
    while (taken.length < max) {
      const top = this.heap.peek();
      if (top === undefined) break;
      if (this.live.get(top.id) !== top) {
        this.heap.pop();
        continue;
      }
      if (top.dueAt > now) break;
      this.heap.pop();
      (held(this.items.get(top.id)!) ? passed : taken).push(top);
    }
    for (const entry of taken) this.heap.push(entry);
    for (const entry of passed) this.heap.push(entry);
    return taken.map((entry) => this.items.get(entry.id)!);
  }

  private compactIfStale(): void {
    if (this.heap.size > 2 * this.live.size + STALE_SLACK) this.heap.replaceAll(this.live.values());
  }
}

function byDueOrder(a: DueEntry, b: DueEntry): number {
  if (a.dueAt !== b.dueAt) return a.dueAt < b.dueAt ? -1 : 1;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.seq - b.seq;
}
