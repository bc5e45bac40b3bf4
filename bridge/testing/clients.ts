/**
 * Typed socket.io-client helpers for tests: connect a visitor or an agent (resolving once connected, rejecting
 * with the handshake's error code), emit with an ack and a timeout, and wait for the next event.
 */
import { io, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import type {
  AgentClientToServerEvents,
  AgentServerToClientEvents,
  VisitorClientToServerEvents,
  VisitorServerToClientEvents,
  VisitorSession,
} from '../../protocol/events.ts';
import type { VisitorAuth } from '../../protocol/schemas.ts';
import { AGENT_NAMESPACE, VISITOR_NAMESPACE } from '../../protocol/events.ts';
import { WAIT_DEADLINE_MS } from './wait-until.ts';

/** A typed visitor client socket. */
export type VisitorClient = ClientSocket<VisitorServerToClientEvents, VisitorClientToServerEvents>;
/** A typed agent client socket. */
export type AgentClient = ClientSocket<AgentServerToClientEvents, AgentClientToServerEvents>;
/** A connected visitor with the latest `session` the bridge sent (updated on every reconnect). */
export type ConnectedVisitor = VisitorClient & { session: VisitorSession };

/** Options for the test clients (defaults: WebSocket only, new connection, no auto-reconnect). */
export type ClientOptions = Partial<ManagerOptions & SocketOptions> & { timeoutMs?: number };

/** The error a refused handshake gives: `message` is the bridge's code (`invalid_token`, `forbidden`, …). */
export class HandshakeError extends Error {
  constructor(readonly code: string) {
    super(code);
    this.name = 'HandshakeError';
  }
}

function connectOptions(options: ClientOptions): Partial<ManagerOptions & SocketOptions> {
  const { timeoutMs: _timeoutMs, ...rest } = options;
  return { transports: ['websocket'], forceNew: true, reconnection: false, ...rest };
}

function waitConnected(socket: ClientSocket, ready: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error(`waited ${timeoutMs} ms for "${ready}" after connecting a ${ready === "session" ? "visitor" : "agent"} socket`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.close();
      reject(new HandshakeError(error.message));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off(ready, onReady);
      socket.off('connect_error', onError);
    };
    socket.on(ready, onReady);
    socket.on('connect_error', onError);
  });
}

/** Connects to `/visitor` and resolves once the bridge has sent `session`; rejects with `HandshakeError`. */
export async function connectVisitor(
  url: string,
  auth: VisitorAuth = {},
  options: ClientOptions = {},
  listenBeforeConnecting?: (socket: VisitorClient) => void,
): Promise<ConnectedVisitor> {
  const socket = io(url + VISITOR_NAMESPACE, { ...connectOptions(options), auth }) as VisitorClient;
  listenBeforeConnecting?.(socket);
  const connected = Object.assign(socket, { session: undefined as unknown as VisitorSession });
  socket.on('session', (session) => {
    connected.session = session;
  });
  await waitConnected(socket, 'session', options.timeoutMs ?? WAIT_DEADLINE_MS);
  return connected;
}

/**
 * `connectVisitor`, recording every `agents:presence` count from the first one on. The listener is added before the
 * socket connects: the count can come in the same read as `session`, before a listener added once connected hears it.
 */
export async function connectVisitorHearingAgents(url: string, options: ClientOptions = {}): Promise<{ visitor: ConnectedVisitor; agentCounts: number[] }> {
  const agentCounts: number[] = [];
  const visitor = await connectVisitor(url, {}, options, (socket) => socket.on('agents:presence', ({ online }) => void agentCounts.push(online)));
  return { visitor, agentCounts };
}

/** Connects to `/agent` with an agent token; rejects with `HandshakeError` (`unauthorized`, …). */
export async function connectAgent(url: string, token: string, options: ClientOptions = {}): Promise<AgentClient> {
  const socket = io(url + AGENT_NAMESPACE, { ...connectOptions(options), auth: { token } }) as AgentClient;
  await waitConnected(socket, 'connect', options.timeoutMs ?? WAIT_DEADLINE_MS);
  return socket;
}

