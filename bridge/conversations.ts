/**
 * The conversation service: the one place every producer — visitor and agent sockets, REST, WhatsApp inbound and
 * delivery, the status webhook — stores messages, receipts, statuses and state changes through, so a chat rule (a new
 * message reopens a closed conversation, who may attach what, only changed statuses are announced) lives once. Each operation validates nothing (callers did), uses only the Store, and announces changes
 * through fan-out after the store has them durably.
 */
import type { Author, Message } from '../protocol/message.ts';
import { WHATSAPP_CAPTION_LENGTH, WHATSAPP_MAX_ATTACHMENTS, type Attachment } from '../protocol/attachment.ts';
import type { Conversation, ConversationState, ConversationSummary } from '../protocol/conversation.ts';
import type { MessagePage, SyncResult } from '../protocol/events.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../protocol/limits.ts';
import {
  StoreError,
  type ConversationQuery,
  type ExternalStatusOptions,
  type NewConversation,
  type OnceRecord,
  type StatusResult,
  type StatusUpdate,
} from './store/store.ts';
import type { BridgeContext } from './context.ts';
import { BridgeError } from './api-error.ts';
import { isVisitorOnline, onlineConversationIds, toSummary } from './realtime/presence.ts';
import { randomId } from './ids.ts';
import { nextRoundRobinAssignee } from './assignment.ts';
import type { AssigneeFilter } from '../protocol/assignment.ts';

/** The conversation, or `not_found`. */
export async function requireConversation(ctx: BridgeContext, conversationId: string): Promise<Conversation> {
  const conversation = await ctx.store.getConversation(conversationId);
  if (!conversation) throw new BridgeError('not_found', 'No such conversation.');
  return conversation;
}

/** Record namespace of erased conversation ids: a visitor token naming one reaches nothing any more. */
export const ERASED_NAMESPACE = 'erased-conversation';

/** True when `conversationId` was erased (within the token lifetime): such a token starts a fresh visitor. */
export async function wasErased(ctx: BridgeContext, conversationId: string): Promise<boolean> {
  return (await ctx.store.getRecord(ERASED_NAMESPACE, conversationId)) !== undefined;
}

/**
 * A web visitor's conversation, created on first need (page views without a message or upload write nothing).
 * A conversation erased meanwhile is not brought back under the same id: `not_found`.
 */
export async function ensureVisitorConversation(
  ctx: BridgeContext,
  visitor: { conversationId: string; name: string; site?: string | undefined },
): Promise<Conversation> {
  const existing = await ctx.store.getConversation(visitor.conversationId);
  // A closed one is reopened by the message itself (storeMessage), in the same atomic step.
  if (existing) return existing;
  if (await wasErased(ctx, visitor.conversationId)) throw new BridgeError('not_found', 'This conversation was deleted.');
  return ctx.store.createConversation({
    id: visitor.conversationId,
    channel: 'web',
    name: visitor.name,
    ...(visitor.site ? { site: visitor.site } : {}),
  });
}

/** The conversation a verified user continues: theirs if one exists, else the current one, linked to them. */
export async function linkVerifiedVisitor(
  ctx: BridgeContext,
  input: { conversationId: string; userId: string; name: string; site?: string },
): Promise<string> {
  const existing = await ctx.store.findConversationByExternalUser('web', input.userId);
  if (existing) return existing.id;
  const current = await ctx.store.getConversation(input.conversationId);
  if (current && current.channel === 'web' && current.externalUserId === undefined) {
    await ctx.store.setConversationExternalUser(current.id, input.userId);
    return current.id;
  }
  // The token's conversation belongs to someone else (or is not a web one): give this user a new one.
  const id = current ? randomId() : input.conversationId;
  const created = await ctx.store.createConversation({
    id,
    channel: 'web',
    name: input.name,
    externalUserId: input.userId,
    ...(input.site !== undefined ? { site: input.site } : {}),
  });
  return created.id;
}

/** Who uploaded an attachment, as the store records it: only that sender may attach it to a message. */
export function uploaderOf(author: Author): string {
  if (author.role === 'visitor') return 'visitor';
  return author.agentId !== undefined ? `agent:${author.agentId}` : 'api';
}

/**
 * The attachments a message names, in its order: each must have been uploaded by this sender into this conversation
 * (anything else is refused as one unknown id, so a sender learns nothing about other people's files).
 */
