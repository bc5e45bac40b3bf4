/** Items kept in a fixed number of bucket documents chosen by a hash of the key, so a change rewrites one small file. */
import { join } from 'node:path';
import { AtomicJsonFile } from './atomic-json-file.ts';
import { BucketDoc, Doc, type AnyDoc, type BucketData } from './documents.ts';
import { fnv1a, isObject } from './stored-shapes.ts';

/** A group of documents stored as `buckets` lowdb files, chosen by a hash of the key, so a change rewrites one small file. */
export class BucketedCollection<V> {
  readonly docs: Doc<BucketData<V>>[] = [];
  size = 0;
  /**
   * The keys of each group (`groupOf`) listed so far, kept up to date from its first listing on: a listing then reads
   * its own keys rather than every item of every bucket, and groups never listed cost nothing.
   */
  private readonly groups = new Map<string, Set<string>>();

  constructor(
    readonly dir: string,
    readonly buckets: number,
    private readonly validateItem: (value: unknown) => string | undefined,
    private readonly touch: (doc: AnyDoc) => void,
    freeze?: (data: BucketData<V>) => BucketData<V>,
    private readonly groupOf?: (key: string) => string,
  ) {
    for (let i = 0; i < buckets; i++) {
      const adapter = new AtomicJsonFile<BucketData<V>>(join(dir, `${i}.json`), (v) => this.validate(v), false);
      const data: BucketData<V> = { items: Object.create(null) as Record<string, V> };
      this.docs.push(freeze ? new BucketDoc(adapter, data, freeze) : new Doc(adapter, data));
    }
  }

  private validate(value: unknown): string | undefined {
    if (!isObject(value) || !isObject(value.items)) return 'expected {"items": {…}}';
    for (const key of Object.keys(value.items)) {
      const problem = this.validateItem(value.items[key]);
      if (problem !== undefined) return `item ${JSON.stringify(key)}: ${problem}`;
    }
    return undefined;
  }

  async load(): Promise<void> {
    this.size = 0;
    this.groups.clear();
    for (const doc of this.docs) {
      const data = await doc.adapter.read();
      // A null-prototype object: keys such as "__proto__" stay plain keys.
      const items = Object.assign(Object.create(null) as Record<string, V>, data?.items ?? {});
      doc.low.data = { items };
      this.size += Object.keys(items).length;
    }
  }

  private docOf(key: string): Doc<BucketData<V>> {
    return this.docs[fnv1a(key) % this.buckets]!;
  }

  get(key: string): V | undefined {
    return this.docOf(key).data.items[key];
  }

  set(key: string, value: V): void {
    const doc = this.docOf(key);
    this.touch(doc as AnyDoc);
    if (!(key in doc.data.items)) {
      this.size++;
      if (this.groups.size > 0) this.groups.get(this.groupOf!(key))?.add(key);
    }
    doc.data.items[key] = value;
  }

  delete(key: string): void {
    const doc = this.docOf(key);
    if (!(key in doc.data.items)) return;
    this.touch(doc as AnyDoc);
    delete doc.data.items[key];
    this.size--;
    if (this.groups.size > 0) this.groups.get(this.groupOf!(key))?.delete(key);
  }

  /** The keys of `group` (collections made with `groupOf` only); the first call for a group reads every key once. */
  keysOf(group: string): ReadonlySet<string> {
    if (!this.groupOf) throw new Error('this collection has no groups');
    let keys = this.groups.get(group);
    if (!keys) {
      keys = new Set();
      for (const doc of this.docs) for (const key of Object.keys(doc.data.items)) if (this.groupOf(key) === group) keys.add(key);
      this.groups.set(group, keys);
    }
    return keys;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const doc of this.docs) {
      for (const key of Object.keys(doc.data.items)) yield [key, doc.data.items[key]!];
    }
  }
}
