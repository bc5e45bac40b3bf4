/**
 * Applies delivery statuses reported by external services (WhatsApp, the generic status webhook) by rank. A status
 * for an external id no message carries yet (it can race the send response) is kept by the store in the same atomic
 * step that looked for the id, and `Store.setExternalId` applies it when the id arrives: both are serialised by the
 * store on every node, so no lock lives here. The statuses are stored and announced through the conversation service;
 * what is kept here is the external side: how long an unmatched id waits, and what a webhook answers.
 */
import type { Logger } from 'pino';
import { PENDING_STATUS_NAMESPACE, StoreError, type OnceRecord, type StatusUpdate, type Store } from '../store/store.ts';
import type { Fanout } from '../fanout.ts';
import { applyExternalStatus, applyMessageStatus } from '../conversations.ts';

export { PENDING_STATUS_NAMESPACE };
/** Meta retries for up to 7 days; a status unmatched for longer will never match. */
const PENDING_TTL_MS = 7 * 24 * 3600 * 1000;

/** What happened to one reported status. */
export type ExternalStatusOutcome = 'changed' | 'unchanged' | 'pending' | 'unknown_message';

/** Dependencies of the status applier. */
export interface ExternalStatusDeps {
  store: Store;
  fanout: Fanout;
  logger: Logger;
  clock: () => Date;
}

/** Applies external statuses for one bridge. */
export class ExternalStatuses {
  constructor(private readonly deps: ExternalStatusDeps) {}

  /**
   * Applies `update` to the message whose external id is `externalId`; if there is none yet, the store keeps the
   * highest-ranked update for it (durably) until the id is attached. `once` is added in the same step (a webhook's
   * delivery id): a `StoreError` `conflict` when it was there already.
   */
  async applyByExternalId(externalId: string, update: StatusUpdate, once?: OnceRecord): Promise<ExternalStatusOutcome> {
    const { clock, logger } = this.deps;
    const keepUntil = new Date(clock().getTime() + PENDING_TTL_MS).toISOString();
    const outcome = await applyExternalStatus(this.deps, externalId, update, { keepUntil, ...(once ? { once } : {}) });
    if (outcome === 'pending') logger.info({ externalId, status: update.status }, 'webhooks: status for an unknown external id kept');
    return outcome;
  }

  /** Applies `update` to a message known by its ids, adding `once` in the same step; announces the change. */
  async applyToMessage(
    conversationId: string,
    messageId: string,
    update: StatusUpdate,
    once?: OnceRecord,
  ): Promise<ExternalStatusOutcome> {
    try {
      return await applyMessageStatus(this.deps, conversationId, messageId, update, once);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'not_found') return 'unknown_message';
      throw error;
    }
  }
}
