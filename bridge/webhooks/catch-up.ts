/**
 * Closes the gap between storing a change and queueing its outbound work: the live sinks queue an event or a
 * WhatsApp send right after the store has the message, so a crash in between would lose that work. This catch-up
 * re-derives what the sinks should have queued from the store's change log (`getChangesSince`) and queues it
 * again — a no-op for work already queued, because queue ids are derived from the message (see `eventIdOf`,
 * `sendIdOf`). A durable per-conversation cursor (`{rev, seq}` as of the last pass) bounds the work: only
 * conversations whose `rev` is above their cursor are read, at start and every few seconds for the conversations
 * the live sinks saw change. The cursor is written after the work up to it is durably queued, in one batch per
 * pass (never per message), and may lag behind: replaying a lagging stretch queues nothing twice.
 */
import type { Logger } from 'pino';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message } from '../../protocol/message.ts';
import type { Store } from '../store/store.ts';
import type { FanoutSink } from '../fanout.ts';
import type { EventWebhooks } from './event-webhooks.ts';
import { isWhatsappReply, type WhatsappDelivery } from './whatsapp-delivery.ts';

/** Store namespace of per-conversation cursors (key: conversation id). */
export const CURSOR_NAMESPACE = 'sink-cursor';
/** Store namespace of the catch-up's own facts: key `baseline` exists once every conversation had a cursor. */
export const CATCH_UP_NAMESPACE = 'sink-catch-up';
/** How often the conversations the live sinks saw change get their cursor advanced (and their work re-checked). */
export const CATCH_UP_INTERVAL_MS = 5_000;

/** How far the outbound work of one conversation is known to be queued. */
export interface SinkCursor {
  /** Every change with rev ≤ this has its events and sends queued. */
  rev: number;
  /** The conversation's lastSeq when `rev` was read: messages above it were created later. */
  seq: number;
}

/** Dependencies of the catch-up. */
export interface CatchUpDeps {
  store: Store;
  logger: Logger;
  clock: () => Date;
  events: Pick<EventWebhooks, 'enabled' | 'publish'>;
  whatsapp: Pick<WhatsappDelivery, 'queueSend'>;
  /** Default `CATCH_UP_INTERVAL_MS`. */
  intervalMs?: number;
}

const PAGE = 500;
const CONCURRENCY = 8;

/**
 * True when `message` moved away from the status it was stored with (so a `message.status` event exists for its
 * current status). A change always adds the new status to `statusAt` and keeps the old ones; a message stored as
 * `read` starts with `read` and `delivered` at its creation time.
 */
export function hasStatusChange(message: Message): boolean {
  const reached = Object.keys(message.statusAt);
  if (reached.length === 1) return false;
  if (reached.length > 2 || message.status !== 'read') return true;
  return !(message.statusAt.delivered === message.createdAt && message.statusAt.read === message.createdAt);
}

/** The catch-up of one bridge: a fan-out sink noting changed conversations, a start pass and periodic passes. */
export class SinkCatchUp {
  private readonly dirty = new Set<string>();
  private running: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(private readonly deps: CatchUpDeps) {}

  /** Notes every conversation that changed, so the next pass advances its cursor. */
  sink(): FanoutSink {
    return {
      name: 'sink-catch-up',
      messageCreated: (_message, conversation) => void this.dirty.add(conversation.id),
      statusChanged: (_messages, conversation) => void this.dirty.add(conversation.id),
    };
  }

