/**
 * What every part of the lowdb engine shares: its options, the open journal, the bucket collections, the conversations
 * in memory, the per-conversation locks and the set of changed documents, with the few steps every call takes
 * (wait until writable, run alone for one conversation, wait until durable).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { StoreError, type AgentRecord, type QueueItem, type StoredAttachment } from '../store.ts';
import { randomId } from '../../ids.ts';
import { OutboundWorkRegistry } from '../outbound-work.ts';
import { BucketedCollection } from './bucketed-collection.ts';
import type { CommitMarkWriter } from './commit-mark.ts';
import { DIRS, freezeConversationBucket, freezeReplacedItems, type AnyDoc } from './documents.ts';
import type { Journal } from './journal.ts';
import {
  recordNamespaceOf,
  validateAgent,
  validateAny,
  validateAttachment,
  validateConversationRecord,
  validateExternalId,
  validateQueueItem,
  type ConversationEntry,
  type ConversationRecord,
  type ExternalIdTarget,
  type StoredRecord,
} from './stored-shapes.ts';

/** Options of `LowdbStore`; everything but `dataDir` has a default. */
export interface LowdbStoreOptions {
  dataDir: string;
  clock?: () => Date;
  randomId?: () => string;
  logger?: Logger;
  /** Messages per segment file (fixed when the data directory is created). Default 100. */
  segmentSize?: number;
  /** Journal size that triggers a checkpoint. Default 16 MiB. */
  checkpointBytes?: number;
  /** A checkpoint also runs this often when anything changed. Default 30 s. */
  checkpointIntervalMs?: number;
  /** Message segments kept in memory (dirty ones are never evicted). Default 2,000. */
  maxCachedSegments?: number;
  /** Messages covered by in-memory per-conversation indexes (clientId, id, rev) before the least recently used are dropped. Default 1,000,000. */
  maxIndexedMessages?: number;
  /** Told the duration in seconds of each durable journal write (the bridge's store commit latency metric). */
  observeCommit?: (seconds: number) => void;
}

/** The embedded store's ids: 96 random bits as 16 base64url characters. */
function randomIdDefault(): string {
  return randomId(12);
}

/** Gives the event loop to other work (chat traffic) between two slices of a long scan. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The lowdb engine's shared state; each part of the engine (segments, checkpoints, queues, …) works on it. */
export class LowdbState {
  readonly dataDir: string;
  readonly clock: () => Date;
  readonly randomId: () => string;
  readonly logger: Logger;
  readonly outbound: OutboundWorkRegistry;
  /** Messages per segment: the option until open, then what the data directory's manifest says. */
  segmentSize: number;
  readonly checkpointBytes: number;
  readonly checkpointIntervalMs: number;
  readonly maxCachedSegments: number;
  readonly maxIndexedMessages: number;
  readonly observeCommit: ((seconds: number) => void) | undefined;

  opened = false;
  journal: Journal | undefined;
  commitMark: CommitMarkWriter | undefined;

  conversationBuckets!: BucketedCollection<ConversationRecord>;
  agentBuckets!: BucketedCollection<AgentRecord>;
  recordBuckets!: BucketedCollection<StoredRecord>;
  queueBuckets!: BucketedCollection<QueueItem>;
  externalIdBuckets!: BucketedCollection<ExternalIdTarget>;
  attachmentBuckets!: BucketedCollection<StoredAttachment>;

  entries = new Map<string, ConversationEntry>();
  byExternalUser = new Map<string, string>();
  messageCount = 0;
  /** Documents changed since the last checkpoint's cut. */
  dirty = new Set<AnyDoc>();
  locks = new Map<string, Promise<void>>();
  /** True while an erasure's data may still sit in a journal generation or document not yet rewritten. */
  erasureUnfinished = false;

  constructor(options: LowdbStoreOptions) {
    this.dataDir = options.dataDir;
    this.clock = options.clock ?? (() => new Date());
    this.randomId = options.randomId ?? randomIdDefault;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.outbound = new OutboundWorkRegistry(this.logger);
    this.segmentSize = options.segmentSize ?? 100;
    this.checkpointBytes = options.checkpointBytes ?? 16 * 1024 * 1024;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 30_000;
    this.maxCachedSegments = options.maxCachedSegments ?? 2000;
    this.maxIndexedMessages = options.maxIndexedMessages ?? 1_000_000;
    this.observeCommit = options.observeCommit;
  }

  /** Empty collections and maps, before an open loads the data directory into them. */
  reset(): void {
    const touch = (doc: AnyDoc): void => this.touch(doc);
    const dir = (name: string): string => join(this.dataDir, name);
    this.conversationBuckets = new BucketedCollection(dir(DIRS.conversations), 256, validateConversationRecord, touch, freezeConversationBucket);
    this.agentBuckets = new BucketedCollection(dir(DIRS.agents), 1, validateAgent, touch);
    this.recordBuckets = new BucketedCollection(dir(DIRS.records), 256, validateAny, touch, freezeReplacedItems, recordNamespaceOf);
    this.queueBuckets = new BucketedCollection(dir(DIRS.queues), 16, validateQueueItem, touch, freezeReplacedItems);
    this.externalIdBuckets = new BucketedCollection(dir(DIRS.externalIds), 64, validateExternalId, touch, freezeReplacedItems);
    this.attachmentBuckets = new BucketedCollection(dir(DIRS.attachments), 64, validateAttachment, touch, freezeReplacedItems);
    this.entries = new Map();
    this.byExternalUser = new Map();
    this.dirty = new Set();
    this.locks = new Map();
    this.messageCount = 0;
    this.erasureUnfinished = false;
  }

  /** Call before mutating a document: marks it dirty, and serialises it first if a running checkpoint still needs its old state. */
  touch(doc: AnyDoc): void {
    doc.preserveSnapshot();
    if (!doc.dirty) {
      doc.dirty = true;
      this.dirty.add(doc);
    }
  }

  assertOpen(): void {
    if (!this.opened) throw new StoreError('storage_unavailable', `store on ${this.dataDir} is not open`);
  }

  journalOrThrow(): Journal {
    this.assertOpen();
    return this.journal!;
  }

  /** Waits until the journal accepts writes (it retries a failed batch first); rejects while storage fails. */
  async writable(): Promise<Journal> {
    const journal = this.journalOrThrow();
    try {
      await journal.ready();
    } catch {
      throw new StoreError('storage_unavailable', journal.lastError ?? 'storage unavailable');
    }
    return journal;
  }

  async durable(promise: Promise<void>): Promise<void> {
    try {
      await promise;
    } catch {
      throw new StoreError('storage_unavailable', this.journal?.lastError ?? 'storage unavailable');
    }
  }

  /** Runs `fn` alone for one conversation (seq assignment, index building); changes to different ones run concurrently. */
  async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.locks.set(id, tail);
    if (previous) await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  entryOrThrow(id: string): ConversationEntry {
    const entry = this.entries.get(id);
    if (!entry) throw new StoreError('not_found', `conversation ${id} not found`);
    return entry;
  }

  /** The conversation a job's write goes into, refused once the job's queue item is gone (`NewMessage.forQueueItem`). */
  entryForWrite(id: string, forQueueItem: string | undefined): ConversationEntry {
    const entry = this.entryOrThrow(id);
    if (forQueueItem !== undefined && !this.queueBuckets.get(forQueueItem)) {
      throw new StoreError('not_found', `queue item ${forQueueItem} not found`);
    }
    return entry;
  }

  now(): string {
    return this.clock().toISOString();
  }
}
