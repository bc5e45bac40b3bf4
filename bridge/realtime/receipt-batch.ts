/**
 * Merges the receipts one socket sends for one conversation within one turn of the event loop. Clients send
 * `delivered` and `read` for the same messages back to back (widget and console do when the thread is open); applied
 * one by one, each costs a durable write of every message it advances plus the conversation record, two
 * `message:status` packets per message and a summary update, and the `read` immediately supersedes the `delivered`.
 * Applying the highest `read` first makes the `delivered` a no-op for every message the `read` covers (read implies
 * delivered), so those messages go from sent to read in one durable write and one status push; a `delivered` that
 * reaches no further than the `read` is not applied at all (it would lock and read the conversation for nothing).
 */

type Status = 'delivered' | 'read';

/** What a receipt's ack carries. */
export interface ReceiptOutcome {
  changed: number;
}

interface Waiter {
  resolve: (outcome: ReceiptOutcome) => void;
  reject: (error: unknown) => void;
}

interface Group {
  upToSeq: number;
  waiters: Waiter[];
}

interface Pending {
  read?: Group;
  delivered?: Group;
}

/**
 * Per socket: collects receipts until the current turn's synchronous work and microtasks are done, then applies, per
 * conversation, the highest `read` and then the highest `delivered` (not at all when that read covers it). Each
 * receipt's ack reports what the application of its status changed (0 for a `delivered` the `read` of the same turn
 * already covered). The final state is the same as applying the receipts one by one in any order: statuses only
 * move up in rank, and read implies delivered.
 */
export class ReceiptBatch {
  private pending = new Map<string, Pending>();
  private scheduled = false;

  constructor(private readonly apply: (conversationId: string, status: Status, upToSeq: number) => Promise<ReceiptOutcome>) {}

  /** Queues a receipt; resolves with its ack data once it is applied (durably) and announced. */
  submit(conversationId: string, status: Status, upToSeq: number): Promise<ReceiptOutcome> {
    return new Promise<ReceiptOutcome>((resolve, reject) => {
      let entry = this.pending.get(conversationId);
      if (!entry) {
        entry = {};
        this.pending.set(conversationId, entry);
      }
      const group = entry[status];
      if (group) {
        group.upToSeq = Math.max(group.upToSeq, upToSeq);
        group.waiters.push({ resolve, reject });
      } else {
        entry[status] = { upToSeq, waiters: [{ resolve, reject }] };
      }
      if (!this.scheduled) {
        this.scheduled = true;
        // nextTick runs once the promise jobs queued so far are done: receipts of the same incoming data join the batch.
        process.nextTick(() => this.run());
      }
    });
  }

  private run(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    for (const [conversationId, entry] of batch) void this.applyEntry(conversationId, entry);
  }

  private async applyEntry(conversationId: string, entry: Pending): Promise<void> {
    const { read, delivered } = entry;
    let readUpTo: number | undefined;
    if (read) {
      try {
        const outcome = await this.apply(conversationId, 'read', read.upToSeq);
        readUpTo = read.upToSeq;
        for (const waiter of read.waiters) waiter.resolve(outcome);
      } catch (error) {
        for (const waiter of read.waiters) waiter.reject(error);
      }
    }
    if (!delivered) return;
    // Read implies delivered: once the read is applied (durably), a delivered up to no further would change nothing
    // in either engine, so it is answered without its own store write.
    if (readUpTo !== undefined && delivered.upToSeq <= readUpTo) {
      for (const waiter of delivered.waiters) waiter.resolve({ changed: 0 });
      return;
    }
    try {
      const outcome = await this.apply(conversationId, 'delivered', delivered.upToSeq);
      for (const waiter of delivered.waiters) waiter.resolve(outcome);
    } catch (error) {
      for (const waiter of delivered.waiters) waiter.reject(error);
    }
  }
}
