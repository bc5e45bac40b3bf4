/** Records (`putRecord` and friends): small keyed values with an optional expiry, bucketed by namespace and key. */
import type { RecordDump, Store } from '../store.ts';
import type { JournalRecord, TxRecord } from './journal-records.ts';
import type { Journal } from './journal.ts';
import type { LowdbState } from './lowdb-state.ts';
import { copyJson, recordKey, type StoredRecord } from './stored-shapes.ts';

/** The record calls of the Store, and the record lines other changes carry in their `tx` journal line. */
export class LowdbRecords implements Pick<Store, 'putRecord' | 'getRecord' | 'deleteRecord' | 'addRecordOnce' | 'listRecords'> {
  constructor(private readonly s: LowdbState) {}

  liveRecord(namespace: string, key: string): StoredRecord | undefined {
    const record = this.s.recordBuckets.get(recordKey(namespace, key));
    if (!record) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= this.s.now()) return undefined;
    return record;
  }

  async putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    const journal = await this.s.writable();
    await this.s.durable(this.writeRecord(journal, namespace, key, value, expiresAt));
  }

  /** Sets a record in memory and returns its line for a `tx` record. */
  txRecord(namespace: string, key: string, value: unknown, expiresAt?: string): TxRecord {
    const line: TxRecord = { ns: namespace, k: key, v: copyJson(value) };
    if (expiresAt !== undefined) line.x = expiresAt;
    this.applyTxRecord(line);
    return line;
  }

  /** Removes a record in memory and returns its line for a `tx` record. */
  txRecordRemoved(namespace: string, key: string): TxRecord {
    const line: TxRecord = { ns: namespace, k: key, d: true };
    this.applyTxRecord(line);
    return line;
  }

  applyTxRecord(line: TxRecord): void {
    if (line.d) this.s.recordBuckets.delete(recordKey(line.ns, line.k));
    else this.s.recordBuckets.set(recordKey(line.ns, line.k), { value: line.v, ...(line.x !== undefined ? { expiresAt: line.x } : {}) });
  }

  writeRecord(journal: Journal, namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    const line: JournalRecord = { t: 'r', ns: namespace, k: key, v: copyJson(value) };
    if (expiresAt !== undefined) line.x = expiresAt;
    this.s.recordBuckets.set(recordKey(namespace, key), { value: line.v, ...(expiresAt !== undefined ? { expiresAt } : {}) });
    return journal.append(line);
  }

  async getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    this.s.assertOpen();
    return copyJson(this.liveRecord(namespace, key)?.value) as T | undefined;
  }

  async deleteRecord(namespace: string, key: string): Promise<void> {
    const journal = await this.s.writable();
    const storeKey = recordKey(namespace, key);
    if (this.s.recordBuckets.get(storeKey) === undefined) return;
    this.s.recordBuckets.delete(storeKey);
    await this.s.durable(journal.append({ t: 'rd', ns: namespace, k: key } satisfies JournalRecord));
  }

  async addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    const journal = await this.s.writable();
    if (this.liveRecord(namespace, key)) {
      await this.s.durable(journal.barrier());
      return false;
    }
    await this.s.durable(this.writeRecord(journal, namespace, key, value, expiresAt));
    return true;
  }

  /** The records of one namespace, by key: a namespace's keys are indexed from its first listing on (bucketed-collection.ts). */
  async listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    this.s.assertOpen();
    const now = this.s.now();
    const prefixLength = recordKey(namespace, '').length;
    const records: RecordDump[] = [];
    for (const storeKey of this.s.recordBuckets.keysOf(namespace)) {
      const record = this.s.recordBuckets.get(storeKey)!;
      if (record.expiresAt !== undefined && record.expiresAt <= now) continue;
      records.push({
        namespace,
        key: storeKey.slice(prefixLength),
        value: copyJson(record.value),
        ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
      });
    }
    records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return records.slice(0, Math.max(0, limit));
  }

  /** Drops expired records, one bucket per event-loop turn (there may be millions of replay ids). */
  async sweepExpiredRecords(): Promise<void> {
    const now = this.s.clock().toISOString();
    for (const doc of this.s.recordBuckets.docs) {
      const expired: string[] = [];
      for (const key of Object.keys(doc.data.items)) {
        const expiresAt = doc.data.items[key]!.expiresAt;
        if (expiresAt !== undefined && expiresAt <= now) expired.push(key);
      }
      // Not journaled: if the deletion is lost, the record is still expired and still invisible.
      for (const key of expired) this.s.recordBuckets.delete(key);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Every record that has not expired (for `npm run import-lowdb`). */
  exportRecords(): RecordDump[] {
    this.s.assertOpen();
    const now = this.s.now();
    const records: RecordDump[] = [];
    for (const [storeKey, record] of this.s.recordBuckets.entries()) {
      if (record.expiresAt !== undefined && record.expiresAt <= now) continue;
      const split = storeKey.indexOf('\u0000');
      records.push({
        namespace: storeKey.slice(0, split),
        key: storeKey.slice(split + 1),
        value: copyJson(record.value),
        ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
      });
    }
    return records;
  }
}
