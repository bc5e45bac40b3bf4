/**
 * Data export and erasure of one conversation: the JSON document an agent downloads for a data request, and the
 * erasure that removes everything the bridge keeps about it (messages, statuses, queue items, records, the
 * verified-user link) in one durable store step, then tells agents and the visitor's widget.
 */
import { mailIdPrefixOf } from './notifications/notification-mail.ts';
import type { Conversation } from '../protocol/conversation.ts';
import type { ConversationExport } from '../protocol/events.ts';
import type { Message } from '../protocol/message.ts';
import { PENDING_STATUS_NAMESPACE, type ConversationErasure } from './store/store.ts';
import type { BridgeContext } from './context.ts';
import { BridgeError } from './api-error.ts';
import { eventIdPrefixOf } from './webhooks/event-webhooks.ts';
import { pushIdPrefixOf } from './push/web-push.ts';
import { sendIdOf, WHATSAPP_UPLOAD_NAMESPACE } from './webhooks/whatsapp-delivery.ts';
import { legacyMediaJobIdOf, mediaJobIdPrefixOf, WHATSAPP_MEDIA_QUEUE } from './webhooks/whatsapp-media.ts';
import type { InboundMediaJob } from './webhooks/whatsapp-inbound.ts';
import { ERASED_NAMESPACE } from './conversations.ts';
import { VISITOR_CONTEXT_NAMESPACE, visitorContextOf } from './visitor-context.ts';

/**
 * How long an erased id is remembered: a visitor token lives 30 days from its last refresh, and an erased
 * conversation's token is never refreshed again, so after this no token can name it.
 */
const ERASED_TTL_MS = 31 * 24 * 3600 * 1000;
/** Messages read per store call while collecting what an erasure or export covers. */
const PAGE = 500;

/** Who asked for an erasure (logged, never the text). */
export type ErasureRequester = 'agent' | 'visitor' | 'retention';

/** Every message of a conversation in seq order, read a page at a time. */
async function allMessages(ctx: BridgeContext, conversation: Conversation): Promise<Message[]> {
  const messages: Message[] = [];
  let beforeSeq = conversation.lastSeq + 1;
  while (beforeSeq > 1) {
    const page = await ctx.store.getMessages(conversation.id, { beforeSeq, limit: PAGE });
    if (page.length === 0) break;
    messages.unshift(...page);
    beforeSeq = page[0]!.seq;
  }
  return messages;
}

/** Most media jobs read when looking for those an older version queued for a conversation. */
const LEGACY_MEDIA_SCAN = 10_000;

/**
 * Media jobs still pending under the id an older version gave them (`wa-media:<wamid>`, no conversation in it): found
 * by the customer's number in their payload, for a WhatsApp conversation only.
 */
async function legacyMediaJobIds(ctx: BridgeContext, conversation: Conversation | undefined): Promise<string[]> {
  if (conversation?.channel !== 'whatsapp' || conversation.externalUserId === undefined) return [];
  const items = await ctx.store.listQueueItems<InboundMediaJob>(WHATSAPP_MEDIA_QUEUE, LEGACY_MEDIA_SCAN);
  return items
    .filter((i) => i.state === 'pending' && i.payload.waId === conversation.externalUserId && i.id === legacyMediaJobIdOf(i.payload.wamid))
    .map((i) => i.id);
}

/** The export document of a conversation: the conversation, every message with its statuses and attachments. */
export async function exportConversation(ctx: BridgeContext, conversationId: string): Promise<ConversationExport> {
  const conversation = await ctx.store.getConversation(conversationId);
  if (!conversation) throw new BridgeError('not_found', 'No such conversation.');
  const messages = await allMessages(ctx, conversation);
  const visitorContext = await visitorContextOf(ctx, conversationId);
  return {
    format: 'anon-chat.conversation-export.v1',
    exportedAt: ctx.clock().toISOString(),
    conversation,
    ...(visitorContext ? { visitorContext } : {}),
    // Every message lists its attachments (empty when none), so importers can rely on the field; the file itself
    // is read from `url` with an agent token.
    messages: messages.map((message) => ({
      ...message,
      attachments: (message.attachments ?? []).map((a) => ({
        id: a.id,
        name: a.name,
        contentType: a.type,
        size: a.size,
        url: `${ctx.config.publicUrl}/api/attachments/${a.id}`,
      })),
    })),
  };
}

