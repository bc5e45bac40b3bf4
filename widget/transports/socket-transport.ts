/**
 * The Socket.IO transport: the visitor's conversation over the bridge's `/visitor` namespace, spoken directly over one
 * WebSocket (socket-io-wire.ts) so the widget stays inside its size budget. The token travels only in the namespace
 * handshake `auth` (never in the URL, so it stays out of proxy logs). Reconnects by itself with jittered backoff.
 */
import type { Ack, ApiError } from '../../protocol/errors.ts';
import { PERMANENT_ERRORS } from '../../protocol/errors.ts';
import {
  VISITOR_NAMESPACE,
  type MessagePage,
  type ReplyByEmail,
  type SyncResult,
  type VisitorClientToServerEvents,
  type VisitorServerToClientEvents,
} from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import type { VisitorAuth } from '../../protocol/schemas.ts';
import type { VisitorContextReport } from '../../protocol/visitor-context.ts';
import { backoffDelay, type BackoffPolicy } from '../../protocol/backoff.ts';
import { EnginePacket, PacketType, decodeHandshake, decodePacket, encodePacket, engineUrl } from './socket-io-wire.ts';
import { TransportError, type ConnectionState, type OutgoingMessage, type Transport, type TransportEvents } from './transport.ts';
import { TransportListeners } from './transport-listeners.ts';

/**
 * Reconnects: the first waits 125–250 ms, the window doubles per attempt up to 1.5 s, with a small fixed floor. Why so
 * short: after a bridge restart longer waits left most widgets idle for seconds after the server was back (bench
 * scenario 7); the jitter still spreads the reconnect storm.
 */
export const RECONNECT_BACKOFF: BackoffPolicy = { baseDelayMs: 250, maxDelayMs: 1500, floorMs: 125 };
/**
 * After the bridge refused this page's origin (not in ALLOWED_ORIGINS): retrying sooner cannot help until the
 * operator changes the setting, and every retry is a handshake the bridge must refuse again.
 */
export const ORIGIN_REFUSED_RETRY_MS = 5 * 60_000;

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

/** Turns a failed ack into the transport's error, telling retryable failures from permanent ones. */
export function ackError(error: ApiError): TransportError {
  return new TransportError(error.code, error.message, PERMANENT_ERRORS.has(error.code), error.retryAfterMs);
}

/** Creates a {@link SocketTransport}. */
export function createSocketTransport(options: VisitorTransportOptions): Transport {
  return new SocketTransport(options);
}

type Pending = { resolve: (value: unknown) => void; reject: (error: TransportError) => void; timer: ReturnType<typeof setTimeout> };

type ClientEvents = VisitorClientToServerEvents;
/** The payload the bridge's schema expects with client event `E`. */
type PayloadOf<E extends keyof ClientEvents> = Parameters<ClientEvents[E]>[0];
/** Client events the bridge always answers with an ack (the widget waits for it). */
type RequestEvent = {
  [E in keyof ClientEvents]: Parameters<ClientEvents[E]> extends [unknown, (res: never) => void] ? E : never;
}[keyof ClientEvents];
/** What a successful ack of request `E` carries. */
type AckDataOf<E extends RequestEvent> = Extract<Parameters<Parameters<ClientEvents[E]>[1]>[0], { ok: true }>['data'];

/** An ack as the wire delivers it: anything else is answered as a malformed ack. */
function isAck(value: unknown): value is Ack<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { ok?: unknown }).ok === 'boolean';
}

type ServerEvents = VisitorServerToClientEvents;
/** Passes server event `E` on to the transport's listeners, its payload typed by the shared event map. */
type Relay = { [E in keyof ServerEvents]: (events: TransportListeners, ...args: Parameters<ServerEvents[E]>) => void };
const RELAY: Relay = {
  session: (events, session) => events.emit('session', session),
  'message:new': (events, message) => events.emit('message', message),
  'message:status': (events, change) => events.emit('status', change),
  typing: (events, typing) => events.emit('typing', typing),
  'agents:presence': (events, presence) => events.emit('presence', presence),
  'chat:error': (events, error) => events.emit('error', error),
  'conversation:erased': (events) => events.emit('erased'),
  'changes:missed': (events) => events.emit('missed'),
};

