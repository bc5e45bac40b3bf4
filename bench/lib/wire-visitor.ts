/**
 * A lean visitor client for the load generator: one raw WebSocket (`ws`) speaking the same Engine.IO v4 /
 * Socket.IO v5 frames as the widget's own transport (widget/transports/socket-transport.ts, through the widget's
 * socket-io-wire.ts encoder), without socket.io-client's manager, reconnection, buffering and event machinery,
 * whose CPU per connect capped the rate the generator could offer (docs/performance.md, "Figures behind code").
 */
import WebSocket from 'ws';
import { VISITOR_NAMESPACE } from '../../protocol/events.ts';
import { EnginePacket, PacketType, decodePacket, encodePacket, engineUrl } from '../../widget/transports/socket-io-wire.ts';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: ReturnType<typeof setTimeout> };

/** What a {@link WireVisitor} tells its owner. */
export interface WireVisitorHandlers {
  /** Every server event on `/visitor` (`session` included), in arrival order. */
  onEvent?: (name: string, payload: unknown) => void;
  /** The connection ended or was refused without `close()` being called (e.g. the server died, connect_error). */
  onDrop?: (reason: string) => void;
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Shape of every bridge ack (protocol/errors.ts `Ack`). */
interface AckShape {
  ok: boolean;
  data?: unknown;
  error?: { code: string };
}

/** One visitor connection; `connect()` may be called again after a drop (the widget's reconnect). */
export class WireVisitor {
  #ws: WebSocket | undefined;
  #joined = false;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #endpoint: string;

  constructor(
    server: string,
    /** Read on every (re)connect, like the widget's handshake auth. */
    private readonly auth: () => Record<string, unknown>,
    private readonly handlers: WireVisitorHandlers = {},
  ) {
    this.#endpoint = engineUrl(server);
  }

  /** True while the namespace handshake has been accepted and the socket is open. */
  get connected(): boolean {
    return this.#joined;
  }

  /** Opens a new WebSocket (dropping any previous one silently). */
  connect(): void {
    this.#teardown();
    // The server never negotiates compression (engine.io's default), so the offer would only cost header bytes; the
    // generator trusts its own loopback server's UTF-8 and sends with an all-zero mask (a valid masking key that
    // leaves the payload as is) instead of drawing 4 random bytes per frame.
    const ws = new WebSocket(this.#endpoint, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: zeroMask });
    this.#ws = ws;
    ws.on('message', (data) => {
      // Text frames arrive as a Buffer (binaryType stays 'nodebuffer').
      if (this.#ws === ws) this.#onFrame((data as Buffer).toString('utf8'));
    });
    // ws emits 'close' after 'error' (refused, reset), so the drop is reported once, from 'close'.
    ws.on('error', () => {});
    ws.on('close', () => {
      if (this.#ws === ws) this.#drop('transport close');
    });
  }

  /** Emits `event` with an ack id; resolves with the ack payload, rejects when not connected or after `timeoutMs`. */
  emitAck<T>(event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
    // Like the widget: never buffer while disconnected.
    if (!this.#joined) return Promise.reject(new Error('offline'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${event}: no ack in time`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.#send(encodePacket({ type: PacketType.event, nsp: VISITOR_NAMESPACE, id, data: [event, payload] }));
    });
  }

  /** Closes for good (no drop reported); pending acks reject. */
  close(): void {
    this.#teardown();
  }

  #teardown(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#joined = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
    this.#rejectPending();
  }

  #drop(reason: string): void {
    this.#teardown();
    this.handlers.onDrop?.(reason);
  }