/**
 * Erases a conversation; resolves once the store has made it durable and no data file holds it any more. `announce`
 * (run it after answering the requester) tells agents (`conversation:erased`) and the visitor's sockets, which the
 * bridge then disconnects. `erased` is false when there was no such conversation.
 */
export async function eraseConversation(
  ctx: BridgeContext,
  conversationId: string,
  by: ErasureRequester,
  options: { ifClosedBefore?: string } = {},
): Promise<{ erased: boolean; announce: () => Promise<void> }> {
  const started = performance.now();
  const conversation = await ctx.store.getConversation(conversationId);
  const messages = conversation ? await allMessages(ctx, conversation) : [];
  const expiresAt = new Date(ctx.clock().getTime() + ERASED_TTL_MS).toISOString();
  // An agent's or visitor's erasure is remembered first, in a call of its own: if the erasure fails half-way, or while
  // its messages are still being read, the visitor's token already reaches nothing new; and a visitor's erasure of a
  // conversation not created yet (which the store's `remember` skips) is remembered too. Not for an id that names
  // nothing (a mistyped DELETE). Retention must not remember a conversation `ifClosedBefore` may keep: the store
  // writes its record in the erasure's own atomic step (`remember` below), so a crash cannot come between the two.
  if ((conversation || by === 'visitor') && options.ifClosedBefore === undefined) {
    await ctx.store.putRecord(ERASED_NAMESPACE, conversationId, { at: ctx.clock().toISOString() }, expiresAt);
  }
  const related: ConversationErasure = {
    records: [
      // Written by the retired catch-up pass (before outbound work was queued with the change): older data holds it.
      { namespace: 'sink-cursor', key: conversationId },
      { namespace: VISITOR_CONTEXT_NAMESPACE, key: conversationId },
      ...messages.flatMap((m) => (m.externalId !== undefined ? [{ namespace: PENDING_STATUS_NAMESPACE, key: m.externalId }] : [])),
      ...messages.flatMap((m) => (m.attachments?.length ? [{ namespace: WHATSAPP_UPLOAD_NAMESPACE, key: sendIdOf(m.id) }] : [])),
    ],
    queueItemIdPrefixes: [
      mailIdPrefixOf(conversationId),
      pushIdPrefixOf(conversationId),
      ...messages.flatMap((m) => [eventIdPrefixOf(m.id), sendIdOf(m.id)]),
      // Inbound WhatsApp media jobs carry the caption and the customer's number: pending ones (no message yet) too.
      mediaJobIdPrefixOf(conversationId),
      ...(await legacyMediaJobIds(ctx, conversation)),
      ...messages.flatMap((m) => (m.externalId !== undefined && m.author.role === 'visitor' ? [legacyMediaJobIdOf(m.externalId)] : [])),
    ],
  };
  if (options.ifClosedBefore !== undefined) {
    related.ifClosedBefore = options.ifClosedBefore;
    related.remember = { namespace: ERASED_NAMESPACE, key: conversationId, value: { at: ctx.clock().toISOString() }, expiresAt };
  }
  const erased = await ctx.store.eraseConversation(conversationId, related);
  if (erased) {
    ctx.logger.info(
      { conversationId, by, messages: messages.length, ms: Math.round(performance.now() - started) },
      'conversation erased',
    );
  }
  return { erased, announce: () => ctx.fanout.conversationErased(conversationId) };
}
