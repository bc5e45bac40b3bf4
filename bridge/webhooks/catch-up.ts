/**
 * Closes the gap between storing a change and queueing its outbound work: the live sinks queue an event or a
 * WhatsApp send right after the store has the message, so a crash in between would lose that work. This catch-up
 * re-derives what the sinks should have queued from the store's change log (`getChangesSince`) and queues it
 * again — a no-op for work already queued, because queue ids are derived from the message (see `eventIdOf`,
 * `sendIdOf`). A durable per-conversation cursor (`{rev, seq}` as of the last pass) bounds the work: only
 * conversations whose `rev` is above their cursor are read — at start, and for the conversations the live sinks saw
 * change once traffic pauses (or every few seconds under continuous traffic). The cursor is written after the work
 * up to it is durably queued, in one batch per pass (never per message), and may lag behind: replaying a lagging
 * stretch queues nothing twice.
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
/**
 * A pass over the conversations the live sinks saw change runs once no change came for `CATCH_UP_QUIET_MS` (so the
 * store is quiet shortly after traffic stops), and at the latest `CATCH_UP_MAX_DELAY_MS` after the first change it
 * covers (so continuous traffic writes each busy conversation's cursor at most that often).
 */
export const CATCH_UP_QUIET_MS = 50;
/** See `CATCH_UP_QUIET_MS`; also the retry delay after a pass that could not catch a conversation up. */
export const CATCH_UP_MAX_DELAY_MS = 5_000;

/** How far the outbound work of one conversation is known to be queued. */
export interface SinkCursor {
  /** Every change with rev ≤ this has its events and sends queued. */
  rev: number;
  /** The conversation's lastSeq when `rev` was read: messages above it were created later. */
  seq: number;
}

/** The record `sink-catch-up/baseline`: since when cursors are kept, and whether for every conversation. */
interface CatchUpBaseline {
  at: string;
  /** Event webhooks were on: every conversation is followed, not only WhatsApp ones. */
  events: boolean;
}

/** Dependencies of the catch-up. */
export interface CatchUpDeps {
  store: Store;
  logger: Logger;
  clock: () => Date;
  events: Pick<EventWebhooks, 'enabled' | 'publish'>;
  whatsapp: Pick<WhatsappDelivery, 'queueSend'>;
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
  /** When the first change not yet covered by a pass, and the latest change, were noted (ms). */
  private firstNoteAt = 0;
  private lastNoteAt = 0;

  constructor(private readonly deps: CatchUpDeps) {}

  /** Notes every conversation that changed, so a pass soon advances its cursor. */
  sink(): FanoutSink {
    return {
      name: 'sink-catch-up',
      messageCreated: (_message, conversation) => this.note(conversation),
      statusChanged: (_messages, conversation) => this.note(conversation),
    };
  }

  /** Runs the start pass in the background (the bridge listens meanwhile); later passes follow the changes. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.serial(() => this.startPass());
  }

  /** Resolves when the passes started so far have finished (tests). */
  async idle(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.running;
      await current;
    } while (current !== this.running);
  }

  /** Stops scheduling and runs a last pass, so a clean restart has nothing to catch up. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.serial(() => this.pass());
    await this.idle();
  }

  private note(conversation: Conversation): void {
    if (!this.followed(conversation)) return;
    const now = Date.now();
    this.dirty.add(conversation.id);
    if (this.firstNoteAt === 0) this.firstNoteAt = now;
    this.lastNoteAt = now;
    this.arm(CATCH_UP_QUIET_MS);
  }

  /** One timer at most; it checks the quiet/max-delay rule when it fires instead of being reset per change. */
  private arm(delayMs: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      const quietFor = now - this.lastNoteAt;
      const waited = now - this.firstNoteAt;
      if (quietFor < CATCH_UP_QUIET_MS && waited < CATCH_UP_MAX_DELAY_MS) {
        this.arm(Math.min(CATCH_UP_QUIET_MS - quietFor, CATCH_UP_MAX_DELAY_MS - waited));
        return;
      }
      this.firstNoteAt = 0;
      this.serial(async () => {
        await this.pass();
        // Conversations that failed (storage trouble) are retried later; new changes arm their own timer.
        if (this.dirty.size > 0) this.arm(CATCH_UP_MAX_DELAY_MS);
      });
    }, delayMs);
    this.timer.unref();
  }

  /** Passes never overlap: two passes over one conversation could write an older cursor after a newer one. */
  private serial(work: () => Promise<void>): void {
    this.running = this.running.then(work).catch((error: unknown) => {
      this.deps.logger.error({ err: error }, 'webhooks: catch-up pass failed');
    });
  }

  private async startPass(): Promise<void> {
    const { store, clock, logger, events } = this.deps;
    const started = Date.now();
    const conversations = await store.listConversations({ filter: 'all' });
    const baseline = await store.getRecord<CatchUpBaseline>(CATCH_UP_NAMESPACE, 'baseline');
    // What is stored was handled by whoever stored it when this catch-up did not follow it: on the first start of a
    // data directory (new, or written by an older bridge) every conversation, and when event webhooks were off
    // until now every conversation that was not followed (only WhatsApp ones were). They get a cursor at their
    // current state; only later changes are caught up.
    const unfollowed = (
      !baseline ? conversations : !baseline.events && events.enabled ? conversations.filter((c) => c.channel !== 'whatsapp') : []
    ).filter((c) => this.followed(c));
    await inChunks(unfollowed, (c) => this.writeCursor(c.id, { rev: c.rev, seq: c.lastSeq }), 512);
    if (!baseline || baseline.events !== events.enabled) {
      await store.putRecord(CATCH_UP_NAMESPACE, 'baseline', { at: baseline?.at ?? clock().toISOString(), events: events.enabled } satisfies CatchUpBaseline);
    }
    if (!baseline) return;
    const skip = new Set(unfollowed.map((c) => c.id));
    for (const conversation of conversations) {
      if (skip.has(conversation.id) || !this.followed(conversation)) continue;
      const cursor = await this.cursorOf(conversation.id);
      if (conversation.rev > cursor.rev) this.dirty.add(conversation.id);
    }
    const behind = this.dirty.size;
    await this.pass();
    if (behind > 0) logger.info({ conversations: behind, ms: Date.now() - started }, 'webhooks: caught up after start');
  }

  /**
   * Conversations with outbound work: all when event webhooks are on, else only WhatsApp ones (agent replies). Others
   * need no cursor, so a bridge without webhooks writes nothing for web conversations.
   */
  private followed(conversation: Conversation): boolean {
    return this.deps.events.enabled || conversation.channel === 'whatsapp';
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
    const { store } = this.deps;
    const conversation = await store.getConversation(conversationId);
    if (!conversation || !this.followed(conversation)) return;
    const cursor = await this.cursorOf(conversationId);
    if (conversation.rev <= cursor.rev) return;
    // Read before the changes: anything changing meanwhile has a higher rev and is caught up by the next pass.
    const next: SinkCursor = { rev: conversation.rev, seq: conversation.lastSeq };
    // Without event webhooks only new messages have work (WhatsApp sends); status changes alone (the bulk of a
    // WhatsApp conversation's changes) have none, so their changes need not be read.
    const workPossible = this.deps.events.enabled || conversation.lastSeq > cursor.seq;
    for (let after = cursor.rev; workPossible; ) {
      const changes = await store.getChangesSince(conversationId, after, PAGE);
      await this.queueWork(changes, conversation, cursor);
      if (changes.length < PAGE) break;
      after = changes.at(-1)!.rev;
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
