/**
 * The lowdb documents of the data directory (message segments, bucket documents) with the checkpoint's bookkeeping:
 * dirty since last written, copy-on-write while a checkpoint writes them, and their JSON written in pieces.
 */
import { Low } from 'lowdb';
import type { Message } from '../../../protocol/message.ts';
import type { AtomicJsonFile } from './atomic-json-file.ts';
import { cloneConversation, type ConversationRecord } from './stored-shapes.ts';

/** The folders of the data directory, one per kind of document. */
export const DIRS = {
  conversations: 'conversations',
  agents: 'agents',
  records: 'records',
  queues: 'queues',
  externalIds: 'external-ids',
  segments: 'segments',
  attachments: 'attachments',
} as const;

/** The checkpoint's commit point: which journal generation the documents include. */
export const MANIFEST = 'manifest.json';

/** A segment file: `segmentSize` consecutive messages of one conversation. */
export interface SegmentData {
  conversationId: string;
  segment: number;
  messages: Message[];
}

/** A bucket file: the items whose key hashes to this bucket. */
export interface BucketData<V> {
  items: Record<string, V>;
}

/** What `manifest.json` holds. */
export interface ManifestData {
  version: 1;
  generation: number;
  segmentSize: number;
}

/** A lowdb document with the checkpoint's bookkeeping: dirty since last written, or part of a running snapshot. */
export class Doc<T> {
  readonly low: Low<T>;
  dirty = false;
  inSnapshot = false;
  /** The document as of the checkpoint's cut, taken when it was changed while still waiting to be written. */
  snapshotText: string | undefined;
  snapshotData: T | undefined;
  constructor(
    readonly adapter: AtomicJsonFile<T>,
    data: T,
    /**
     * A cheap structural copy that stays equal to `data` as of now whatever the store changes later (valid only
     * under that document type's mutation rules). Without it, copy-on-write serialises the whole document.
     */
    readonly freeze?: (data: T) => T,
  ) {
    this.low = new Low(adapter, data);
  }
  get data(): T {
    return this.low.data;
  }
  /** Copy-on-write: keep the snapshot state before the first change after the cut. */
  preserveSnapshot(): void {
    if (!this.inSnapshot || this.snapshotText !== undefined || this.snapshotData !== undefined) return;
    if (this.freeze) this.snapshotData = this.freeze(this.data);
    else this.snapshotText = JSON.stringify(this.data);
  }
  /**
   * The snapshot's JSON, as the pieces a checkpoint writes one after the other: what was preserved, or the current
   * data if nothing changed since the cut. One piece here; large documents override this to make many small ones.
   */
  *snapshotPieces(): Iterable<string> {
    yield this.snapshotText ?? JSON.stringify(this.snapshotData ?? this.data);
  }
  clearSnapshot(): void {
    this.inSnapshot = false;
    this.snapshotText = undefined;
    this.snapshotData = undefined;
  }
}

/**
 * A segment document that encodes its messages incrementally. Messages are never mutated once stored (a change
 * stores a new object at its seq), so the JSON of the messages written by the last checkpoint stays valid for as
 * long as the same objects sit at the same positions: a checkpoint re-encodes only what was appended or replaced
 * since, and copies the unchanged prefix. At 1,000 busy conversations nearly every segment is dirty at each
 * checkpoint, and re-encoding whole segments was most of a checkpoint's CPU.
 */
export class SegmentDoc extends Doc<SegmentData> {
  /** The message objects as last encoded (compared by identity). */
  private encodedRefs: Message[] = [];
  /** The JSON of `encodedRefs`, joined by ','; `encodedEnds[i]` is where message i's JSON ends in it. */
  private encodedText = '';
  private encodedEnds: number[] = [];

