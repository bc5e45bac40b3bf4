/**
 * Inbound WhatsApp media (image, document, audio, video, sticker): the webhook makes sure the customer's conversation
 * exists, queues one durable job per message (`wa-media:<conversationId>:<wamid>`, in the store's claimed queue) and
 * answers Meta at once; this worker downloads the file through
 * the Graph API (Meta's two-step flow, whatsapp graph-api-client.ts), sniffs and cleans it like an upload (same
 * allowed types, ATTACHMENT_MAX_BYTES) and stores the message with the attachment and the caption as its text.
 *
 * Why a queue and not a download inside the webhook request: the webhook's 200 then waits only for one durable write,
 * so a slow or failing Graph API never stalls the other messages and statuses of the body (or makes Meta redeliver
 * all of them); the job survives a restart and is retried with the WhatsApp backoff on any node. Nothing is lost:
 * a file that is refused (type, size, Meta's 4xx) or still unreachable after the last attempt leaves the message with
 * today's placeholder text (`[video] caption`) and a note why. Nothing is doubled: the job id and the message's
 * client id derive from the wamid, the attachment's upload key from Meta's media id.
 *
 * Erasure: the job id names the conversation, so erasing it deletes its pending jobs (by `mediaJobIdPrefixOf`) in the
 * same atomic store step as its messages. A job already claimed when the erasure runs never creates the conversation
 * again: it writes only into the conversation that exists, and each of its writes names the job's queue item, which the
 * store checks atomically with the write (`forQueueItem`): once the erasure deleted it, the file and the message are
 * refused and the job drops what it downloaded — also when the customer's next message has meanwhile started a new
 * conversation under the same id. Jobs queued by an older version (`wa-media:<wamid>`, before the webhook created the
 * conversation) still run: they create the conversation as they did, unless it was erased after they were queued.
 * A media message sent before the erasure and delivered after it (Meta's redelivery) queues no job at all: the webhook
 * drops it (whatsapp-inbound.ts).
 */
import type { AxiosInstance } from 'axios';
import { StoreError, type QueueItem, type Store } from '../store/store.ts';
import type { BridgeMetrics } from '../metrics.ts';
import type { MessageProducerContext } from '../conversations.ts';
import { BridgeError } from '../api-error.ts';
import { cleanName, prepareContent, sniffType } from '../attachments/attachment-content.ts';
import type { Conversation } from '../../protocol/conversation.ts';
import { ERASED_NAMESPACE } from '../conversations.ts';
import { newQueueWorker, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from './queue-worker.ts';
import { downloadWhatsappMedia } from './graph-api-client.ts';
import { guardedLookup, systemResolver, type Resolver } from './ssrf-guard.ts';
import type { WhatsappConfig } from './webhook-config.ts';
import {
  storeWhatsappMessage,
  whatsappConversation,
  whatsappConversationId,
  type InboundMediaJob,
  type InboundMediaQueue,
} from './whatsapp-inbound.ts';

/** Store queue of inbound media downloads. */
export const WHATSAPP_MEDIA_QUEUE = 'whatsapp-media';

/** What the ids of every media download of a conversation start with: its erasure deletes them by it. */
export function mediaJobIdPrefixOf(conversationId: string): string {
  return `wa-media:${conversationId}:`;
}

/** The queue item id of the download of the media message `wamid` in `conversationId`: the same on every node. */
export function mediaJobIdOf(conversationId: string, wamid: string): string {
  return `${mediaJobIdPrefixOf(conversationId)}${wamid}`;
}

/** The id an older version gave the download of `wamid` (before the id named the conversation). */
export function legacyMediaJobIdOf(wamid: string): string {
  return `wa-media:${wamid}`;
}

/** Dependencies of the inbound media worker. */
export interface WhatsappMediaDeps extends MessageProducerContext, QueueWorkerDeps {
  store: Store;
  http: AxiosInstance;
  config: WhatsappConfig;
  /** ATTACHMENT_MAX_BYTES: larger media are not kept. */
  maxBytes: number;
  metrics: BridgeMetrics;
  /** DNS for Meta's media hosts (injected by tests); every answer passes the SSRF guard. */
  resolver?: Resolver;
}

/** File name extensions of the sniffed types, for media Meta sends without a file name. */
const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
};

/** The durable queue of inbound media downloads and its worker. */
export class WhatsappMedia implements InboundMediaQueue {
  readonly worker: QueueWorker<InboundMediaJob>;
  private readonly lookup: ReturnType<typeof guardedLookup>;

  constructor(private readonly deps: WhatsappMediaDeps) {
    this.lookup = guardedLookup(deps.resolver ?? systemResolver);
    this.worker = newQueueWorker<InboundMediaJob>(deps, {
      queue: WHATSAPP_MEDIA_QUEUE,
      retry: deps.config.retry,
      deliver: (item, signal) => this.deliver(item, signal),
      settled: (item, outcome) => this.settled(item, outcome),
      concurrency: 2,
    });
  }

  /** True when media can be downloaded at all (the access token is set); otherwise the webhook stores placeholders. */
  get enabled(): boolean {
    return this.deps.config.send !== undefined;
  }

  /** Queues the download of one media message (an existing job with its id is left as it is) and wakes the worker. */
  async queue(job: InboundMediaJob): Promise<void> {
    await this.deps.store.enqueue<InboundMediaJob>(WHATSAPP_MEDIA_QUEUE, job, mediaJobIdOf(whatsappConversationId(job.waId), job.wamid));
    this.worker.kick();
  }

