/**
 * PendingQueue answers exactly what the full scan it replaced answered (every pending item in insertion order, those
 * due and not held, stably sorted by dueAt then createdAt, the first `limit`), through claims with leases that run
 * out, retries that move an item's dueAt, updates that keep it, deliveries, items pending again and new items.
 */
import { expect, it } from 'vitest';
import { newQueueItem, type QueueItem } from '../store.ts';
import { PendingQueue } from './pending-queue.ts';

/** The pre-index algorithm, kept as the reference. */
function referenceDue(items: Map<string, QueueItem>, now: string, limit: number, held: (item: QueueItem) => boolean): QueueItem[] {
  const due = [...items.values()].filter((item) => item.dueAt <= now && !held(item));
  due.sort((a, b) => (a.dueAt === b.dueAt ? compare(a.createdAt, b.createdAt) : compare(a.dueAt, b.dueAt)));
  return due.slice(0, Math.max(0, limit));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A seeded generator (mulberry32), so every run replays the same operations. */
function random(seed: number): (n: number) => number {
  let t = seed;
  return (n) => {
    t = (t + 0x6d2b79f5) | 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return Math.floor((((r ^ (r >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const T0 = Date.parse('2026-12-03T00:00:00Z');
/** Few distinct times, so dueAt and createdAt ties are common and insertion order decides among them. */
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

/** Runs `steps` random operations over `initial` items (at most `maxPending` pending) on both and compares every answer. */
function exercise(seed: number, initial: number, steps: number, maxPending = Infinity): void {
  const rnd = random(seed);
  const queue = new PendingQueue();
  const reference = new Map<string, QueueItem>();
  const leases = new Map<string, string>();
  const known: QueueItem[] = [];
  let clock = 0;
  let nowIso = at(clock);
  const tick = (seconds: number): void => {
    clock += seconds;
    nowIso = at(clock);
  };
  let nextId = 0;
  const now = (): string => nowIso;
  const held = (item: QueueItem): boolean => (leases.get(item.id) ?? '') > nowIso;
  const put = (item: QueueItem): void => {
    queue.set(item);
    reference.set(item.id, item);
  };
  const enqueue = (): void => {
    const item: QueueItem = { ...newQueueItem('q', `i${nextId++}`, null, at(clock - rnd(20))), dueAt: at(clock - 10 + rnd(30)) };
    known.push(item);
    put(item);
  };
  const check = (limit: number): QueueItem[] => {
    const got = queue.due(now(), limit, held);
    expect(got.map((i) => i.id)).toEqual(referenceDue(reference, now(), limit, held).map((i) => i.id));
    return got;
  };

  for (let i = 0; i < initial; i++) enqueue();
  for (let step = 0; step < steps; step++) {
    const pick = known[rnd(known.length)]!;
    const current = reference.get(pick.id);
    switch (rnd(9)) {
      case 0:
        tick(rnd(4));
        break;
      case 1:
      case 2:
        for (const item of check(8)) leases.set(item.id, at(clock + rnd(6)));
        break;
      case 3:
        check([0, 1, 3, 50, -1, Number.NaN, 2.5, Infinity][rnd(8)]!);
        break;
      case 4: // a failed attempt: retried later (or sooner), its lease ended
        if (current) {
          leases.delete(pick.id);
          put({ ...current, attempts: current.attempts + 1, dueAt: at(clock + rnd(10) - 3) });
        }
        break;
      case 5: // saved without moving
        if (current) {
          leases.delete(pick.id);
          put({ ...current, attempts: current.attempts + 1 });
        }
        break;
      case 6: // delivered, dead or removed
        leases.delete(pick.id);
        queue.delete(pick.id);
        reference.delete(pick.id);
        break;
      case 7: // pending again as it once was (its old heap entry may still be there)
        if (!current) put(pick);
        break;
      default:
        if (reference.size < maxPending) enqueue();
    }
  }
  // Draining claim by claim (each claimed item then delivered) hands out the reference's whole order once.
  tick(100);
  const expected = referenceDue(reference, now(), Infinity, held).map((i) => i.id);
  const drained: string[] = [];
  for (let batch = check(8); batch.length > 0; batch = queue.due(now(), 8, held)) {
    for (const item of batch) {
      queue.delete(item.id);
      reference.delete(item.id);
      drained.push(item.id);
    }
  }
  expect(drained).toEqual(expected);
  expect(reference.size).toBe(0);
}

it('claims from 10,000 pending items in the same order as a full sort, through leases, retries and deliveries', () => {
  exercise(1, 10_000, 500);
});

it('stays exact with few pending items among many moves', () => {
  exercise(2, 40, 10_000, 200);
});

it('stays exact when moved items leave more stale heap entries than live ones and the heap is rebuilt', () => {
  const rnd = random(3);
  const queue = new PendingQueue();
  const reference = new Map<string, QueueItem>();
  for (let i = 0; i < 50; i++) {
    const item = newQueueItem('q', `i${i}`, null, at(rnd(5)));
    queue.set(item);
    reference.set(item.id, item);
  }
  // No claim in between drops stale entries as they surface: only a rebuild bounds them.
  for (let move = 0; move < 5_000; move++) {
    const item = { ...reference.get(`i${rnd(50)}`)!, dueAt: at(rnd(1_000)) };
    queue.set(item);
    reference.set(item.id, item);
  }
  const notHeld = (): boolean => false;
  for (const now of [at(-1), at(100), at(500), at(1_000)]) {
    for (const limit of [1, 8, 50]) {
      expect(queue.due(now, limit, notHeld).map((i) => i.id)).toEqual(referenceDue(reference, now, limit, notHeld).map((i) => i.id));
    }
  }
});
