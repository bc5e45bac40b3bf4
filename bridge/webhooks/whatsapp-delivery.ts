/**
 * Delivers agent replies in `whatsapp` conversations to the customer through the Cloud API, from a durable queue
 * (a restart does not lose a send): Meta's message id becomes the message's external id, which is what makes the
 * reply `sent` (announced live); a permanent rejection or exhausted retries mark the message failed with the
 * reason, announced live — also when a retried reply fails again. A send's queue id is derived from the message
 * (`wa-send:<messageId>`), and the store queues it in the same atomic step that stores the reply (`outbound()`).
 *
 * A reply with an attachment is uploaded to Meta's media endpoint first and sent as an image (PNG, JPEG) or document
 * (everything else, with its file name), the text as its caption. Meta's media id is stored under the send's id
 * (`WHATSAPP_UPLOAD_NAMESPACE`) before the message is sent, so a retry after a crash or a failed send reuses the
 * upload instead of uploading again; the send itself is guarded as for text (a message with Meta's id is not sent
 * again).
 */
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message, MessageFailure } from '../../protocol/message.ts';
import type { AxiosInstance } from 'axios';
import type { OutboundWork, QueueItem } from '../store/store.ts';
import type { Fanout, FanoutSink } from '../fanout.ts';
import type { WhatsappConfig } from './webhook-config.ts';
import type { ExternalStatuses } from './external-statuses.ts';
import { newQueueWorker, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from './queue-worker.ts';
import { acceptExternalId, applyMessageStatus } from '../conversations.ts';
import { sendWhatsappMedia, sendWhatsappText, uploadWhatsappMedia, type GraphApiTarget, type GraphSendResult } from './graph-api-client.ts';
import type { Attachment } from '../../protocol/attachment.ts';

/** Store queue of pending WhatsApp sends. */
export const WHATSAPP_SEND_QUEUE = 'whatsapp-send';

const NOT_CONFIGURED: MessageFailure = {
  code: 'whatsapp_not_configured',
  reason: 'WhatsApp sending is not configured on this bridge (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID).',
};

/** Reads of a send one Retry makes at most while concurrent saves keep changing it. */
const RETRY_READS = 8;

/** Store namespace of Meta media ids uploaded for a send, keyed by the send's id. */
export const WHATSAPP_UPLOAD_NAMESPACE = 'whatsapp-upload';

/** Meta keeps an uploaded media id for 30 days; the record is forgotten a day before. */
const UPLOAD_TTL_MS = 29 * 24 * 3600 * 1000;

/** Types WhatsApp shows as an image; every other attachment goes as a document. */
const WHATSAPP_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg']);

/** The queue item id of the send of message `messageId`. */
export function sendIdOf(messageId: string): string {
  return `wa-send:${messageId}`;
}

/** True when `message` is an agent reply in `conversation` that this channel sends through the Cloud API. */
export function isWhatsappReply(message: Message, conversation: Conversation): boolean {
  return conversation.channel === 'whatsapp' && message.author.role === 'agent';
}

/** One queued send. */
export interface WhatsappSendJob {
  conversationId: string;
  messageId: string;
  /** The customer's wa_id. */
  to: string;
  text: string;
  /** The reply's attachment (a WhatsApp message carries at most one; conversations.ts refuses more). */
  attachment?: Attachment;
  /**
   * The message's rev when this send was queued or last retried: a failure the message records with a later rev ended
   * the attempt this send started (absent on sends queued before the rev was kept).
   */
  queuedAtRev?: number;
}

/** Dependencies of WhatsApp delivery. */
export interface WhatsappDeliveryDeps extends QueueWorkerDeps {
  fanout: Fanout;
  http: AxiosInstance;
  config: WhatsappConfig;
  statuses: ExternalStatuses;
}

/** The fan-out sink and queue worker that send agent replies to WhatsApp. */
export class WhatsappDelivery {
  readonly worker: QueueWorker<WhatsappSendJob>;

  constructor(private readonly deps: WhatsappDeliveryDeps) {
    this.worker = newQueueWorker<WhatsappSendJob>(deps, {
      queue: WHATSAPP_SEND_QUEUE,
      retry: deps.config.retry,
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
        if (!isWhatsappReply(message, conversation)) return;
        // Sendable replies were queued by the store with the message (outbound()); the rest are marked failed.
        const refusal = this.unsendable(conversation);
        if (refusal) await this.markFailed(message.conversationId, message.id, refusal);
        else this.worker.kick();
      },
      retryDelivery: async (message, conversation) => {
        if (conversation.channel !== 'whatsapp') return undefined;
        if (message.author.role !== 'agent') return undefined;
        // Already accepted by Meta and not failed since: a second send would duplicate the reply on the phone.
        if (message.externalId && message.status !== 'failed') return message;
        await this.queueSend(message, conversation, { again: true });
        return message;
      },
    };
  }

  /** What the store queues with each new message: the send of a sendable agent reply in a WhatsApp conversation. */
  outbound(): OutboundWork {
    return {
      messageCreated: (message, conversation) => {
        if (!isWhatsappReply(message, conversation) || this.unsendable(conversation)) return [];
        return [{ queue: WHATSAPP_SEND_QUEUE, id: sendIdOf(message.id), payload: this.jobOf(message, conversation.externalUserId!) }];
      },
    };
  }

  /** Why a reply in `conversation` cannot be sent, or undefined when it can. */
  private unsendable(conversation: Conversation): MessageFailure | undefined {
    if (!this.deps.config.send) return NOT_CONFIGURED;
    if (!conversation.externalUserId) {
      return { code: 'whatsapp_no_recipient', reason: 'This conversation has no WhatsApp number to reply to.' };
    }
    return undefined;
  }

  private jobOf(message: Message, to: string): WhatsappSendJob {
    const attachment = message.attachments?.[0];
    return {
      conversationId: message.conversationId,
      messageId: message.id,
      to,
      text: message.text,
      ...(attachment ? { attachment } : {}),
      queuedAtRev: message.rev,
    };
  }

  /**
   * Queues the send of `message` (or marks it failed when it cannot be sent). Idempotent: a send already queued is
   * left as it is — unless `again` (an agent's retry), which makes a finished send due again: dead or delivered, or
   * still pending behind an attempt that has already failed (`attemptFailed`).
   */
  async queueSend(message: Message, conversation: Conversation, options: { again?: boolean } = {}): Promise<void> {
    const refusal = this.unsendable(conversation);
    if (refusal) {
      await this.markFailed(message.conversationId, message.id, refusal);
      return;
    }
    const { store, clock } = this.deps;
    const job = this.jobOf(message, conversation.externalUserId!);
    for (let read = 1; ; read++) {
      const item = await store.enqueue<WhatsappSendJob>(WHATSAPP_SEND_QUEUE, job, sendIdOf(message.id));
      if (!options.again || (item.state === 'pending' && !attemptFailed(message, item))) break;
      // Same id, fresh attempt budget (its log keeps the earlier attempts); any other pending send is already on its
      // way, and making it due again could start a second send beside it (a duplicate on the customer's phone).
      // Saving ends the lease: a failed attempt still finishing then loses its claim, so its `dead` is not saved over
      // this, and the worker's next pass sends again. Only over the item as read: a Retry that read it before another
      // Retry's reset must not end the claim a worker (on any node) has made since and send it a second time.
      const at = clock().toISOString();
      const reset = { ...item, payload: job, state: 'pending' as const, attempts: 0, dueAt: at, updatedAt: at };
      if (await store.replaceQueueItem<WhatsappSendJob>(item, reset)) break;
      // Someone saved the send since it was read (another Retry, or the attempt's own save): decide again on what it
      // is now. Every lost round is another caller's completed save, so this ends; the bound only guards against a bug.
      if (read === RETRY_READS) throw new Error(`send ${item.id} kept changing while it was being retried`);
    }
    this.worker.kick();
  }

  private async deliver(item: QueueItem<WhatsappSendJob>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { config, http, clock } = this.deps;
    const job = item.payload;
    // Meta already has it (a crash after the id was stored but before the item was marked delivered, or a send
    // queued twice): sending again would duplicate the reply on the customer's phone.
    const current = await this.deps.store.getMessage(job.conversationId, job.messageId);
    if (current?.externalId !== undefined && current.status !== 'failed') return { ok: true };
    if (!config.send) {
      // Queued by an earlier run that had the settings: tell the agent instead of leaving the reply `sent`.
      await this.markFailed(job.conversationId, job.messageId, NOT_CONFIGURED);
      return { ok: false, permanent: true, error: 'WhatsApp sending is not configured' };
    }
    const target: GraphApiTarget = { apiBase: config.apiBase, ...config.send, timeoutMs: config.timeoutMs };
    const result = job.attachment
      ? // One bound for upload and send together, so the attempt always ends well within its claim.
        await this.sendAttachment(item, job.attachment, target, AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]))
      : await sendWhatsappText(http, target, job.to, job.text, signal, clock);
    if (result.kind === 'sent') {
      // The store applies a status Meta reported before this answer arrived (kept for this id) in the same step.
      await acceptExternalId(this.deps, job.conversationId, job.messageId, result.externalId, current?.rev);
      return { ok: true, status: result.status };
    }
    if (result.kind === 'retry') {
      return { ok: false, permanent: false, error: result.error, status: result.status, retryAfterMs: result.retryAfterMs };
    }
    await this.markFailed(job.conversationId, job.messageId, { code: result.code, reason: result.reason });
    return { ok: false, permanent: true, status: result.status, error: `rejected ${result.code}: ${result.reason}` };
  }

  /** Uploads the attachment (once per send: the media id is kept) and sends it with the text as caption. */
  private async sendAttachment(
    item: QueueItem<WhatsappSendJob>,
    attachment: Attachment,
    target: GraphApiTarget,
    signal: AbortSignal,
  ): Promise<GraphSendResult> {
    const { store, http, clock } = this.deps;
    const job = item.payload;
    let mediaId = (await store.getRecord<{ mediaId: string }>(WHATSAPP_UPLOAD_NAMESPACE, item.id))?.mediaId;
    if (mediaId === undefined) {
      const bytes = await store.readAttachment(attachment.id, 'content');
      if (!bytes) return { kind: 'rejected', code: 'attachment_missing', reason: 'The attachment is no longer stored.' };
      const uploaded = await uploadWhatsappMedia(http, target, { bytes, type: attachment.type, name: attachment.name }, signal, clock);
      if (uploaded.kind !== 'uploaded') return uploaded;
      mediaId = uploaded.mediaId;
      // Durable before the send: a crash from here on re-sends with this id instead of uploading again.
      await store.putRecord(WHATSAPP_UPLOAD_NAMESPACE, item.id, { mediaId }, new Date(clock().getTime() + UPLOAD_TTL_MS).toISOString());
    }
    const caption = job.text.trim() === '' ? {} : { caption: job.text };
    const result = await sendWhatsappMedia(
      http,
      target,
      job.to,
      WHATSAPP_IMAGE_TYPES.has(attachment.type)
        ? { type: 'image', image: { id: mediaId, ...caption } }
        : { type: 'document', document: { id: mediaId, filename: attachment.name, ...caption } },
      signal,
      clock,
    );
    // Meta refused the message (an expired or broken media id among the reasons): an agent's retry uploads afresh.
    if (result.kind === 'rejected') await store.deleteRecord(WHATSAPP_UPLOAD_NAMESPACE, item.id);
    return result;
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
    // `again`: a retried reply that fails once more must be announced, although it was `failed` before the retry.
    await applyMessageStatus(this.deps, conversationId, messageId, { status: 'failed', failure, again: true });
  }
}

/**
 * True when `message` recorded a failure after its pending send `item` was queued or last retried: that send's attempt
 * has failed, although the item is not saved dead yet. deliver() marks the reply failed before the worker saves the
 * item (a crash in between only repeats the attempt), so an agent can see the failure and retry in between. Revs, not
 * times: `statusAt.failed` keeps the first failure only, and nodes' clocks differ.
 */
function attemptFailed(message: Message, item: QueueItem<WhatsappSendJob>): boolean {
  const queuedAtRev = item.payload.queuedAtRev;
  return message.status === 'failed' && queuedAtRev !== undefined && message.rev > queuedAtRev;
}
