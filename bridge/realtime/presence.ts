/**
 * Presence derived from the connected sockets themselves (`fetchSockets`), never from a separate map: after a
 * restart, or with a multi-process adapter, the sockets are the truth.
 */
import type { AgentPublic } from '../../protocol/events.ts';
import type { Conversation, ConversationSummary } from '../../protocol/conversation.ts';
import { conversationRoom, type AgentNamespace, type VisitorNamespace } from '../context.ts';

/** Ids of every conversation with at least one connected visitor socket. */
export async function onlineConversationIds(visitorNs: VisitorNamespace): Promise<Set<string>> {
  const sockets = await visitorNs.fetchSockets();
  return new Set(sockets.map((socket) => socket.data.conversationId));
}

/** True when a visitor of `conversationId` is connected. */
export async function isVisitorOnline(visitorNs: VisitorNamespace, conversationId: string): Promise<boolean> {
  const sockets = await visitorNs.in(conversationRoom(conversationId)).fetchSockets();
  return sockets.length > 0;
}

/** Every connected agent, once each (an agent may have several tabs). */
export async function onlineAgents(agentNs: AgentNamespace): Promise<AgentPublic[]> {
  const sockets = await agentNs.fetchSockets();
  const byId = new Map<string, AgentPublic>();
  for (const socket of sockets) byId.set(socket.data.agentId, { id: socket.data.agentId, name: socket.data.agentName });
  return [...byId.values()];
}

/** A stored conversation plus its live presence, as agents see it. */
export function toSummary(conversation: Conversation, visitorOnline: boolean): ConversationSummary {
  return { ...conversation, visitorOnline };
}