async function resolveAttachments(
  ctx: Pick<BridgeContext, 'store'>,
  conversationId: string,
  known: Conversation | undefined,
  author: Author,
  ids: readonly string[],
  text: string,
): Promise<Attachment[]> {
  if (ids.length === 0) return [];
  const conversation = known ?? (await ctx.store.getConversation(conversationId));
  if (!conversation) throw new StoreError('not_found', `conversation ${conversationId} not found`);
  if (conversation.channel !== 'web' && conversation.channel !== 'whatsapp') {
    throw new BridgeError('bad_request', 'Attachments can be sent in web and WhatsApp conversations only.', { attachments: 'not supported on this channel' });
  }
  // A WhatsApp message carries one image or document, whose status is the message's (whatsapp-delivery.ts).
  if (conversation.channel === 'whatsapp' && ids.length > WHATSAPP_MAX_ATTACHMENTS) {
    throw new BridgeError('bad_request', `A WhatsApp message carries at most ${WHATSAPP_MAX_ATTACHMENTS} attachment.`, { attachments: `at most ${WHATSAPP_MAX_ATTACHMENTS} on WhatsApp` });
  }
  if (conversation.channel === 'whatsapp' && author.role === 'agent' && text.length > WHATSAPP_CAPTION_LENGTH) {
    throw new BridgeError('bad_request', `A WhatsApp caption is at most ${WHATSAPP_CAPTION_LENGTH} characters.`, { text: `at most ${WHATSAPP_CAPTION_LENGTH} with an attachment on WhatsApp` });
  }
  const uploader = uploaderOf(author);
  return Promise.all(
    ids.map(async (id, i) => {
      const stored = await ctx.store.getAttachment(id);
      if (!stored || stored.conversationId !== conversation.id || stored.uploader !== uploader) {
        throw new BridgeError('bad_request', 'An attachment is unknown; upload it first.', { [`attachments.${i}`]: 'unknown attachment' });
      }
      return toAttachment(stored);
    }),
  );
}

/** The public description of a stored attachment (what messages and the upload response carry). */
export function toAttachment(stored: { id: string; name: string; type: Attachment['type']; size: number; thumbnailSize?: number }): Attachment {
  return {
    id: stored.id,
    name: stored.name,
    type: stored.type,
    size: stored.size,
    ...(stored.thumbnailSize !== undefined ? { thumbnail: true } : {}),
  };
}

/**
 * What storing a message needs: a producer outside the socket and HTTP layers (a webhook) passes just these. Without
 * `availability` (who takes chats) no round-robin assignment happens.
 */
export type MessageProducerContext = Pick<BridgeContext, 'store' | 'fanout' | 'metrics'> & Partial<Pick<BridgeContext, 'availability'>>;

/**
 * The conversation of an external channel's user (a WhatsApp wa_id), created on their first message. `input.id` is
 * derived from the user, so two racing first messages create one conversation.
 */
export async function ensureExternalConversation(
  ctx: Pick<BridgeContext, 'store'>,
  input: NewConversation & { id: string; externalUserId: string },
): Promise<Conversation> {
  const existing = await ctx.store.findConversationByExternalUser(input.channel, input.externalUserId);
  return existing ?? ctx.store.createConversation(input);
}

/**
 * Stores a message (deduped on clientId), then — only when it was newly created — announces it. Returns the stored
 * message (the original on a retry). `announce` runs after the caller's ack when given, so the sender hears the ack
 * before the broadcast of its own message. The conversation must exist (the store answers `not_found` otherwise);
 * it is read beforehand only when the message names attachments, unless the caller has it already.
 */
export async function storeMessage(
  ctx: MessageProducerContext,
  input: {
    conversationId: string;
    conversation?: Conversation;
    clientId: string;
    author: Author;
    text?: string | undefined;
    attachmentIds?: readonly string[] | undefined;
    /** The id an external channel gave the message (WhatsApp's wamid). */
    externalId?: string | undefined;
    /** The queue item (job) storing it: refused once an erasure deleted that job (`NewMessage.forQueueItem`). */
    forQueueItem?: string | undefined;
  },
): Promise<{ message: Message; created: boolean; announce: () => Promise<void> }> {
  const attachments = await resolveAttachments(ctx, input.conversationId, input.conversation, input.author, input.attachmentIds ?? [], input.text ?? '');
  const assignee = await assigneeForMessage(ctx, input.conversationId, input.conversation, input.author);
  // Whoever writes — visitor, agent, API, a WhatsApp customer — a message reopens a closed conversation, in the same
  // atomic step that stores it (and queues its outbound work).
  const result = await ctx.store.appendMessage({
    conversationId: input.conversationId,
    clientId: input.clientId,
    author: input.author,
    text: input.text ?? '',
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
    ...(input.forQueueItem !== undefined ? { forQueueItem: input.forQueueItem } : {}),
    reopen: true,
    ...(assignee !== undefined ? { assignIfUnassigned: assignee } : {}),
  });
  if (result.created) ctx.metrics.messageStored(result.conversation.channel, input.author.role);
  const announce = result.created
    ? () => ctx.fanout.messageCreated(result.message, result.conversation)
    : () => Promise.resolve();
  return { message: result.message, created: result.created, announce };
}

