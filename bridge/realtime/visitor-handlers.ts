/**
 * Events of the `/visitor` namespace. The conversation is always `socket.data.conversationId` (from the token);
 * no payload names a conversation, so a visitor cannot reach another one.
 */
import {
  conversationEraseSchema,
  typingSchema,
  visitorContextSchema,
  visitorEmailSchema,
  visitorHistorySchema,
  visitorReceiptSchema,
  visitorSendSchema,
  visitorSyncSchema,
} from '../../protocol/schemas.ts';
import type { CatchUp } from '../../protocol/events.ts';
import { Channel } from '../../protocol/conversation.ts';
import type { BridgeContext } from '../context.ts';
import { AGENTS_ROOM, conversationRoom, type VisitorSocket } from './namespaces.ts';
import { signVisitorToken } from '../auth/visitor-token.ts';
import { applyReceipt, ensureVisitorConversation, historyPage, storeMessage, syncPage } from '../conversations.ts';
import { eraseConversation } from '../conversation-erasure.ts';
import { replyByEmailOf, setVisitorEmail } from '../visitor-email.ts';
import { trackVisitorContext } from '../visitor-context.ts';
import { onEvent, rateLimited, refuseUnknownEvents } from './dispatch.ts';
import { agentsListening, isVisitorOnline } from './presence.ts';
import { forgetSocket, type SocketLimiters } from './socket-limits.ts';
import { TypingTracker } from './typing.ts';
import { ReceiptBatch } from './receipt-batch.ts';
import { validationError } from '../api-error.ts';
import { StoreError } from '../store/store.ts';
import { backoffDelay, type BackoffPolicy } from '../../protocol/backoff.ts';

const KNOWN_EVENTS = new Set(['message:send', 'sync', 'history', 'receipt', 'typing', 'conversation:erase', 'visitor:email', 'visitor:context']);
/** When a visitor's agent count is looked up again after a node did not answer. */
const AGENT_COUNT_RETRY: BackoffPolicy = { baseDelayMs: 1_000, maxDelayMs: 15_000 };

/** Wires one connected visitor socket: room, session, presence, events. */
export async function registerVisitorHandlers(
  ctx: BridgeContext,
  socket: VisitorSocket,
  limiters: SocketLimiters,
): Promise<void> {
  const { agentNs } = ctx;
  const { conversationId } = socket.data;
  const room = conversationRoom(conversationId);

  refuseUnknownEvents(socket, KNOWN_EVENTS);
  // The User-Agent comes from the handshake, never from a payload; like the rest of the context it is display-only.
  const context = trackVisitorContext(ctx, conversationId, socket.handshake.headers['user-agent']);

  onEvent(ctx, socket, 'message:send', {
    schema: visitorSendSchema,
    limiter: limiters.messages,
    observeAck: ctx.metrics.observeSendAck,
    run: async (payload, afterAck) => {
      const send = () =>
        storeMessage(ctx, {
          conversationId,
          clientId: payload.clientId,
          author: { role: 'visitor' },
          text: payload.text,
          attachmentIds: payload.attachments,
        });
      let stored: Awaited<ReturnType<typeof send>>;
      try {
        // The conversation exists from its first message on: sends are not preceded by a read of it.
        stored = await send();
      } catch (error) {
        if (!(error instanceof StoreError && error.code === 'not_found')) throw error;
        await ensureVisitorConversation(ctx, socket.data);
        stored = await send();
      }
      afterAck(async () => {
        await stored.announce();
        await context.conversationStarted();
      });
      return stored.message;
    },
  });

  onEvent(ctx, socket, 'sync', {
    schema: visitorSyncSchema,
    limiter: limiters.events,
    run: async (payload) => syncPage(ctx, await ctx.store.getConversation(conversationId), payload.afterRev),
  });

  onEvent(ctx, socket, 'history', {
    schema: visitorHistorySchema,
    limiter: limiters.events,
    run: async (payload) => {
      if (!(await ctx.store.getConversation(conversationId))) return { messages: [], hasMore: false };
      return historyPage(ctx, conversationId, payload.beforeSeq, payload.limit);
    },
  });

  onEvent(ctx, socket, 'visitor:email', {
    schema: visitorEmailSchema,
    limiter: limiters.events,
    run: async (payload, afterAck) => {
      const stored = await setVisitorEmail(ctx, socket.data, payload.email, payload.page);
      afterAck(() => context.conversationStarted());
      return stored;
    },
  });

  onEvent(ctx, socket, 'visitor:context', {
    schema: visitorContextSchema,
    limiter: limiters.context,
    run: (payload) => context.report(payload),
  });

  onEvent(ctx, socket, 'conversation:erase', {
    schema: conversationEraseSchema,
    limiter: limiters.events,
    run: async (_payload, afterAck) => {
      const { announce } = await eraseConversation(ctx, conversationId, 'visitor');
      // Also when nothing was stored yet: the widget starts afresh either way.
      afterAck(announce);
      return { erased: true as const };
    },
  });

  const receipts = new ReceiptBatch((id, status, upToSeq) => applyReceipt(ctx, id, 'visitor', upToSeq, status));
  onEvent(ctx, socket, 'receipt', {
    schema: visitorReceiptSchema,
    limiter: limiters.events,
    run: async (payload) => {
      try {
        return await receipts.submit(conversationId, payload.status, payload.upToSeq);
      } catch (error) {
        // Nothing stored yet (or erased): nothing to mark.
        if (error instanceof StoreError && error.code === 'not_found') return { changed: 0 };
        throw error;
      }
    },
  });

  const typing = new TypingTracker(() => ctx.clock().getTime(), (id, isTyping) =>
    agentNs.to(AGENTS_ROOM).emit('typing', { conversationId: id, role: 'visitor', typing: isTyping }),
  );
  socket.on('typing', (...args: unknown[]) => {
    const limited = limiters.typing.take(socket.id);
    if (!limited.ok) return void socket.emit('chat:error', rateLimited(limited.retryAfterMs));
    const parsed = typingSchema.safeParse(args[0]);
    if (!parsed.success) return void socket.emit('chat:error', validationError(parsed.error).toApiError());
    typing.update(conversationId, parsed.data.typing);
  });

  socket.on('disconnect', () => {
    typing.stopAll();
    forgetSocket(limiters, socket.id);
    ctx.track(announceVisitorPresence(ctx, conversationId));
  });

  // Joined before the catch-up is read: a change landing after the read is pushed live, none falls in between.
  await socket.join(room);
  const session = await signVisitorToken(ctx.config.secrets.visitorToken, socket.data, ctx.clock());
  const catchUp = await catchUpAfterConnect(ctx, socket);
  const replyByEmail = await replyByEmailOf(ctx, conversationId);
  socket.emit('session', {
    token: session.token,
    visitorId: socket.data.visitorId,
    conversationId,
    expiresAt: session.expiresAt.toISOString(),
    ...(socket.data.userId !== undefined ? { userId: socket.data.userId } : {}),
    ...(catchUp ? { catchUp } : {}),
    ...(replyByEmail ? { replyByEmail } : {}),
    attachments: { maxBytes: ctx.config.attachments.maxBytes },
    ...(ctx.config.visitorContext ? { visitorContext: true as const } : {}),
  });
  await tellAgentCount(ctx, socket);
  await announceVisitorPresence(ctx, conversationId);
}

