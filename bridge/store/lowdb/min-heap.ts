/**
 * A binary min-heap: the smallest value (by `compare`, as for `Array.prototype.sort`) is read in O(1) and taken or
 * added in O(log n). It knows nothing of keys or removal; owners that need removal mark entries stale and drop them
 * when they surface (see pending-queue.ts).
 */
export class MinHeap<T> {
  private values: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  /** How many values the heap holds. */
  get size(): number {
    return this.values.length;
  }

  /** The smallest value, left in place. */
  peek(): T | undefined {
    return this.values[0];
  }

  /** Adds a value. */
  push(value: T): void {
    const values = this.values;
    let i = values.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(values[parent]!, value) <= 0) break;
      values[i] = values[parent]!;
      i = parent;
    }
    values[i] = value;
  }

  /** Takes the smallest value out. */
  pop(): T | undefined {
    const values = this.values;
    const top = values[0];
    const last = values.pop();
    if (values.length > 0 && last !== undefined) this.siftDown(0, last);
    return top;
  }

  /** Replaces the contents with `values`, in O(n). */
  replaceAll(values: Iterable<T>): void {
    this.values = [...values];
    for (let i = (this.values.length >> 1) - 1; i >= 0; i--) this.siftDown(i, this.values[i]!);
  }

  /** Puts `value` at `i` and moves it down until neither child is smaller. */
  private siftDown(i: number, value: T): void {
    const values = this.values;
    const n = values.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.compare(values[child + 1]!, values[child]!) < 0) child += 1;
      if (this.compare(values[child]!, value) >= 0) break;
      values[i] = values[child]!;
      i = child;
    }
    values[i] = value;
  }
}