/** What applying a status needs. */
export type StatusProducerContext = Pick<BridgeContext, 'store' | 'fanout'>;

/** Announces the messages a status write changed; a write that changed nothing is not announced. */
async function announceStatuses(ctx: StatusProducerContext, result: StatusResult): Promise<'changed' | 'unchanged'> {
  if (result.changed.length === 0) return 'unchanged';
  await ctx.fanout.statusChanged(result.changed, result.conversation);
  return 'changed';
}

/** Applies a receipt from `readerRole` (it advances the other role's messages) and announces what changed. */
export async function applyReceipt(
  ctx: BridgeContext,
  conversationId: string,
  readerRole: 'visitor' | 'agent',
  upToSeq: number,
  status: 'delivered' | 'read',
): Promise<{ changed: number }> {
  const authorRole = readerRole === 'visitor' ? 'agent' : 'visitor';
  const result = await ctx.store.applyReceipt(conversationId, authorRole, upToSeq, status);
  const outcome = await announceStatuses(ctx, result);
  if (outcome === 'unchanged' && readerRole === 'agent' && status === 'read') await ctx.fanout.announceConversation(result.conversation);
  return { changed: result.changed.length };
}

/**
 * Applies a status to a message known by its ids (by rank; `once` is added in the same atomic step) and announces it.
 * A `StoreError` `not_found` when there is no such message.
 */
export async function applyMessageStatus(
  ctx: StatusProducerContext,
  conversationId: string,
  messageId: string,
  update: StatusUpdate,
  once?: OnceRecord,
): Promise<'changed' | 'unchanged'> {
  return announceStatuses(ctx, await ctx.store.applyStatus(conversationId, messageId, update, once));
}

/**
 * Applies a status to the message carrying an external channel's id and announces it; `pending` when no message
 * carries the id yet (the store keeps it per `options` for `acceptExternalId`).
 */
export async function applyExternalStatus(
  ctx: StatusProducerContext,
  externalId: string,
  update: StatusUpdate,
  options: ExternalStatusOptions,
): Promise<'changed' | 'unchanged' | 'pending'> {
  const result = await ctx.store.applyStatusByExternalId(externalId, update, options);
  return result ? announceStatuses(ctx, result) : 'pending';
}

/**
 * Records the id an external channel gave an agent's reply (which makes it `sent`, plus any status already reported
 * for that id) and announces the change; `previousRev` is the message's rev before, so a repeat is quiet.
 */
export async function acceptExternalId(
  ctx: StatusProducerContext,
  conversationId: string,
  messageId: string,
  externalId: string,
  previousRev: number | undefined,
): Promise<void> {
  const accepted = await ctx.store.setExternalId(conversationId, messageId, externalId);
  if (accepted.rev === previousRev) return;
  const conversation = await ctx.store.getConversation(conversationId);
  // A status change like any other: the store queued its event webhooks with it; the sinks wake the workers.
  if (conversation) await ctx.fanout.statusChanged([accepted], conversation);
}

/** A page of history: messages before `beforeSeq` (or the latest), ascending, with `hasMore`. */
export async function historyPage(
  ctx: BridgeContext,
  conversationId: string,
  beforeSeq: number | undefined,
  limit = DEFAULT_PAGE_SIZE,
): Promise<MessagePage> {
  const size = Math.min(limit, MAX_PAGE_SIZE);
  // One extra message tells whether anything older exists without a second query.
  const rows = await ctx.store.getMessages(conversationId, { beforeSeq, limit: size + 1 });
  const hasMore = rows.length > size;
  return { messages: hasMore ? rows.slice(rows.length - size) : rows, hasMore };
}

/** Everything that changed after `afterRev`, at most one page; `rev` is the cursor to continue from. */
export async function syncPage(
  ctx: BridgeContext,
  conversation: Conversation | undefined,
  afterRev: number,
): Promise<SyncResult> {
  if (!conversation) return { messages: [], rev: 0, hasMore: false };
  const rows = await ctx.store.getChangesSince(conversation.id, afterRev, MAX_PAGE_SIZE + 1);
  const hasMore = rows.length > MAX_PAGE_SIZE;
  const messages = hasMore ? rows.slice(0, MAX_PAGE_SIZE) : rows;
  const lastRev = messages.at(-1)?.rev ?? 0;
  // Read the conversation before the changes: a change landing in between has a rev above it and is included, so
  // max() never skips one. A client ahead of the server (its data wiped) is brought back to the server's rev.
  const rev = hasMore ? lastRev : Math.max(conversation.rev, lastRev);
  messages.sort((a, b) => a.seq - b.seq);
  return { messages, rev, hasMore };
}