/** {@link Transport} over the bridge's Socket.IO endpoint. */
export class SocketTransport implements Transport {
  readonly kind = 'realtime' as const;
  #state: ConnectionState = 'offline';
  #ws: WebSocket | undefined;
  #joined = false;
  #running = false;
  #attempt = 0;
  /** The origin-refused warning goes to the console once per page, not once per retry. */
  #warnedOrigin = false;
  #nextId = 0;
  #pending = new Map<number, Pending>();
  readonly #events = new TransportListeners();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setTimeout> | undefined;
  #heartbeatMs = 50_000;
  #firstOutcome: (() => void) | undefined;

  constructor(private readonly options: VisitorTransportOptions) {}

  get state(): ConnectionState {
    return this.#state;
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.#events.on(event, listener);
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#events.emit('state', state);
  }

  /** Starts connecting; resolves after the first attempt succeeded or failed (it keeps retrying either way). */
  connect(): Promise<void> {
    if (this.#running) return Promise.resolve();
    this.#running = true;
    globalThis.addEventListener?.('online', this.#onNetworkBack);
    return new Promise((resolve) => {
      this.#firstOutcome = resolve;
      this.#open();
    });
  }

  disconnect(): void {
    this.#running = false;
    globalThis.removeEventListener?.('online', this.#onNetworkBack);
    clearTimeout(this.#retryTimer);
    this.#close();
    this.#setState('offline');
  }

  #onNetworkBack = (): void => {
    // The browser knows the network is back before any backoff timer does.
    if (this.#running && !this.#ws) {
      clearTimeout(this.#retryTimer);
      this.#attempt = 0;
      this.#open();
    }
  };

  #settleFirst(): void {
    this.#firstOutcome?.();
    this.#firstOutcome = undefined;
  }

  #open(): void {
    if (!this.#running) return;
    this.#setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(engineUrl(this.options.server));
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.#onFrame(event.data);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#close();
      this.#scheduleRetry();
    };
  }

  /** Drops the socket and fails every request waiting on it (the outbox retries them). */
  #close(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#joined = false;
    clearTimeout(this.#heartbeat);
    if (ws) {
      ws.onclose = ws.onmessage = null;
      if (ws.readyState <= 1) ws.close();
    }
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new TransportError('offline', 'offline', false));
      this.#pending.delete(id);
    }
  }

  #scheduleRetry(delay = backoffDelay(RECONNECT_BACKOFF, ++this.#attempt)): void {
    this.#setState('offline');
    this.#settleFirst();
    clearTimeout(this.#retryTimer);
    if (this.#running) this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  #armHeartbeat(): void {
    clearTimeout(this.#heartbeat);
    // Engine.IO v4: the server pings every pingInterval; silence beyond pingInterval + pingTimeout means it is gone.
    this.#heartbeat = setTimeout(() => {
      this.#close();
      this.#scheduleRetry();
    }, this.#heartbeatMs);
  }

  #send(frame: string): void {
    if (this.#ws?.readyState === 1) this.#ws.send(frame);
  }

  #onFrame(frame: string): void {
    const kind = frame[0];
    if (kind === EnginePacket.open) {
      const handshake = decodeHandshake(frame.slice(1));
      if (!handshake) {
        // Not an Engine.IO server (or a broken proxy answer): drop it and come back like after any other failure.
        this.#close();
        this.#scheduleRetry();
        return;
      }
      this.#heartbeatMs = handshake.pingInterval + handshake.pingTimeout;
      this.#armHeartbeat();
      const token = this.options.getToken();
      this.#send(encodePacket({ type: PacketType.connect, nsp: VISITOR_NAMESPACE, data: { ...this.options.auth(), ...(token ? { token } : {}) } }));
    } else if (kind === EnginePacket.ping) {
      this.#send(EnginePacket.pong);
      this.#armHeartbeat();
    } else if (kind === EnginePacket.close) {
      this.#close();
      this.#scheduleRetry();
    } else if (kind === EnginePacket.message) {
      const packet = decodePacket(frame.slice(1));
      if (packet && packet.nsp === VISITOR_NAMESPACE) this.#onPacket(packet.type, packet.id, packet.data);
    }
  }

