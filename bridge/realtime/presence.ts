/**
 * Presence derived from the connected sockets themselves, never from a separate map: after a restart, or with a
 * multi-process adapter, the sockets are the truth.
 */
import { EventEmitter } from 'node:events';
import type { Namespace } from 'socket.io';
import type { AgentPublic } from '../../protocol/events.ts';
import { Channel, type Conversation, type ConversationSummary } from '../../protocol/conversation.ts';
import { AGENTS_ROOM, AVAILABLE_ROOM, VISIBLE_ROOM, conversationRoom, type AgentNamespace, type VisitorNamespace } from './namespaces.ts';

type AnyAdapter = Namespace['adapter'];
const localOnly = new WeakMap<AnyAdapter, boolean>();

/**
 * The bridge's one check for "is this the in-memory adapter": true when `adapter.fetchSockets` is socket.io's
 * in-memory one (no subclass overrides it), i.e. it answers from this process's rooms alone. Then the namespace's own
 * rooms and sockets give the same answer without a promise and a RemoteSocket copy per socket (a connect asks twice,
 * which shows in a reconnect-storm profile); a cluster adapter overrides fetchSockets to ask the other processes, and
 * is asked.
 */
function answersLocally(adapter: AnyAdapter): boolean {
  let known = localOnly.get(adapter);
  if (known === undefined) {
    // The in-memory Adapter is the class directly above EventEmitter; every adapter extends it.
    let base: object | null = Object.getPrototypeOf(adapter) as object | null;
    while (base && Object.getPrototypeOf(base) !== EventEmitter.prototype) base = Object.getPrototypeOf(base) as object | null;
    known = base !== null && adapter.fetchSockets === (base as AnyAdapter).fetchSockets;
    localOnly.set(adapter, known);
  }
  return known;
}

/** Ids of every conversation with at least one connected visitor socket. */
export async function onlineConversationIds(visitorNs: VisitorNamespace): Promise<Set<string>> {
  if (answersLocally(visitorNs.adapter)) {
    const ids = new Set<string>();
    for (const socket of visitorNs.sockets.values()) ids.add(socket.data.conversationId);
    return ids;
  }
  const sockets = await visitorNs.fetchSockets();
  return new Set(sockets.map((socket) => socket.data.conversationId));
}

/** True when a visitor of the conversation is connected. */
export async function isVisitorOnline(visitorNs: VisitorNamespace, conversation: Pick<Conversation, 'id' | 'channel'>): Promise<boolean> {
  // Visitor sockets only ever hold web conversations (a widget's token names one; a verified user who continues another
  // channel's conversation is given a web one): no other channel's visitor can be online, and in a cluster not asking
  // saves a request to every node for each summary of a busy WhatsApp conversation.
  if (conversation.channel !== Channel.web) return false;
  const room = conversationRoom(conversation.id);
  // `adapter.rooms` holds this node's sockets with any adapter: a visitor connected here settles it without asking the
  // other nodes (a cluster adapter's fetchSockets is a request to every node and a wait for all their answers, and
  // each message's conversation summary asks).
  const here = (visitorNs.adapter.rooms.get(room)?.size ?? 0) > 0;
  if (here || answersLocally(visitorNs.adapter)) return here;
  const sockets = await visitorNs.in(room).fetchSockets();
  return sockets.length > 0;
}

/**
 * False only when it is certain no agent would receive an `AGENTS_ROOM` broadcast: the in-memory adapter and an empty
 * room. socket.io encodes a broadcast before looking for recipients, so an announcement to nobody still costs its
 * encoding (plus, for a visitor connect, a store read for the summary), which matters in a restart storm, where
 * widgets come back before any console does. A cluster adapter is always told.
 */
export function agentsListening(agentNs: AgentNamespace): boolean {
  if (!answersLocally(agentNs.adapter)) return true;
  return (agentNs.adapter.rooms.get(AGENTS_ROOM)?.size ?? 0) > 0;
}

/** True when the namespace's adapter reaches other processes (a cluster adapter), false for the in-memory one. */
export function isClustered(namespace: Namespace): boolean {
  return !answersLocally(namespace.adapter);
}

/**
 * Every connected agent, once each (an agent may have several tabs), `online` when any of their sockets is in
 * `AVAILABLE_ROOM` (all of an agent's sockets move together; one that joined mid-change still counts).
 */
export async function onlineAgents(agentNs: AgentNamespace): Promise<AgentPublic[]> {
  const sockets = answersLocally(agentNs.adapter) ? agentNs.sockets.values() : await agentNs.fetchSockets();
  const byId = new Map<string, AgentPublic>();
  for (const socket of sockets) {
    const available = socket.rooms.has(AVAILABLE_ROOM);
    if (byId.get(socket.data.agentId)?.availability === 'online') continue;
    byId.set(socket.data.agentId, { id: socket.data.agentId, name: socket.data.agentName, availability: available ? 'online' : 'away' });
  }
  return [...byId.values()];
}

/** How many agents are Online with a console connected, once each. */
export async function availableAgentCount(agentNs: AgentNamespace): Promise<number> {
  return (await availableAgentIds(agentNs)).size;
}

/** The ids of the agents who are Online with a console connected (on any node). */
export function availableAgentIds(agentNs: AgentNamespace): Promise<Set<string>> {
  return agentIdsIn(agentNs, AVAILABLE_ROOM);
}

/** The ids of the agents with a console tab visible now (on any node). */
export function visibleAgentIds(agentNs: AgentNamespace): Promise<Set<string>> {
  return agentIdsIn(agentNs, VISIBLE_ROOM);
}

async function agentIdsIn(agentNs: AgentNamespace, room: string): Promise<Set<string>> {
  const ids = new Set<string>();
  if (answersLocally(agentNs.adapter)) {
    for (const socketId of agentNs.adapter.rooms.get(room) ?? []) {
      const socket = agentNs.sockets.get(socketId);
      if (socket) ids.add(socket.data.agentId);
    }
  } else {
    for (const socket of await agentNs.in(room).fetchSockets()) ids.add(socket.data.agentId);
  }
  return ids;
}

/** A stored conversation plus its live presence, as agents see it. */
export function toSummary(conversation: Conversation, visitorOnline: boolean): ConversationSummary {
  return { ...conversation, visitorOnline };
}
