/**
 * The shared dependencies every part of a running bridge uses (handlers, routes, webhooks, fan-out sinks).
 * `createBridge` builds one per bridge; nothing here is a module-level singleton.
 */
import type { Server } from 'socket.io';
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';
import type { Store } from './store/store.ts';
import type { Fanout } from './fanout.ts';
import type { BridgeMetrics } from './metrics.ts';
import type { TeamAvailability } from './team-availability.ts';
import type { AgentNamespace, VisitorNamespace } from './realtime/namespaces.ts';

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
  /** Work started by a socket's disconnect that a closing bridge waits for (bounded) before its adapter and store go. */
  track(work: Promise<unknown>): void;
}
