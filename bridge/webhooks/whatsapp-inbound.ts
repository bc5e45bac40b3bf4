/**
 * Applies a verified WhatsApp Cloud API webhook body: every `statuses[]` item by rank (via ExternalStatuses) and
 * every `messages[]` item into the sender's `whatsapp` conversation (keyed by wa_id, deduped by message id). A media
 * message is handed to the durable media queue instead (whatsapp-media.ts), which downloads its file and stores it.
 * Idempotent: Meta retries for days and sends duplicates, and a repeat changes nothing — also after an erasure: a
 * message sent before its conversation was erased (redelivered, replayed or just late) is dropped, not stored again.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { MessageFailure } from '../../protocol/message.ts';
import type { Conversation } from '../../protocol/conversation.ts';
import type { StoredStatus } from '../../protocol/status.ts';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import type { StatusUpdate } from '../store/store.ts';
import { ensureExternalConversation, ERASED_NAMESPACE, storeMessage, type MessageProducerContext } from '../conversations.ts';
import type { ExternalStatuses, ExternalStatusOutcome } from './external-statuses.ts';
import {
  mediaOf,
  messageValues,
  placeholderFor,
  type WhatsappMessage,
  type WhatsappStatus,
  type WhatsappValue,
  type WhatsappWebhook,
} from './whatsapp-payload.ts';

/** What applying one webhook body did (for logs and tests). */
export interface WhatsappApplyResult {
  messagesCreated: number;
  messagesDuplicate: number;
  /** Messages sent before their conversation was erased: dropped, nothing stored or queued. */
  messagesDropped: number;
  /** Media messages handed to the media queue (stored once their file is downloaded). */
  mediaQueued: number;
  statuses: Record<ExternalStatusOutcome | 'ignored', number>;
}

/** Dependencies of the inbound applier: customers' messages are stored through the conversation service. */
export interface WhatsappInboundDeps extends MessageProducerContext {
  logger: Logger;
  clock: () => Date;
  statuses: ExternalStatuses;
  /** Where media messages go; without it they are stored at once with a placeholder text (`[image] caption`). */
  media?: InboundMediaQueue;
}

/** A media message waiting for its file: everything needed to store it without the webhook body. */
export interface InboundMediaJob {
  /** The message's wamid (its dedupe key). */
  wamid: string;
  waId: string;
  /** The sender's display name. */
  name: string;
  /** Meta's message type: image, document, audio, video, sticker. */
  kind: string;
  mediaId: string;
  caption?: string;
  filename?: string;
  /** The text stored when the file is not kept (`[video] caption`). */
  placeholder: string;
}

/** The durable queue that downloads media (whatsapp-media.ts); `queue` resolves once the job is durable. */
export interface InboundMediaQueue {
  queue(job: InboundMediaJob): Promise<void>;
}

const STATUS_MAP: Record<string, StoredStatus> = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed' };

/** Deterministic conversation id for a wa_id, so two racing first messages cannot create two conversations. */
export function whatsappConversationId(waId: string): string {
  return `wa_${createHash('sha256').update(`whatsapp:${waId}`).digest('base64url').slice(0, 32)}`;
}

/** The client id (idempotency key) of an inbound WhatsApp message. */
export function whatsappClientId(messageId: string): string {
  return `wa:${messageId}`;
}

/**
 * Applies every status and message of `body`; resolves once all of them are durable. Within each change value the
 * statuses go first, all together: each applies by rank and those for one external id are serialised in their body
 * order (ExternalStatuses' per-id lock), so their order does not matter and a batch of N statuses shares the
 * store's group commits instead of waiting N fsyncs in turn. Messages then follow one by one, in order.
 */