  #rejectPending(): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error('offline'));
      this.#pending.delete(id);
    }
  }

  #send(frame: string): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(frame);
  }

  #onFrame(frame: string): void {
    const kind = frame[0];
    if (kind === EnginePacket.open) {
      this.#send(encodePacket({ type: PacketType.connect, nsp: VISITOR_NAMESPACE, data: this.auth() }));
    } else if (kind === EnginePacket.ping) {
      this.#send(EnginePacket.pong);
    } else if (kind === EnginePacket.close) {
      this.#drop('engine close');
    } else if (kind === EnginePacket.message) {
      const packet = decodePacket(frame.slice(1));
      if (!packet || packet.nsp !== VISITOR_NAMESPACE) return;
      if (packet.type === PacketType.connect) {
        this.#joined = true;
      } else if (packet.type === PacketType.connectError) {
        this.#drop(`connect_error: ${(packet.data as { message?: string } | undefined)?.message ?? '?'}`);
      } else if (packet.type === PacketType.disconnect) {
        this.#drop('server disconnect');
      } else if (packet.type === PacketType.event && Array.isArray(packet.data)) {
        this.handlers.onEvent?.(String(packet.data[0]), packet.data[1]);
      } else if (packet.type === PacketType.ack && packet.id !== undefined && Array.isArray(packet.data)) {
        const pending = this.#pending.get(packet.id);
        this.#pending.delete(packet.id);
        if (pending) {
          clearTimeout(pending.timer);
          pending.resolve(packet.data[0]);
        }
      }
    }
  }
}

/** A visitor connected through {@link openWireVisitor}. */
export interface WireSession {
  visitor: WireVisitor;
  conversationId: string;
  token: string;
}

/** How many `sync` pages a catch-up follows at most (bounds the loop; a fresh visitor needs one). */
const MAX_SYNC_PAGES = 20;

/**
 * Fetches what the widget's conversation controller fetches on a `session`: with no cached revision one history
 * page of 50 first (unless `history` is false, for a server without that event), then `sync` from the newest
 * revision until `hasMore` is false. Resolves with the revision reached.
 */
export async function catchUpLikeWidget(visitor: WireVisitor, rev: number | undefined, timeoutMs = 10_000, history = true): Promise<number> {
  let at: number;
  if (rev === undefined && history) {
    const page = checkAck<{ messages: { rev: number }[] }>(await visitor.emitAck<AckShape>('history', { limit: 50 }, timeoutMs), 'history');
    at = page.messages.reduce((max, m) => Math.max(max, m.rev), 0);
  } else {
    at = rev ?? 0;
  }
  for (let page = 0; page < MAX_SYNC_PAGES; page++) {
    const res: { rev: number; hasMore: boolean } = checkAck(await visitor.emitAck<AckShape>('sync', { afterRev: at }, timeoutMs), 'sync');
    at = res.rev;
    if (!res.hasMore) break;
  }
  return at;
}

function checkAck<T>(ack: AckShape, what: string): T {
  if (!ack?.ok) throw new Error(`${what} refused: ${ack?.error?.code ?? 'malformed ack'}`);
  return ack.data as T;
}

/**
 * Connects a fresh widget (empty handshake auth, as the element sends for a new anonymous visitor without a site)
 * and resolves after its `session` — and, with `catchUp`, after the history + sync the widget then requests
 * (`'sync'`: the sync alone).
 * Rejects on connect_error, a drop, or after `timeoutMs`.
 */
export function openWireVisitor(
  server: string,
  options: { auth?: Record<string, unknown>; timeoutMs?: number; catchUp?: 'history+sync' | 'sync' } = {},
): Promise<WireSession> {
  const auth = options.auth ?? {};
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      visitor.close();
      reject(error);
    };
    const visitor = new WireVisitor(server, () => auth, {
      onEvent: (name, payload) => {
        if (name !== 'session' || settled) return;
        const session = payload as { conversationId: string; token: string };
        const done = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ visitor, conversationId: session.conversationId, token: session.token });
        };
        if (!options.catchUp) return done();
        catchUpLikeWidget(visitor, undefined, timeoutMs, options.catchUp === 'history+sync').then(done, (error: Error) => fail(error));
      },
      onDrop: (reason) => fail(new Error(`visitor: ${reason}`)),
    });
    const timer = setTimeout(() => fail(new Error('visitor: no session in time')), timeoutMs);
    visitor.connect();
  });
}