  #onPacket(type: number, id: number | undefined, data: unknown): void {
    if (type === PacketType.connect) {
      this.#joined = true;
      this.#attempt = 0;
      this.#setState('online');
      this.#settleFirst();
    } else if (type === PacketType.connectError) {
      const message = (data as { message?: string } | undefined)?.message;
      this.#close();
      if (message === 'invalid_token') {
        // The old conversation is unreachable by design: become a fresh anonymous visitor at once.
        this.options.setToken(undefined);
        this.#scheduleRetry(0);
      } else if (message === 'forbidden') {
        this.#events.emit('error', { code: 'forbidden', message: 'origin_refused' } satisfies ApiError);
        if (!this.#warnedOrigin) {
          this.#warnedOrigin = true;
          console.warn(
            `anon-chat: the bridge at ${this.options.server} refused this page's origin ${location.origin}. Add it to ALLOWED_ORIGINS on the bridge (comma-separated origins).`,
          );
        }
        this.#scheduleRetry(ORIGIN_REFUSED_RETRY_MS);
      } else if (message === 'invalid_user_hash') {
        this.#events.emit('error', { code: 'forbidden', message } satisfies ApiError);
        this.#scheduleRetry(30_000);
      } else {
        this.#scheduleRetry();
      }
    } else if (type === PacketType.disconnect) {
      // The bridge ended this session (e.g. shutting down): come back like after any other drop.
      this.#close();
      this.#scheduleRetry();
    } else if (type === PacketType.event && Array.isArray(data)) {
      const [name, payload] = data as unknown[];
      if (typeof name !== 'string' || !Object.hasOwn(RELAY, name)) return;
      if (name === 'session') {
        const token = (payload as { token?: unknown } | null | undefined)?.token;
        // A session without a token would lose the conversation on the next reconnect: not one to pass on.
        if (typeof token !== 'string') return;
        this.options.setToken(token);
      }
      // The disconnect that follows must not reconnect into the erased conversation's token.
      if (name === 'conversation:erased') this.options.setToken(undefined);
      // The wire is untyped: past the checks above, a payload is passed on as its event's entry in the map declares it.
      (RELAY[name as keyof ServerEvents] as (events: TransportListeners, payload: unknown) => void)(this.#events, payload);
    } else if (type === PacketType.ack && id !== undefined && Array.isArray(data)) {
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      if (pending) {
        clearTimeout(pending.timer);
        pending.resolve(data[0]);
      }
    }
  }

  #request<E extends RequestEvent>(event: E, payload: PayloadOf<E>): Promise<AckDataOf<E>> {
    // Never buffer while disconnected: the outbox owns retries, and a buffered copy would race them.
    if (!this.#joined) return Promise.reject(new TransportError('offline', 'offline', false));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TransportError('timeout', 'timeout', false));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send(encodePacket({ type: PacketType.event, nsp: VISITOR_NAMESPACE, id, data: [event, payload] }));
    }).then((ack) => {
      if (!isAck(ack)) throw ackError({ code: 'internal', message: 'malformed ack' });
      if (!ack.ok) throw ackError(ack.error);
      // The bridge answers request `E` with its declared ack type (protocol/events.ts); the wire itself is untyped.
      return ack.data as AckDataOf<E>;
    });
  }

  #fire<E extends keyof ClientEvents>(event: E, payload: PayloadOf<E>): void {
    // Receipts and typing are fire-and-forget; receipts are resent after a reconnect anyway.
    if (this.#joined) this.#send(encodePacket({ type: PacketType.event, nsp: VISITOR_NAMESPACE, data: [event, payload] }));
  }

  send(message: OutgoingMessage): Promise<Message> {
    const { clientId, text, attachments } = message;
    return this.#request('message:send', attachments?.length ? { clientId, ...(text ? { text } : {}), attachments } : { clientId, text });
  }

  sync(afterRev: number): Promise<SyncResult> {
    return this.#request('sync', { afterRev });
  }

  erase(): Promise<void> {
    return this.#request('conversation:erase', {}).then(() => undefined);
  }

  setEmail(email: string | null, page?: string): Promise<ReplyByEmail> {
    return this.#request('visitor:email', page ? { email, page } : { email });
  }

  history(beforeSeq?: number, limit?: number): Promise<MessagePage> {
    return this.#request('history', { ...(beforeSeq !== undefined ? { beforeSeq } : {}), ...(limit !== undefined ? { limit } : {}) });
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    this.#fire('receipt', { upToSeq, status });
  }

  typing(typing: boolean): void {
    this.#fire('typing', { typing });
  }

  context(report: VisitorContextReport): void {
    this.#fire('visitor:context', report);
  }
}