export async function applyWhatsappWebhook(deps: WhatsappInboundDeps, body: WhatsappWebhook): Promise<WhatsappApplyResult> {
  const result: WhatsappApplyResult = {
    messagesCreated: 0,
    messagesDuplicate: 0,
    messagesDropped: 0,
    mediaQueued: 0,
    statuses: { changed: 0, unchanged: 0, pending: 0, unknown_message: 0, ignored: 0 },
  };
  const erasures: ErasureTimes = new Map();
  const { values, invalid } = messageValues(body);
  if (invalid > 0) deps.logger.warn({ invalid }, 'webhooks: WhatsApp change values that are not understood were skipped');
  for (const value of values) {
    const settled = await Promise.allSettled((value.statuses ?? []).map((status) => applyStatus(deps, status)));
    for (const outcome of settled) {
      // Only once every status has settled: Meta retries the whole body after an error, and a 200 or an error must
      // not be answered while some of its writes are still in flight.
      if (outcome.status === 'rejected') throw outcome.reason;
      result.statuses[outcome.value]++;
    }
    for (const message of value.messages ?? []) {
      const outcome = await applyMessage(deps, value, message, erasures);
      if (outcome === 'created') result.messagesCreated++;
      else if (outcome === 'queued') result.mediaQueued++;
      else if (outcome === 'dropped') result.messagesDropped++;
      else result.messagesDuplicate++;
    }
  }
  return result;
}

async function applyStatus(deps: WhatsappInboundDeps, status: WhatsappStatus): Promise<ExternalStatusOutcome | 'ignored'> {
  const mapped = STATUS_MAP[status.status];
  if (!mapped) {
    deps.logger.info({ externalId: status.id, status: status.status }, 'webhooks: WhatsApp status kind ignored');
    return 'ignored';
  }
  const update: StatusUpdate = { status: mapped };
  if (status.timestamp !== undefined) update.at = new Date(status.timestamp * 1000).toISOString();
  if (mapped === 'failed') update.failure = failureOf(status);
  return deps.statuses.applyByExternalId(status.id, update);
}

function failureOf(status: WhatsappStatus): MessageFailure {
  const error = status.errors?.[0];
  const reason = error?.title ?? error?.message ?? error?.error_data?.details ?? 'WhatsApp reported the message as failed.';
  return { code: error?.code !== undefined ? String(error.code) : 'unknown', reason };
}

/** Erasure times (ms since the epoch, undefined: none recorded) by conversation id, read once per webhook body. */
type ErasureTimes = Map<string, Promise<number | undefined>>;

function erasedAt(deps: WhatsappInboundDeps, erasures: ErasureTimes, conversationId: string): Promise<number | undefined> {
  let at = erasures.get(conversationId);
  if (!at) {
    at = deps.store.getRecord<{ at: string }>(ERASED_NAMESPACE, conversationId).then((record) => (record ? Date.parse(record.at) : undefined));
    erasures.set(conversationId, at);
  }
  return at;
}

/**
 * True when `message` was sent before its conversation was last erased. Meta's `timestamp` has whole seconds, so a
 * message of the erasure's own second may have been sent before or after it: it counts as before (dropped). The
 * erasure is a promise about the customer's data, and losing a message sent in that very second is the smaller harm;
 * the customer's next message starts the new conversation anyway. A message without a timestamp cannot be judged
 * and is kept, as before.
 */
async function sentBeforeErasure(
  deps: WhatsappInboundDeps,
  erasures: ErasureTimes,
  message: WhatsappMessage,
  conversationId: string,
  existing: Conversation | undefined,
): Promise<boolean> {
  if (message.timestamp === undefined) return false;
  const sentAt = message.timestamp * 1000;
  // A conversation exists only since its last erasure (an erasure deletes it), so a message sent after it was created
  // needs no record read: the hot path, a customer writing in an ongoing conversation, reads nothing more.
  if (existing && sentAt > Date.parse(existing.createdAt)) return false;
  const at = await erasedAt(deps, erasures, conversationId);
  return at !== undefined && sentAt <= at;
}

