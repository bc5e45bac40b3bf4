/**
 * Delivers agent replies in `whatsapp` conversations to the customer through the Cloud API, from a durable queue
 * (a restart does not lose a send): Meta's message id becomes the message's external id; a permanent rejection
 * or exhausted retries mark the message failed with the reason, announced live.
 */
import type { Logger } from 'pino';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message, MessageFailure } from '../../protocol/message.ts';
import type { AxiosInstance } from 'axios';
import type { QueueItem, Store } from '../store/store.ts';
import type { Fanout, FanoutSink } from '../fanout.ts';
import type { WhatsappConfig } from './webhook-config.ts';
import type { ExternalStatuses } from './external-statuses.ts';
import { QueueWorker, type DeliveryOutcome } from './queue-worker.ts';
import { sendWhatsappText } from './graph-api-client.ts';

/** Store queue of pending WhatsApp sends. */
export const WHATSAPP_SEND_QUEUE = 'whatsapp-send';

const NOT_CONFIGURED: MessageFailure = {
  code: 'whatsapp_not_configured',
  reason: 'WhatsApp sending is not configured on this bridge (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID).',
};

/** One queued send. */
export interface WhatsappSendJob {
  conversationId: string;
  messageId: string;
  /** The customer's wa_id. */
  to: string;
  text: string;
}

/** Dependencies of WhatsApp delivery. */
export interface WhatsappDeliveryDeps {
  store: Store;
  fanout: Fanout;
  logger: Logger;
  clock: () => Date;
  http: AxiosInstance;
  config: WhatsappConfig;
  statuses: ExternalStatuses;
  pollMs: number;
}

/** The fan-out sink and queue worker that send agent replies to WhatsApp. */
export class WhatsappDelivery {
  readonly worker: QueueWorker<WhatsappSendJob>;

  constructor(private readonly deps: WhatsappDeliveryDeps) {
    this.worker = new QueueWorker<WhatsappSendJob>({
      store: deps.store,
      queue: WHATSAPP_SEND_QUEUE,
      logger: deps.logger,
      clock: deps.clock,
      retry: deps.config.retry,
      pollMs: deps.pollMs,
      deliver: (item, signal) => this.deliver(item, signal),
      settled: (item, outcome) => this.settled(item, outcome),
      concurrency: 4,
    });
  }

  /** The fan-out sink: queue agent replies of WhatsApp conversations; re-send on `message:retry`. */
  sink(): FanoutSink {
    return {
      name: 'whatsapp-delivery',
      messageCreated: async (message, conversation) => {
        if (conversation.channel !== 'whatsapp' || message.author.role !== 'agent') return;
        await this.queueSend(message, conversation);
      },
      retryDelivery: async (message, conversation) => {
        if (conversation.channel !== 'whatsapp') return undefined;
        if (message.author.role !== 'agent') return undefined;
        // Already accepted by Meta and not failed since: a second send would duplicate the reply on the phone.
        if (message.externalId && message.status !== 'failed') return message;
        await this.queueSend(message, conversation);
        return message;
      },
    };
  }

  private async queueSend(message: Message, conversation: Conversation): Promise<void> {
    if (!this.deps.config.send) {
      await this.markFailed(message.conversationId, message.id, NOT_CONFIGURED);
      return;
    }
    if (!conversation.externalUserId) {
      await this.markFailed(message.conversationId, message.id, {
        code: 'whatsapp_no_recipient',
        reason: 'This conversation has no WhatsApp number to reply to.',
      });
      return;
    }
    await this.deps.store.enqueue<WhatsappSendJob>(WHATSAPP_SEND_QUEUE, {
      conversationId: message.conversationId,
      messageId: message.id,
      to: conversation.externalUserId,
      text: message.text,
    });
    this.worker.kick();
  }

  private async deliver(item: QueueItem<WhatsappSendJob>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { config, http, clock } = this.deps;
    const job = item.payload;
    if (!config.send) {
      // Queued by an earlier run that had the settings: tell the agent instead of leaving the reply `sent`.
      await this.markFailed(job.conversationId, job.messageId, NOT_CONFIGURED);
      return { ok: false, permanent: true, error: 'WhatsApp sending is not configured' };
    }
    const result = await sendWhatsappText(
      http,
      { apiBase: config.apiBase, ...config.send, timeoutMs: config.timeoutMs },
      job.to,
      job.text,
      signal,
      clock,
    );
    if (result.kind === 'sent') {
      await this.deps.statuses.attachExternalId(job.conversationId, job.messageId, result.externalId);
      return { ok: true, status: result.status };
    }
    if (result.kind === 'retry') {
      return { ok: false, permanent: false, error: result.error, status: result.status, retryAfterMs: result.retryAfterMs };
    }
    await this.markFailed(job.conversationId, job.messageId, { code: result.code, reason: result.reason });
    return { ok: false, permanent: true, status: result.status, error: `rejected ${result.code}: ${result.reason}` };
  }

  private async settled(item: QueueItem<WhatsappSendJob>, outcome: DeliveryOutcome): Promise<void> {
    // Permanent rejections were marked with Meta's reason in deliver(); this is the give-up after retries.
    if (item.state !== 'dead' || outcome.ok || outcome.permanent) return;
    await this.markFailed(item.payload.conversationId, item.payload.messageId, {
      code: 'upstream_failed',
      reason: `WhatsApp could not be reached after ${item.attempts} attempts (${outcome.error}).`.slice(0, 500),
    });
  }

  private async markFailed(conversationId: string, messageId: string, failure: MessageFailure): Promise<void> {
    const result = await this.deps.store.applyStatus(conversationId, messageId, { status: 'failed', failure });
    if (result.changed.length > 0) await this.deps.fanout.statusChanged(result.changed, result.conversation);
  }
}