  private async deliver(item: QueueItem<InboundMediaJob>, signal: AbortSignal): Promise<DeliveryOutcome> {
    const job = item.payload;
    if (await this.deps.store.findMessageByExternalId(job.wamid)) return { ok: true };
    const conversation = await this.conversationOf(item);
    if (!conversation) {
      this.dropped(job, 'before the download');
      return { ok: true };
    }
    try {
      return await this.download(item, conversation, signal);
    } catch (error) {
      // The store refuses a file or a message once the job or its conversation is erased (atomically with the write).
      if (!refusedAsErased(error) && (await this.deps.store.getConversation(conversation.id))) throw error;
      this.dropped(job, 'after the download');
      return { ok: true };
    }
  }

  /**
   * The conversation the job writes into, or undefined when it was erased. Only a job queued by an older version
   * creates it (that version queued before creating it), unless an erasure since the job was queued says otherwise.
   */
  private async conversationOf(item: QueueItem<InboundMediaJob>): Promise<Conversation | undefined> {
    const { store } = this.deps;
    const job = item.payload;
    const existing = await store.getConversation(whatsappConversationId(job.waId));
    if (existing || item.id !== legacyMediaJobIdOf(job.wamid)) return existing;
    const erased = await store.getRecord<{ at: string }>(ERASED_NAMESPACE, whatsappConversationId(job.waId));
    if (erased && erased.at >= item.createdAt) return undefined;
    return whatsappConversation(this.deps, job.waId, job.name);
  }

  private dropped(job: InboundMediaJob, when: string): void {
    this.deps.logger.info({ wamid: job.wamid, when }, 'webhooks: WhatsApp media of an erased conversation dropped');
  }

  private async download(item: QueueItem<InboundMediaJob>, conversation: Conversation, signal: AbortSignal): Promise<DeliveryOutcome> {
    const { store, config, http, clock, maxBytes } = this.deps;
    const job = item.payload;
    if (!config.send) {
      await this.storePlaceholder(item, conversation, 'not downloaded: WHATSAPP_ACCESS_TOKEN is not set');
      return { ok: false, permanent: true, error: 'WhatsApp media download is not configured' };
    }
    // One bound for both requests of the two-step flow, so an attempt always ends well within its claim.
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]);
    const result = await downloadWhatsappMedia(
      http,
      { apiBase: config.apiBase, accessToken: config.send.accessToken, timeoutMs: config.timeoutMs },
      job.mediaId,
      { maxBytes, signal: bounded, now: clock, lookup: this.lookup },
    );
    if (result.kind === 'retry') {
      return { ok: false, permanent: false, error: result.error, status: result.status, retryAfterMs: result.retryAfterMs };
    }
    if (result.kind === 'rejected') {
      await this.storePlaceholder(item, conversation, `not downloaded: ${result.reason}`);
      return { ok: false, permanent: true, error: `rejected ${result.code}: ${result.reason}`, status: result.status };
    }
    let type;
    let prepared;
    try {
      type = await sniffType(result.bytes);
      prepared = await prepareContent(result.bytes, type);
    } catch (error) {
      if (!(error instanceof BridgeError)) throw error;
      // Refused like an upload would be (a video, an unreadable image): the customer's message is kept as text.
      await this.storePlaceholder(item, conversation, `not kept: ${error.message}`);
      this.deps.logger.info({ wamid: job.wamid, kind: job.kind, code: error.code }, 'webhooks: WhatsApp media refused; placeholder stored');
      return { ok: true };
    }
    const { attachment } = await store.putAttachment({
      conversationId: conversation.id,
      forQueueItem: item.id,
      uploader: 'visitor',
      // Meta's media id: a retried job (or a second node) stores the one copy the first attempt stored.
      uploadKey: `whatsapp:${job.mediaId}`,
      name: cleanName(job.filename ?? `whatsapp-${job.kind}.${EXTENSIONS[type] ?? 'bin'}`),
      type,
      content: prepared.content,
      ...(prepared.thumbnail ? { thumbnail: prepared.thumbnail } : {}),
    });
    await storeWhatsappMessage(
      this.deps,
      { wamid: job.wamid, waId: job.waId, name: job.name, text: job.caption ?? '', attachmentIds: [attachment.id], forQueueItem: item.id },
      conversation,
    );
    return { ok: true };
  }

  private async settled(item: QueueItem<InboundMediaJob>, outcome: DeliveryOutcome): Promise<void> {
    // Refusals stored their placeholder in deliver(); this is the give-up after the last retry.
    if (item.state !== 'dead' || outcome.ok || outcome.permanent) return;
    const conversation = await this.conversationOf(item);
    if (!conversation) return this.dropped(item.payload, 'after the last attempt');
    try {
      await this.storePlaceholder(item, conversation, `not downloaded from WhatsApp after ${item.attempts} attempts`);
    } catch (error) {
      if (!refusedAsErased(error) && (await this.deps.store.getConversation(conversation.id))) throw error;
      this.dropped(item.payload, 'after the last attempt');
    }
  }

  private async storePlaceholder(item: QueueItem<InboundMediaJob>, conversation: Conversation, note: string): Promise<void> {
    const job = item.payload;
    const text = `${job.placeholder}\n(${note})`;
    await storeWhatsappMessage(this.deps, { wamid: job.wamid, waId: job.waId, name: job.name, text, forQueueItem: item.id }, conversation);
  }
}

/** The store's refusal of a job's write after an erasure deleted the job or its conversation (`forQueueItem`). */
function refusedAsErased(error: unknown): boolean {
  return error instanceof StoreError && error.code === 'not_found';
}
