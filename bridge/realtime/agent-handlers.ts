/** Events of the `/agent` namespace: every conversation is reachable, by id, after the token handshake. */
import {
  agentHistorySchema,
  agentReceiptSchema,
  agentRetrySchema,
  agentSendSchema,
  agentSyncSchema,
  agentTypingSchema,
  consoleVisibilitySchema,
  conversationAssignSchema,
  conversationContextSchema,
  conversationListSchema,
  conversationStateSchema,
} from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import {
  AGENTS_ROOM,
  AVAILABLE_ROOM,
  VISIBLE_ROOM,
  agentRoom,
  conversationRoom,
  sessionRoom,
  type AgentSocket,
} from './namespaces.ts';
import { liveSessionAgent } from '../auth/agent-sessions.ts';
import {
  applyReceipt,
  assignConversation,
  changeConversationState,
  historyPage,
  listSummaries,
  requireConversation,
  storeMessage,
  syncPage,
} from '../conversations.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { visitorContextOf } from '../visitor-context.ts';
import { onEvent, rateLimited, refuseUnknownEvents } from './dispatch.ts';
import { forgetSocket, type SocketLimiters } from './socket-limits.ts';
import { TypingTracker } from './typing.ts';
import { ReceiptBatch } from './receipt-batch.ts';

const KNOWN_EVENTS = new Set([
  'conversations:list',
  'message:send',
  'message:retry',
  'conversation:state',
  'conversation:assign',
  'conversation:context',
  'sync',
  'history',
  'receipt',
  'typing',
  'console:visibility',
]);

/** Wires one connected agent socket: the agents room, presence, events. */
export async function registerAgentHandlers(
  ctx: BridgeContext,
  socket: AgentSocket,
  limiters: SocketLimiters,
): Promise<void> {
  const { agentId, displayName } = socket.data;
  refuseUnknownEvents(socket, KNOWN_EVENTS);

  onEvent(ctx, socket, 'conversations:list', {
    schema: conversationListSchema,
    limiter: limiters.events,
    run: async (payload) => ({ conversations: await listSummaries(ctx, payload, agentId) }),
  });

  onEvent(ctx, socket, 'conversation:context', {
    schema: conversationContextSchema,
    limiter: limiters.events,
    run: async (payload) => {
      await requireConversation(ctx, payload.conversationId);
      return { context: (await visitorContextOf(ctx, payload.conversationId)) ?? null };
    },
  });

  onEvent(ctx, socket, 'message:send', {
    schema: agentSendSchema,
    observeAck: ctx.metrics.observeSendAck,
    limiter: limiters.messages,
    run: async (payload, afterAck) => {
      // No read beforehand: the append itself answers not_found for a conversation that does not exist.
      const stored = await storeMessage(ctx, {
        conversationId: payload.conversationId,
        clientId: payload.clientId,
        // Visitors see the display name above the reply, never the login name.
        author: { role: 'agent', agentId, name: displayName },
        text: payload.text,
        attachmentIds: payload.attachments,
      });
      afterAck(stored.announce);
      return stored.message;
    },
  });

  onEvent(ctx, socket, 'message:retry', {
    schema: agentRetrySchema,
    limiter: limiters.messages,
    run: async (payload) => {
      const conversation = await requireConversation(ctx, payload.conversationId);
      const message = await ctx.store.getMessage(conversation.id, payload.messageId);
      if (!message) throw new BridgeError('not_found', 'No such message.');
      if (conversation.channel === 'web') {
        throw new BridgeError('bad_request', 'Web conversations have no external delivery to retry.');
      }
      if (message.author.role !== 'agent') throw new BridgeError('bad_request', 'Only agent messages are delivered.');
      const outcome = await ctx.fanout.retryDelivery(message, conversation);
      if (outcome.kind === 'retried') return outcome.message;
      if (outcome.kind === 'unsupported') {
        throw new BridgeError('bad_request', `No delivery is configured for ${conversation.channel} conversations.`);
      }
      throw new BridgeError('upstream_failed', 'The external channel refused the message; try again later.');
    },
  });

  onEvent(ctx, socket, 'conversation:state', {
    schema: conversationStateSchema,
    limiter: limiters.events,
    run: async (payload, afterAck) => {
      const changed = await changeConversationState(ctx, payload.conversationId, payload.state);
      afterAck(changed.announce);
      return changed.summary;
    },
  });

  onEvent(ctx, socket, 'conversation:assign', {
    schema: conversationAssignSchema,
    limiter: limiters.events,
    run: async (payload, afterAck) => {
      const changed = await assignConversation(ctx, payload.conversationId, payload.assigneeId);
      afterAck(changed.announce);
      return changed.summary;
    },
  });

  onEvent(ctx, socket, 'sync', {
    schema: agentSyncSchema,
    limiter: limiters.events,
    run: async (payload) => syncPage(ctx, await requireConversation(ctx, payload.conversationId), payload.afterRev),
  });

  onEvent(ctx, socket, 'history', {
    schema: agentHistorySchema,
    limiter: limiters.events,
    run: async (payload) => {
      const conversation = await requireConversation(ctx, payload.conversationId);
      return historyPage(ctx, conversation.id, payload.beforeSeq, payload.limit);
    },
  });

  const receipts = new ReceiptBatch((id, status, upToSeq) => applyReceipt(ctx, id, 'agent', upToSeq, status));
  onEvent(ctx, socket, 'receipt', {
    schema: agentReceiptSchema,
    limiter: limiters.events,
    // The store answers not_found for a conversation that does not exist: no read beforehand.
    run: async (payload) => receipts.submit(payload.conversationId, payload.status, payload.upToSeq),
  });

  const typing = new TypingTracker(() => ctx.clock().getTime(), (conversationId, isTyping) => {
    const event = { conversationId, role: 'agent' as const, name: displayName, typing: isTyping };
    ctx.visitorNs.to(conversationRoom(conversationId)).emit('typing', event);
    // Other agents see who is answering, so two do not reply at once.
    socket.to(AGENTS_ROOM).emit('typing', event);
  });
  socket.on('typing', (...args: unknown[]) => {
    const limited = limiters.typing.take(socket.id);
    if (!limited.ok) return void socket.emit('chat:error', rateLimited(limited.retryAfterMs));
    const parsed = agentTypingSchema.safeParse(args[0]);
    if (!parsed.success) return void socket.emit('chat:error', validationError(parsed.error).toApiError());
    typing.update(parsed.data.conversationId, parsed.data.typing);
  });

  // Kept in room membership, like availability, so Web Push asks every node's sockets at once (bridge/push/).
  onEvent(ctx, socket, 'console:visibility', {
    schema: consoleVisibilitySchema,
    limiter: limiters.events,
    run: async (payload) => {
      if (payload.visible) await socket.join(VISIBLE_ROOM);
      else await socket.leave(VISIBLE_ROOM);
      return payload;
    },
  });

  socket.on('disconnect', () => {
    typing.stopAll();
    forgetSocket(limiters, socket.id);
    ctx.track(ctx.availability.announce());
  });

  await socket.join([AGENTS_ROOM, agentRoom(agentId), sessionRoom(socket.data.sessionId)]);
  // A sign-out between the handshake's check and these joins disconnected nobody: look again now that the rooms
  // would reach this socket.
  const agent = await liveSessionAgent(ctx.store, agentId, socket.data.sessionId);
  if (!agent) {
    socket.disconnect(true);
    return;
  }
  // Read after joining the agent's room: a change of availability stored after this read moves this socket too.
  if (agent.availability === 'online') await socket.join(AVAILABLE_ROOM);
  await ctx.availability.announce();
}
