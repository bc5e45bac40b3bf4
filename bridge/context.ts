/**
 * The shared dependencies every part of a running bridge uses (handlers, routes, webhooks, fan-out sinks).
 * `createBridge` builds one per bridge; nothing here is a module-level singleton.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';
import type { Store } from './store/store.ts';
import type { Fanout } from './fanout.ts';
import type { BridgeMetrics } from './metrics.ts';
import type { TeamAvailability } from './team-availability.ts';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  AgentSocketData,
  VisitorClientToServerEvents,
  VisitorServerToClientEvents,
  VisitorSocketData,
} from '../protocol/events.ts';

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

/** Everything a handler, route, webhook or sink of one bridge may use. */
export interface BridgeContext {
  config: BridgeConfig;
  store: Store;
  logger: Logger;
  /** Current time; injected so tests can move it. */
  clock: () => Date;
  io: Server;
  visitorNs: VisitorNamespace;
  agentNs: AgentNamespace;
  /** The one place that announces new messages and status changes (sockets and registered sinks). */
  fanout: Fanout;
  /** Whether the team takes chats now (agents Online, business hours), as visitors are told. */
  availability: TeamAvailability;
  /** This bridge's Prometheus metrics (its own registry). */
  metrics: BridgeMetrics;
  /** Outbound HTTP (WhatsApp Cloud API, webhook receivers); injected so tests can point it at loopback servers. */
  http: AxiosInstance;
  /** Registers work to run when the bridge closes (stop workers, timers), before sockets and the server close. */
  onClose(hook: () => void | Promise<void>): void;
}

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

/** Socket room of every socket one agent has open (any session, any node). */
export function agentRoom(agentId: string): string {
  return `agent:${agentId}`;
}

/** Socket room of the sockets of one sign-in (one console). */
export function sessionRoom(sessionId: string): string {
  return `session:${sessionId}`;
}
