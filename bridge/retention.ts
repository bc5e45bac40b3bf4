/**
 * Retention: a background sweep that erases conversations closed longer ago than RETENTION_DAYS and removes
 * delivered and dead queue items older than QUEUE_RETENTION_DAYS. It works in small batches and yields to the event
 * loop between them, so chat traffic is never held up behind it; time comes from the injected clock.
 */
import type { RetentionSettings } from './config.ts';
import type { BridgeContext } from './context.ts';
import { eraseConversation } from './conversation-erasure.ts';

const DAY_MS = 24 * 3600 * 1000;
/** Conversations looked up per store call; erased a few at a time (concurrent erasures share one checkpoint). */
const CONVERSATION_BATCH = 64;
const ERASE_CONCURRENCY = 8;
/** Queue items removed per store call (one journal record each). */
const QUEUE_BATCH = 500;

/** What one sweep removed. */
export interface RetentionSweep {
  erasedConversations: number;
  prunedQueueItems: number;
}

/** Lets timers and I/O run between batches. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The retention sweeper of one bridge; `start` schedules it, `sweep` runs one pass now (tests, tools). */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionSweep> | undefined;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly settings: RetentionSettings,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch((error: unknown) => this.ctx.logger.error({ err: error }, 'retention sweep failed; will retry'));
    }, this.settings.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops scheduling and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass; a call while one runs joins it. */
  sweep(): Promise<RetentionSweep> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<RetentionSweep> {
    const { store, logger } = this.ctx;
    const now = this.ctx.clock().getTime();
    const result: RetentionSweep = { erasedConversations: 0, prunedQueueItems: 0 };
    const days = this.settings.conversationDays;
    if (days !== undefined) {
      const before = new Date(now - days * DAY_MS).toISOString();
      for (;;) {
        const ids = await store.closedConversationsBefore(before, CONVERSATION_BATCH);
        let erasedNow = 0;
        for (let i = 0; i < ids.length; i += ERASE_CONCURRENCY) {
          const outcomes = await Promise.all(
            ids.slice(i, i + ERASE_CONCURRENCY).map((id) => eraseConversation(this.ctx, id, 'retention', { ifClosedBefore: before })),
          );
          for (const outcome of outcomes) {
            if (!outcome.erased) continue;
            erasedNow++;
            await outcome.announce();
          }
          await yieldToLoop();
        }
        result.erasedConversations += erasedNow;
        // Nothing erasable left (or only ones reopened meanwhile, which the next pass looks at again).
        if (ids.length < CONVERSATION_BATCH || erasedNow === 0) break;
      }
    }
    const queueBefore = new Date(now - this.settings.queueDays * DAY_MS).toISOString();
    for (;;) {
      const pruned = await store.pruneQueueItems(queueBefore, QUEUE_BATCH);
      result.prunedQueueItems += pruned;
      await yieldToLoop();
      if (pruned < QUEUE_BATCH) break;
    }
    if (result.erasedConversations > 0 || result.prunedQueueItems > 0) logger.info(result, 'retention sweep');
    return result;
  }
}
