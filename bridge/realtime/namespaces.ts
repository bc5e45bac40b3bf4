/**
 * The typed `/visitor` and `/agent` namespaces, what each socket keeps after its handshake, and the rooms sockets
 * join. Fan-out, presence and the handlers address sockets only through these.
 */
import type { Namespace, Socket } from 'socket.io';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  AgentSocketData,
  VisitorClientToServerEvents,
  VisitorServerToClientEvents,
  VisitorSocketData,
} from '../../protocol/events.ts';

/** What the bridge keeps per visitor socket after the handshake. */
export interface VisitorSocketState extends VisitorSocketData {
  /** Display name for a conversation created by this socket's first message. */
  name: string;
  site?: string;
  /** Client IP (X-Forwarded-For aware when TRUST_PROXY). */
  ip: string;
}

/** What the bridge keeps per agent socket after the handshake. */
export interface AgentSocketState extends AgentSocketData {
  ip: string;
}

/** The typed `/visitor` namespace. */
export type VisitorNamespace = Namespace<
  VisitorClientToServerEvents,
  VisitorServerToClientEvents,
  Record<string, never>,
  VisitorSocketState
>;
/** The typed `/agent` namespace. */
export type AgentNamespace = Namespace<
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  Record<string, never>,
  AgentSocketState
>;
/** A connected visitor socket. */
export type VisitorSocket = Socket<
  VisitorClientToServerEvents,
  VisitorServerToClientEvents,
  Record<string, never>,
  VisitorSocketState
>;
/** A connected agent socket. */
export type AgentSocket = Socket<
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  Record<string, never>,
  AgentSocketState
>;

/** Socket room of one conversation in the visitor namespace. */
export function conversationRoom(conversationId: string): string {
  return `conv:${conversationId}`;
}

/** Socket room every agent socket joins. */
export const AGENTS_ROOM = 'agents';

/**
 * Socket room of the agent sockets whose agent is Online (set in the console). Availability lives in room membership,
 * like presence, so every node reads it from the sockets and a change moves the agent's sockets on every node.
 */
export const AVAILABLE_ROOM = 'agents:available';

/**
 * Socket room of the agent sockets whose console tab is visible (the console reports `document.visibilityState`). An
 * agent with a socket here sees new messages on screen, so Web Push leaves them alone; any node reads it from the sockets.
 */
export const VISIBLE_ROOM = 'agents:visible';

/** Socket room of every socket one agent has open (any session, any node). */
export function agentRoom(agentId: string): string {
  return `agent:${agentId}`;
}

/** Socket room of the sockets of one sign-in (one console). */
export function sessionRoom(sessionId: string): string {
  return `session:${sessionId}`;
}