  override *snapshotPieces(): Iterable<string> {
    const data = this.snapshotData ?? this.data;
    const messages = data.messages;
    const refs = this.encodedRefs;
    const limit = Math.min(refs.length, messages.length);
    let same = 0;
    while (same < limit && refs[same] === messages[same]) same++;
    let text: string;
    let ends: number[];
    if (same === messages.length && same === refs.length) {
      text = this.encodedText;
      ends = this.encodedEnds;
    } else {
      ends = this.encodedEnds.slice(0, same);
      // Array join builds one flat string: no rope keeps older encodings alive.
      const parts: string[] = same > 0 ? [this.encodedText.slice(0, ends[same - 1])] : [];
      let end = same > 0 ? ends[same - 1]! : -1;
      for (let i = same; i < messages.length; i++) {
        // A hole (never in a valid segment) encodes as JSON.stringify would: null.
        const json = messages[i] === undefined ? 'null' : JSON.stringify(messages[i]);
        parts.push(json);
        end += json.length + 1;
        ends.push(end);
      }
      text = parts.join(',');
    }
    // The snapshot's array is already a frozen copy; the live one keeps changing, so copy its pointers.
    this.encodedRefs = data === this.data ? messages.slice() : messages;
    this.encodedText = text;
    this.encodedEnds = ends;
    yield `{"conversationId":${JSON.stringify(data.conversationId)},"segment":${data.segment},"messages":[${text}]}`;
  }

  /** Forgets the encoding (a full segment rarely changes again: its text is not worth keeping in memory). */
  dropEncoding(): void {
    this.encodedRefs = [];
    this.encodedText = '';
    this.encodedEnds = [];
  }
}

/** Characters of JSON a bucket document serialises per piece: the most a checkpoint encodes between two writes. */
export const BUCKET_PIECE_CHARS = 32 * 1024;

/**
 * A bucket document (queue items, records, conversations, external ids) written in pieces of about
 * BUCKET_PIECE_CHARS, an item at a time: a bucket grows with the data (tens of thousands of queue items each), and
 * serialising it whole held the event loop for as long as that took, at every checkpoint that found it changed (a
 * retention sweep changes every queue bucket). Reading the live data across the writes' awaits is safe because the
 * bucket has a `freeze`: the first change after the cut freezes the cut's state first, and the rest is read from it.
 */
export class BucketDoc<V> extends Doc<BucketData<V>> {
  constructor(adapter: AtomicJsonFile<BucketData<V>>, data: BucketData<V>, freeze: (data: BucketData<V>) => BucketData<V>) {
    super(adapter, data, freeze);
  }

  override *snapshotPieces(): Iterable<string> {
    // A preserved text (never made for a bucket with a freeze, kept for the base class's contract) is already whole.
    if (this.snapshotText !== undefined) {
      yield this.snapshotText;
      return;
    }
    yield* bucketJsonPieces(() => (this.snapshotData ?? this.data).items, BUCKET_PIECE_CHARS);
  }
}

/**
 * `JSON.stringify({ items })` in pieces of about `pieceChars`: the same text, keys in the same order. `items` is
 * asked again for every item, so a caller can switch to a frozen copy between pieces.
 */
export function* bucketJsonPieces<V>(items: () => Record<string, V>, pieceChars: number): Iterable<string> {
  const keys = Object.keys(items());
  let piece = '{"items":{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    piece += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(items()[key])}`;
    if (piece.length >= pieceChars) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}}}`;
}

/**
 * Segments: messages are never mutated once stored (a change stores a new object at its seq: see `advance` in messages.ts),
 * so a copy of the array is a snapshot — O(messages) pointers instead of serialising the whole segment.
 */
export function freezeSegment(data: SegmentData): SegmentData {
  return { conversationId: data.conversationId, segment: data.segment, messages: data.messages.slice() };
}

/** Conversation buckets: records and their conversations are changed in place, so those two levels are copied. */
export function freezeConversationBucket(data: BucketData<ConversationRecord>): BucketData<ConversationRecord> {
  const items = Object.create(null) as Record<string, ConversationRecord>;
  for (const key of Object.keys(data.items)) {
    const record = data.items[key]!;
    items[key] = { ...record, conversation: cloneConversation(record.conversation) };
  }
  return { items };
}

/**
 * Queue, record and external-id buckets: an item is never changed in place (a change stores a new object under its
 * key), so a copy of the key → item map is a snapshot. Without it, a retention sweep pruning items while a
 * checkpoint runs serialised whole queue buckets inside the event loop.
 */
export function freezeReplacedItems<V>(data: BucketData<V>): BucketData<V> {
  return { items: Object.assign(Object.create(null) as Record<string, V>, data.items) };
}

/** Any document, as the checkpoint handles them. */
export type AnyDoc = Doc<unknown>;