  /** Runs the start pass in the background (the bridge listens meanwhile), then a pass every interval. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.serial(() => this.startPass());
    const tick = () => {
      this.serial(() => this.pass());
      this.timer = setTimeout(tick, this.deps.intervalMs ?? CATCH_UP_INTERVAL_MS);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, this.deps.intervalMs ?? CATCH_UP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Resolves when the passes started so far have finished (tests). */
  async idle(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.running;
      await current;
    } while (current !== this.running);
  }

  /** Stops the timer and runs a last pass, so a clean restart has nothing to catch up. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.serial(() => this.pass());
    await this.idle();
  }

  /** Passes never overlap: two passes over one conversation could write an older cursor after a newer one. */
  private serial(work: () => Promise<void>): void {
    this.running = this.running.then(work).catch((error: unknown) => {
      this.deps.logger.error({ err: error }, 'webhooks: catch-up pass failed');
    });
  }

  private async startPass(): Promise<void> {
    const { store, clock, logger } = this.deps;
    const started = Date.now();
    const conversations = await store.listConversations({ filter: 'all' });
    if (!(await store.getRecord(CATCH_UP_NAMESPACE, 'baseline'))) {
      // The first start of a data directory with this catch-up (new, or written by an older bridge): what is
      // stored was handled by whoever stored it. Every conversation gets a cursor at its current state; only
      // later changes are caught up.
      await inChunks(conversations, (c) => this.writeCursor(c.id, { rev: c.rev, seq: c.lastSeq }), 512);
      await store.putRecord(CATCH_UP_NAMESPACE, 'baseline', { at: clock().toISOString() });
      return;
    }
    for (const conversation of conversations) {
      const cursor = await this.cursorOf(conversation.id);
      if (conversation.rev > cursor.rev) this.dirty.add(conversation.id);
    }
    const behind = this.dirty.size;
    await this.pass();
    if (behind > 0) logger.info({ conversations: behind, ms: Date.now() - started }, 'webhooks: caught up after start');
  }

  /** Catches up every conversation noted as changed; a failed one stays noted for the next pass. */
  private async pass(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    await inChunks(ids, async (id) => {
      try {
        await this.catchUp(id);
      } catch (error) {
        this.dirty.add(id);
        this.deps.logger.warn({ err: error, conversationId: id }, 'webhooks: catch-up of a conversation failed');
      }
    });
  }

  private async catchUp(conversationId: string): Promise<void> {
    const { store, events } = this.deps;
    const conversation = await store.getConversation(conversationId);
    if (!conversation) return;
    const cursor = await this.cursorOf(conversationId);
    if (conversation.rev <= cursor.rev) return;
    // Read before the changes: anything changing meanwhile has a higher rev and is caught up by the next pass.
    const next: SinkCursor = { rev: conversation.rev, seq: conversation.lastSeq };
    if (events.enabled || conversation.channel === 'whatsapp') {
      for (let after = cursor.rev; ; ) {
        const changes = await store.getChangesSince(conversationId, after, PAGE);
        await this.queueWork(changes, conversation, cursor);
        if (changes.length < PAGE) break;
        after = changes.at(-1)!.rev;
      }
    }
    await this.writeCursor(conversationId, next);
  }

  /** Queues what the live sinks queue for these messages (each in its current state); already queued work stays as it is. */
  private async queueWork(changes: Message[], conversation: Conversation, cursor: SinkCursor): Promise<void> {
    const { events, whatsapp } = this.deps;
    // Messages at or below the cursor's seq existed when it was written: their creation was handled then.
    const created = changes.filter((m) => m.seq > cursor.seq);
    const sends = created.filter((m) => isWhatsappReply(m, conversation) && m.externalId === undefined && m.status !== 'failed');
    await Promise.all([
      events.publish('message.created', created, conversation),
      events.publish('message.status', changes.filter(hasStatusChange), conversation),
      ...sends.map((m) => whatsapp.queueSend(m, conversation)),
    ]);
  }

  private async cursorOf(conversationId: string): Promise<SinkCursor> {
    // No cursor after the baseline: the conversation is newer than the last pass, so everything in it is caught up.
    return (await this.deps.store.getRecord<SinkCursor>(CURSOR_NAMESPACE, conversationId)) ?? { rev: 0, seq: 0 };
  }

  private writeCursor(conversationId: string, cursor: SinkCursor): Promise<void> {
    return this.deps.store.putRecord(CURSOR_NAMESPACE, conversationId, cursor);
  }
}

/** Runs `work` over `items`, `size` at a time (the store group-commits the writes of one chunk). */
async function inChunks<T>(items: T[], work: (item: T) => Promise<void>, size = CONCURRENCY): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}
