/**
 * Applies delivery statuses reported by external services (WhatsApp, the generic status webhook) by rank, and
 * keeps a status for an external id that is not known yet (it can race the send response) until
 * `attachExternalId` links that id to a message. Every change is announced through fan-out.
 */
import type { Logger } from 'pino';
import type { Message } from '../../protocol/message.ts';
import { STATUS_RANK } from '../../protocol/status.ts';
import type { StatusResult, StatusUpdate, Store } from '../store/store.ts';
import type { Fanout } from '../fanout.ts';

/** Store namespace of statuses waiting for their external id to appear. */
export const PENDING_STATUS_NAMESPACE = 'pending-status';
/** Meta retries for up to 7 days; a status unmatched for longer will never match. */
const PENDING_TTL_MS = 7 * 24 * 3600 * 1000;

/** What happened to one reported status. */
export type ExternalStatusOutcome = 'changed' | 'unchanged' | 'pending' | 'unknown_message';

/** Serialises async work per key (one external id), so a status and the id's arrival cannot interleave. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Dependencies of the status applier. */
export interface ExternalStatusDeps {
  store: Store;
  fanout: Fanout;
  logger: Logger;
  clock: () => Date;
}

/** Applies external statuses for one bridge. */
export class ExternalStatuses {
  private readonly lock = new KeyedLock();

  constructor(private readonly deps: ExternalStatusDeps) {}

  /**
   * Applies `update` to the message whose external id is `externalId`; if there is none yet, keeps the
   * highest-ranked pending update for it (durably) to apply once the id is attached.
   */
  async applyByExternalId(externalId: string, update: StatusUpdate): Promise<ExternalStatusOutcome> {
    return this.lock.run(externalId, async () => {
      const { store, clock, logger } = this.deps;
      // One store call (no message copy) where the store offers it; other stores take the lookup + apply path.
      if (store.applyStatusByExternalId) {
        const result = await store.applyStatusByExternalId(externalId, update);
        if (result) return this.announce(result);
      } else {
        const message = await store.findMessageByExternalId(externalId);
        if (message) return this.apply(message.conversationId, message.id, update);
      }
      const pending = await store.getRecord<StatusUpdate>(PENDING_STATUS_NAMESPACE, externalId);
      if (pending && STATUS_RANK[pending.status] >= STATUS_RANK[update.status]) return 'pending';
      const expiresAt = new Date(clock().getTime() + PENDING_TTL_MS).toISOString();
      await store.putRecord(PENDING_STATUS_NAMESPACE, externalId, update, expiresAt);
      logger.info({ externalId, status: update.status }, 'webhooks: status for an unknown external id kept');
      return 'pending';
    });
  }

  /** Applies `update` to a message known by its ids; announces the change. */
  async applyToMessage(conversationId: string, messageId: string, update: StatusUpdate): Promise<ExternalStatusOutcome> {
    const message = await this.deps.store.getMessage(conversationId, messageId);
    if (!message) return 'unknown_message';
    return this.apply(conversationId, messageId, update);
  }

  /**
   * Links `externalId` to a message (the send response's id) and applies any status that arrived for it first.
   * Use this instead of `store.setExternalId` so such a status is not left waiting.
   */
  async attachExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    return this.lock.run(externalId, async () => {
      const { store } = this.deps;
      let message = await store.setExternalId(conversationId, messageId, externalId);
      const pending = await store.getRecord<StatusUpdate>(PENDING_STATUS_NAMESPACE, externalId);
      if (pending) {
        await this.apply(conversationId, messageId, pending);
        await store.deleteRecord(PENDING_STATUS_NAMESPACE, externalId);
        message = (await store.getMessage(conversationId, messageId)) ?? message;
      }
      return message;
    });
  }

  private async apply(conversationId: string, messageId: string, update: StatusUpdate): Promise<ExternalStatusOutcome> {
    return this.announce(await this.deps.store.applyStatus(conversationId, messageId, update));
  }

  private async announce(result: StatusResult): Promise<ExternalStatusOutcome> {
    if (result.changed.length === 0) return 'unchanged';
    await this.deps.fanout.statusChanged(result.changed, result.conversation);
    return 'changed';
  }
}
