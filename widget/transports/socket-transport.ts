/**
 * The Socket.IO transport: the visitor's conversation over the bridge's `/visitor` namespace.
 * The token travels only in the handshake `auth` (never in the URL, so it stays out of proxy logs).
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack, ApiError } from '../../protocol/errors.ts';
import { PERMANENT_ERRORS } from '../../protocol/errors.ts';
import { VISITOR_NAMESPACE, type VisitorClientToServerEvents, type VisitorServerToClientEvents } from '../../protocol/events.ts';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import type { VisitorAuth } from '../../protocol/schemas.ts';
import { TransportError, type ConnectionState, type OutgoingMessage, type Transport, type TransportEvents } from './transport.ts';

/** Who the visitor is and where to reach the bridge; read again on every (re)connect. */
export interface VisitorTransportOptions {
  /** Bridge base URL, e.g. `https://chat.example.com`. */
  server: string;
  /** Handshake fields besides the token: site, verified identity, display name, last known revision. */
  auth: () => Omit<VisitorAuth, 'token'>;
  getToken: () => string | undefined;
  /** Stores the token from each `session` event; `undefined` forgets it. */
  setToken: (token: string | undefined) => void;
  /** Milliseconds before a request without an answer fails as `timeout` (retryable). */
  requestTimeoutMs?: number;
}

type VisitorSocket = Socket<VisitorServerToClientEvents, VisitorClientToServerEvents>;

/** Turns a failed ack into the transport's error, telling retryable failures from permanent ones. */
export function ackError(error: ApiError): TransportError {
  return new TransportError(error.code, error.message, PERMANENT_ERRORS.has(error.code), error.retryAfterMs);
}

/** Creates a {@link SocketTransport}. */
export function createSocketTransport(options: VisitorTransportOptions): Transport {
  return new SocketTransport(options);
}

/** {@link Transport} over Socket.IO, reconnecting by itself with Socket.IO's jittered backoff. */
export class SocketTransport implements Transport {
  readonly kind = 'realtime' as const;
  #state: ConnectionState = 'offline';
  #socket: VisitorSocket | undefined;
  #listeners = new Map<keyof TransportEvents, Set<(...args: never[]) => void>>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;

  constructor(private readonly options: VisitorTransportOptions) {}

  get state(): ConnectionState {
    return this.#state;
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  #emit<K extends keyof TransportEvents>(event: K, ...args: Parameters<TransportEvents[K]>): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as unknown as (...a: Parameters<TransportEvents[K]>) => void)(...args);
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit('state', state);
  }

  connect(): Promise<void> {
    if (this.#socket) return Promise.resolve();
    const url = new URL(VISITOR_NAMESPACE, this.options.server).href;
    const socket: VisitorSocket = io(url, {
      // Only a WebSocket: no long-polling requests before first render, and nothing carries the token in a URL.
      transports: ['websocket'],
      auth: (cb) => {
        const token = this.options.getToken();
        cb({ ...this.options.auth(), ...(token ? { token } : {}) });
      },
      reconnectionDelay: 500,
      reconnectionDelayMax: 10_000,
      randomizationFactor: 0.5,
    });
    this.#socket = socket;
    this.#setState('connecting');

    socket.on('connect', () => {
      this.#failures = 0;
      this.#setState('online');
    });
    socket.on('disconnect', (reason) => {
      this.#setState('offline');
      // A server-side disconnect is not retried by Socket.IO itself; everything else is.
      if (reason === 'io server disconnect') this.#retryLater();
    });
    socket.io.on('reconnect_attempt', () => this.#setState('connecting'));
    socket.on('connect_error', (err) => {
      if (err.message === 'invalid_token') {
        // The old conversation is unreachable by design: become a fresh anonymous visitor at once.
        this.options.setToken(undefined);
        socket.connect();
        return;
      }
      this.#setState('offline');
      if (err.message === 'invalid_user_hash') {
        this.#emit('error', { code: 'forbidden', message: 'invalid_user_hash' });
        return;
      }
      // A middleware refusal leaves the socket inactive (no automatic retry); transport failures keep it active.
      if (!socket.active) this.#retryLater();
    });
    socket.on('session', (session) => {
      this.options.setToken(session.token);
      this.#emit('session', session);
    });
    socket.on('message:new', (m) => this.#emit('message', m));
    socket.on('message:status', (c) => this.#emit('status', c));
    socket.on('typing', (t) => this.#emit('typing', t));
    socket.on('agents:presence', (p) => this.#emit('presence', p));
    socket.on('chat:error', (e) => this.#emit('error', e));

    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('connect', done);
        socket.off('connect_error', done);
        resolve();
      };
      socket.on('connect', done);
      socket.on('connect_error', done);
    });
  }

  #retryLater(): void {
    clearTimeout(this.#retryTimer);
    this.#failures++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6)) * (0.5 + Math.random() / 2);
    this.#retryTimer = setTimeout(() => this.#socket?.connect(), delay);
  }

  disconnect(): void {
    clearTimeout(this.#retryTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.removeAllListeners();
      socket.io.removeAllListeners();
      socket.disconnect();
    }
    this.#setState('offline');
  }

  #request<T>(send: (socket: TimedSocket, ack: (err: Error | null, res: Ack<T>) => void) => void): Promise<T> {
    const socket = this.#socket;
    // Socket.IO would buffer an emit while disconnected and send it later; the outbox owns retries instead.
    if (!socket?.connected) return Promise.reject(new TransportError('offline', 'offline', false));
    return new Promise<T>((resolve, reject) => {
      send(socket.timeout(this.options.requestTimeoutMs ?? 10_000), (err, res) => {
        if (err) reject(new TransportError('timeout', 'timeout', false));
        else if (res.ok) resolve(res.data);
        else reject(ackError(res.error));
      });
    });
  }

  send(message: OutgoingMessage): Promise<Message> {
    return this.#request<Message>((s, ack) => s.emit('message:send', { clientId: message.clientId, text: message.text }, ack));
  }

  sync(afterRev: number): Promise<SyncResult> {
    return this.#request<SyncResult>((s, ack) => s.emit('sync', { afterRev }, ack));
  }

  history(beforeSeq?: number, limit?: number): Promise<MessagePage> {
    const payload: { beforeSeq?: number; limit?: number } = {};
    if (beforeSeq !== undefined) payload.beforeSeq = beforeSeq;
    if (limit !== undefined) payload.limit = limit;
    return this.#request<MessagePage>((s, ack) => s.emit('history', payload, ack));
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    if (this.#socket?.connected) this.#socket.emit('receipt', { upToSeq, status });
  }

  typing(typing: boolean): void {
    // Typing is ephemeral: never buffer it for a later connection.
    if (this.#socket?.connected) this.#socket.volatile.emit('typing', { typing });
  }
}

type TimedSocket = ReturnType<VisitorSocket['timeout']>;