type PayloadOf<F> = F extends (payload: infer P, ...rest: never[]) => void ? P : never;
type AckOf<F> = F extends (payload: never, ack: (res: infer R) => void) => void
  ? R
  : F extends (payload: never, ack?: (res: infer R) => void) => void
    ? R
    : never;
type FirstArg<F> = F extends (value: infer V, ...rest: never[]) => void ? V : never;
type VisitorEmit = VisitorClientToServerEvents;
type AgentEmit = AgentClientToServerEvents;
type VisitorListen = VisitorServerToClientEvents & Pick<SocketReservedEvents, 'disconnect'>;
type AgentListen = AgentServerToClientEvents & Pick<SocketReservedEvents, 'disconnect'>;
interface SocketReservedEvents {
  disconnect: (reason: string) => void;
}

/** Emits `event` with `payload` and resolves with the ack; rejects, naming the event, after `timeoutMs` (default WAIT_DEADLINE_MS). */
export function emitWithAck<E extends keyof VisitorEmit>(
  socket: VisitorClient,
  event: E,
  payload: PayloadOf<VisitorEmit[E]>,
  timeoutMs?: number,
): Promise<AckOf<VisitorEmit[E]>>;
export function emitWithAck<E extends keyof AgentEmit>(
  socket: AgentClient,
  event: E,
  payload: PayloadOf<AgentEmit[E]>,
  timeoutMs?: number,
): Promise<AckOf<AgentEmit[E]>>;
export function emitWithAck(socket: VisitorClient | AgentClient, event: string, payload: unknown, timeoutMs = WAIT_DEADLINE_MS): Promise<unknown> {
  return (socket as unknown as ClientSocket)
    .timeout(timeoutMs)
    .emitWithAck(event, payload)
    .catch((error: unknown) => {
      throw new Error(`waited ${timeoutMs} ms for the ack of "${event}": ${(error as Error).message}`);
    });
}

/** Emits anything (unknown events, malformed payloads) and resolves with the ack; for abuse tests. */
export function emitRaw(socket: VisitorClient | AgentClient, event: string, ...args: unknown[]): Promise<unknown> {
  return (socket as unknown as ClientSocket)
    .timeout(WAIT_DEADLINE_MS)
    .emitWithAck(event, ...args)
    .catch((error: unknown) => {
      throw new Error(`waited ${WAIT_DEADLINE_MS} ms for the ack of "${event}": ${(error as Error).message}`);
    });
}

/** Resolves with the next `event`'s argument that passes `filter`; rejects after `timeoutMs` (default WAIT_DEADLINE_MS). */
export function nextEvent<E extends keyof VisitorListen>(
  socket: VisitorClient,
  event: E,
  timeoutMs?: number,
  filter?: (value: FirstArg<VisitorListen[E]>) => boolean,
): Promise<FirstArg<VisitorListen[E]>>;
export function nextEvent<E extends keyof AgentListen>(
  socket: AgentClient,
  event: E,
  timeoutMs?: number,
  filter?: (value: FirstArg<AgentListen[E]>) => boolean,
): Promise<FirstArg<AgentListen[E]>>;
export function nextEvent(
  socket: VisitorClient | AgentClient,
  event: string,
  timeoutMs = WAIT_DEADLINE_MS,
  filter: (value: unknown) => boolean = () => true,
): Promise<unknown> {
  const untyped = socket as unknown as ClientSocket;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      untyped.off(event, listener);
      reject(new Error(`waited ${timeoutMs} ms for a "${event}" event (that the test's filter accepts)`));
    }, timeoutMs);
    const listener = (value: unknown): void => {
      if (!filter(value)) return;
      clearTimeout(timer);
      untyped.off(event, listener);
      resolve(value);
    };
    untyped.on(event, listener);
  });
}

/** Collects every `event` into an array (for asserting what arrived, or that nothing did). */
export function collect<E extends keyof VisitorListen>(socket: VisitorClient, event: E): FirstArg<VisitorListen[E]>[];
export function collect<E extends keyof AgentListen>(socket: AgentClient, event: E): FirstArg<AgentListen[E]>[];
export function collect(socket: VisitorClient | AgentClient, event: string): unknown[] {
  const seen: unknown[] = [];
  (socket as unknown as ClientSocket).on(event, (value: unknown) => void seen.push(value));
  return seen;
}