/**
 * Tells a visitor who just connected how many agents take chats. The count asks every node; one that does not answer
 * in time (killed, and not yet dropped by the others' adapters) fails it, and the widget would then know nothing of
 * the team until the next change: so the count is looked up again, with backoff, while the visitor stays connected.
 */
async function tellAgentCount(ctx: BridgeContext, socket: VisitorSocket, attempt = 1): Promise<void> {
  if (!socket.connected) return;
  try {
    const online = await ctx.availability.visitorCount();
    if (socket.connected) socket.emit('agents:presence', { online });
  } catch (error) {
    if (!socket.connected) return;
    ctx.logger.error({ err: error, attempt }, 'agent count for a visitor failed; looking it up again');
    setTimeout(() => void tellAgentCount(ctx, socket, attempt + 1), backoffDelay(AGENT_COUNT_RETRY, attempt)).unref();
  }
}

/** Tells agents whether `conversationId` has a visitor online now (derived from its room's sockets). */
async function announceVisitorPresence(ctx: BridgeContext, conversationId: string): Promise<void> {
  try {
    // No console is connected (e.g. widgets returning after a restart before any agent does): nobody to tell, and an
    // agent connecting later reads presence from the sockets themselves with its conversation list.
    if (!agentsListening(ctx.agentNs)) return;
    try {
      const online = await isVisitorOnline(ctx.visitorNs, { id: conversationId, channel: Channel.web });
      ctx.agentNs.to(AGENTS_ROOM).emit('visitor:presence', { conversationId, online });
    } catch (error) {
      // Another node did not answer in time. The summary below carries presence too, and the fanout sends it again
      // until the lookup gets through, so agents do not keep a visitor online (or offline) that is not.
      ctx.logger.error({ err: error, conversationId }, 'visitor presence lookup failed; the conversation summary carries it');
    }
    const conversation = await ctx.store.getConversation(conversationId);
    if (conversation) await ctx.fanout.announceConversation(conversation);
  } catch (error) {
    ctx.logger.error({ err: error, conversationId }, 'visitor presence announcement failed');
  }
}

/**
 * `auth.afterRev` (validated by the handshake schema): the first `sync` page from it, carried in `session` so a
 * reconnect costs one store read and no extra round trip. Same reader as `sync`, so paging (`hasMore`), status
 * changes (by rev) and a client ahead of the server behave exactly alike.
 */
async function catchUpAfterConnect(ctx: BridgeContext, socket: VisitorSocket): Promise<CatchUp | undefined> {
  const afterRev = (socket.handshake.auth as { afterRev?: unknown } | undefined)?.afterRev;
  if (typeof afterRev !== 'number') return undefined;
  const page = await syncPage(ctx, await ctx.store.getConversation(socket.data.conversationId), afterRev);
  return { afterRev, ...page };
}