/**
 * Who a new message assigns its conversation to when it has no assignee (the store checks that atomically): an
 * agent's reply assigns it to them; a visitor's message to the agent whose round-robin turn it is, when that is on.
 */
async function assigneeForMessage(
  ctx: MessageProducerContext,
  conversationId: string,
  known: Conversation | undefined,
  author: Author,
): Promise<string | undefined> {
  if (author.role === 'agent') return author.agentId;
  if (!ctx.availability || known?.assigneeId !== undefined) return undefined;
  // Read only with round-robin on: an assigned conversation, or one not created yet (the append will fail and be
  // retried after creating it), must not use up someone's turn.
  return nextRoundRobinAssignee({ store: ctx.store, availability: ctx.availability }, async () => {
    const conversation = known ?? (await ctx.store.getConversation(conversationId));
    return conversation !== undefined && conversation.assigneeId === undefined;
  });
}

/** An inbox query: the store's, with the assignee said from the caller's point of view. */
export type SummaryQuery = Omit<ConversationQuery, 'assigneeId'> & { assignee?: AssigneeFilter | undefined };

/** Conversations for the agents' inbox with live presence; `mine` needs the caller's agent id (else `bad_request`). */
export async function listSummaries(ctx: BridgeContext, query: SummaryQuery, callerAgentId?: string): Promise<ConversationSummary[]> {
  const { assignee, ...rest } = query;
  if (assignee === 'mine' && callerAgentId === undefined) {
    throw new BridgeError('bad_request', 'Only an agent has conversations of their own.', { assignee: 'needs an agent token' });
  }
  const storeQuery: ConversationQuery =
    assignee === 'mine' ? { ...rest, assigneeId: callerAgentId! } : assignee === 'unassigned' ? { ...rest, assigneeId: null } : rest;
  const [conversations, online] = await Promise.all([
    ctx.store.listConversations(storeQuery),
    onlineConversationIds(ctx.visitorNs),
  ]);
  return conversations.map((conversation) => toSummary(conversation, online.has(conversation.id)));
}

/**
 * Closes or reopens a conversation. Returns its summary and `announce`, which tells every agent — only when the state
 * really changed, so a repeated close is a quiet no-op.
 */
export async function changeConversationState(
  ctx: BridgeContext,
  conversationId: string,
  state: ConversationState,
): Promise<{ summary: ConversationSummary; announce: () => Promise<void> }> {
  const before = await requireConversation(ctx, conversationId);
  const conversation = await ctx.store.setConversationState(before.id, state);
  const summary = toSummary(conversation, await isVisitorOnline(ctx.visitorNs, conversation));
  const announce =
    before.state !== conversation.state ? () => ctx.fanout.announceConversation(conversation) : () => Promise.resolve();
  return { summary, announce };
}

/**
 * Assigns the conversation to an active agent, transfers it, or (`null`) unassigns it. Returns its summary and
 * `announce`, which tells every agent on every node — only when the assignee really changed.
 */
export async function assignConversation(
  ctx: BridgeContext,
  conversationId: string,
  assigneeId: string | null,
): Promise<{ summary: ConversationSummary; announce: () => Promise<void> }> {
  const before = await requireConversation(ctx, conversationId);
  if (assigneeId !== null) {
    const agent = await ctx.store.getAgent(assigneeId);
    if (!agent?.active) throw new BridgeError('bad_request', 'No such active agent.', { assigneeId: 'no such active agent' });
  }
  const conversation = await ctx.store.setConversationAssignee(before.id, assigneeId);
  const summary = toSummary(conversation, await isVisitorOnline(ctx.visitorNs, conversation));
  const announce =
    before.assigneeId !== conversation.assigneeId ? () => ctx.fanout.announceConversation(conversation) : () => Promise.resolve();
  return { summary, announce };
}

/**
 * A deactivated agent's conversations become unassigned (they answer none of them any more; a reply or round-robin
 * gives each a new assignee) and every agent hears of each.
 */
export async function releaseAgentConversations(ctx: BridgeContext, agentId: string): Promise<number> {
  const released = await ctx.store.unassignAgentConversations(agentId);
  await Promise.all(released.map((conversation) => ctx.fanout.announceConversation(conversation)));
  return released.length;
}