async function applyMessage(
  deps: WhatsappInboundDeps,
  value: WhatsappValue,
  message: WhatsappMessage,
  erasures: ErasureTimes,
): Promise<'created' | 'duplicate' | 'queued' | 'dropped'> {
  const waId = message.from;
  const profileName = value.contacts?.find((c) => c.wa_id === waId)?.profile?.name?.trim() ?? value.contacts?.[0]?.profile?.name?.trim();
  const name = profileName ? profileName.slice(0, 100) : `+${waId}`;
  const existing = await deps.store.findConversationByExternalUser('whatsapp', waId);
  const conversationId = existing?.id ?? whatsappConversationId(waId);
  if (await sentBeforeErasure(deps, erasures, message, conversationId, existing)) {
    // Answered as accepted all the same, so Meta stops redelivering it; ids only, never the text or the number.
    deps.logger.info({ wamid: message.id, conversationId }, 'webhooks: WhatsApp message sent before its conversation was erased dropped');
    return 'dropped';
  }
  const media = deps.media ? mediaOf(message) : undefined;
  if (deps.media && media) {
    // Stored already (a retried webhook after the file was downloaded): nothing to fetch again.
    if (await deps.store.findMessageByExternalId(message.id)) return 'duplicate';
    // Created before the job is queued, so the job only ever writes into a conversation that exists: once erased, it
    // is not brought back by a download still in flight (whatsapp-media.ts).
    if (!existing) await whatsappConversation(deps, waId, name);
    await deps.media.queue({
      wamid: message.id,
      waId,
      name,
      kind: message.type,
      mediaId: media.id,
      ...(media.caption?.trim() ? { caption: media.caption } : {}),
      ...(media.filename?.trim() ? { filename: media.filename } : {}),
      placeholder: placeholderFor(message),
    });
    return 'queued';
  }
  const conversation = existing ?? (await whatsappConversation(deps, waId, name));
  const stored = await storeWhatsappMessage(deps, { wamid: message.id, waId, name, text: textOf(message) }, conversation);
  return stored ? 'created' : 'duplicate';
}

/**
 * Stores one customer message in their conversation (created on their first message, unless `existing` is given: then
 * the store refuses the message if that conversation is gone, or the job `forQueueItem` storing it), deduped by wamid,
 * and announces it; true when it was new. `text` is cut to the text limit here.
 */
export async function storeWhatsappMessage(
  deps: MessageProducerContext,
  input: { wamid: string; waId: string; name: string; text: string; attachmentIds?: string[]; forQueueItem?: string },
  existing?: Conversation,
): Promise<boolean> {
  const conversation = existing ?? (await whatsappConversation(deps, input.waId, input.name));
  const stored = await storeMessage(deps, {
    conversationId: conversation.id,
    conversation,
    clientId: whatsappClientId(input.wamid),
    author: { role: 'visitor', name: input.name },
    text: fitText(input.text),
    ...(input.attachmentIds?.length ? { attachmentIds: input.attachmentIds } : {}),
    externalId: input.wamid,
    ...(input.forQueueItem !== undefined ? { forQueueItem: input.forQueueItem } : {}),
  });
  await stored.announce();
  return stored.created;
}

/** The customer's conversation, created on first need. */
export function whatsappConversation(deps: Pick<MessageProducerContext, 'store'>, waId: string, name: string): Promise<Conversation> {
  return ensureExternalConversation(deps, { id: whatsappConversationId(waId), channel: 'whatsapp', name, externalUserId: waId });
}

function textOf(message: WhatsappMessage): string {
  const raw = message.type === 'text' && message.text ? message.text.body : placeholderFor(message);
  return raw.trim() === '' ? `[${message.type}]` : raw;
}

/** `text` within MAX_TEXT_LENGTH. */
function fitText(text: string): string {
  if (text.length <= MAX_TEXT_LENGTH) return text;
  // Cut on a code point boundary so an emoji at the edge does not leave half a surrogate pair.
  let cut = MAX_TEXT_LENGTH - 1;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}
