/**
 * The message segments: which segment holds a seq, their files on disk, and the bounded in-memory cache of their
 * documents (least recently used clean ones are dropped; dirty ones and those of a conversation in use stay).
 */
import { join } from 'node:path';
import type { Message } from '../../../protocol/message.ts';
import { AtomicJsonFile, CorruptFileError } from './atomic-json-file.ts';
import { DIRS, SegmentDoc, freezeSegment, type Doc, type SegmentData } from './documents.ts';
import type { LowdbState } from './lowdb-state.ts';
import { fileKey, isObject } from './stored-shapes.ts';

/** Segment documents in memory and segment files on disk. */
export class SegmentCache {
  /** Segment documents by `key(conversationId, k)`, least recently used first. */
  docs = new Map<string, Doc<SegmentData>>();
  loads = new Map<string, Promise<Doc<SegmentData>>>();
  /** Segment files in `segments/` (names). */
  existingFiles = new Set<string>();
  /**
   * Segment files of erased conversations, deleted once a checkpoint has retired every journal that could still
   * replay into them; also set at open for orphans a crash left behind.
   */
  erasedFiles = new Set<string>();
  /** Cache size at which the next eviction scan runs after one that could not get below the limit. */
  evictionRetryAt = 0;

  constructor(private readonly s: LowdbState) {}

  /** Forgets every segment (before an open loads the data directory). */
  reset(): void {
    this.docs = new Map();
    this.loads = new Map();
    this.existingFiles = new Set();
    this.erasedFiles = new Set();
    this.evictionRetryAt = 0;
  }

  segmentOf(seq: number): number {
    return Math.floor((seq - 1) / this.s.segmentSize);
  }

  fileName(conversationId: string, k: number): string {
    return `${fileKey(conversationId)}.${k}.json`;
  }

  key(conversationId: string, k: number): string {
    return `${conversationId}\u0000${k}`;
  }

  /** The segment if it is in memory (marked most recently used), without a promise: the append fast path. */
  cached(conversationId: string, k: number): Doc<SegmentData> | undefined {
    const key = this.key(conversationId, k);
    const cached = this.docs.get(key);
    if (cached) {
      this.docs.delete(key);
      this.docs.set(key, cached);
    }
    return cached;
  }

  async get(conversationId: string, k: number): Promise<Doc<SegmentData>> {
    const cached = this.cached(conversationId, k);
    if (cached) return cached;
    const key = this.key(conversationId, k);
    const loading = this.loads.get(key);
    if (loading) return loading;
    const load = this.load(conversationId, k).finally(() => this.loads.delete(key));
    this.loads.set(key, load);
    return load;
  }

  private async load(conversationId: string, k: number): Promise<Doc<SegmentData>> {
    const first = k * this.s.segmentSize + 1;
    const adapter = new AtomicJsonFile<SegmentData>(
      join(this.s.dataDir, DIRS.segments, this.fileName(conversationId, k)),
      (v) => {
        if (!isObject(v) || !Array.isArray(v.messages) || v.conversationId !== conversationId || v.segment !== k) {
          return `expected segment ${k} of conversation ${conversationId}`;
        }
        for (const [i, m] of v.messages.entries()) {
          if (!isObject(m) || m.seq !== first + i) return `message ${i} is not seq ${first + i}`;
        }
        return undefined;
      },
      false,
    );
    // A segment never checkpointed has no file yet: skip the failing open() on the append path.
    const onDisk = this.existingFiles.has(adapter.name);
    // A conversation reusing an erased one's id: its own document will replace that file, so it is not deleted.
    if (this.s.entries.has(conversationId)) this.erasedFiles.delete(adapter.name);
    const data = onDisk ? await adapter.read() : null;
    if (onDisk && data === null) throw new CorruptFileError(adapter.path, 'disappeared while the store was running');
    const doc = new SegmentDoc(adapter, data ?? { conversationId, segment: k, messages: [] }, freezeSegment);
    const key = this.key(conversationId, k);
    const raced = this.docs.get(key);
    if (raced) return raced;
    // Evict before inserting: the new document is not dirty yet, and must stay the one copy its caller changes.
    this.evict(1);
    this.docs.set(key, doc);
    return doc;
  }

  /**
   * Drops least recently used clean segments until `room` more fit. Segments of a conversation with a call in
   * progress stay: that call may hold the document and change it, and a second copy loaded later would diverge.
   */
  evict(room = 0): void {
    const limit = this.s.maxCachedSegments;
    if (this.docs.size + room <= limit || this.docs.size + room < this.evictionRetryAt) return;
    // Down to 90 %: one scan serves the next tenth of the cache's loads, instead of a scan per load.
    const target = Math.floor(limit * 0.9);
    for (const [key, doc] of this.docs) {
      if (this.docs.size + room <= target) break;
      if (!doc.dirty && !doc.inSnapshot && !this.s.locks.has(doc.data.conversationId)) this.docs.delete(key);
    }
    // What is left is dirty since the last checkpoint or in use (during a fast fill: nearly all). Scanning it again
    // on every load cost O(cache) each, and many conversations rolling over to new segments at once blocked the loop,
    // so retry only after another tenth of growth, or after a checkpoint.
    const size = this.docs.size + room;
    this.evictionRetryAt = size > limit ? size + Math.ceil(limit / 10) : 0;
  }

  async messageAt(conversationId: string, seq: number): Promise<Message> {
    const seg = await this.get(conversationId, this.segmentOf(seq));
    const m = seg.data.messages[seq - 1 - seg.data.segment * this.s.segmentSize];
    if (!m) throw new CorruptFileError(seg.adapter.path, `lacks message seq ${seq}`);
    return m;
  }

  verifyPresent(): void {
    for (const [id, entry] of this.s.entries) {
      const count = Math.ceil(entry.record.conversation.lastSeq / this.s.segmentSize);
      for (let k = 0; k < count; k++) {
        const name = this.fileName(id, k);
        if (!this.existingFiles.has(name) && !this.docs.has(this.key(id, k))) {
          throw new CorruptFileError(
            join(this.s.dataDir, DIRS.segments, name),
            `is missing although conversation ${id} has ${entry.record.conversation.lastSeq} messages`,
          );
        }
      }
    }
  }

  /** Segment files whose conversation no longer exists: what an erasure interrupted after its checkpoint left. */
  findOrphans(): void {
    const live = new Set<string>();
    for (const id of this.s.entries.keys()) live.add(fileKey(id));
    for (const name of this.existingFiles) {
      const key = name.slice(0, name.indexOf('.'));
      if (!live.has(key)) this.erasedFiles.add(name);
    }
    for (const name of this.erasedFiles) this.existingFiles.delete(name);
    if (this.erasedFiles.size > 0) {
      this.s.logger.warn({ files: this.erasedFiles.size }, 'deleting segment files of erased conversations');
    }
  }
}
