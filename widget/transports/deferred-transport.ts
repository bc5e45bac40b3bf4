/**
 * A transport that stands in while the lazily loaded XMTP module comes up, then forwards to what it built; the bridge
 * alone carries the conversation when the module fails to load or does not load within the bound.
 */
import {
  TransportError,
  type ConnectionState,
  type OutgoingMessage,
  type Transport,
  type TransportEvents,
  type TransportKind,
} from './transport.ts';
import { TransportListeners } from './transport-listeners.ts';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';

/** The same TransportError class as the outbox's: the lazily loaded module has its own copy of the class. */
function sameRealm(error: unknown): unknown {
  if (error instanceof TransportError || typeof error !== 'object' || error === null) return error;
  const e = error as Partial<TransportError>;
  return typeof e.code === 'string' && typeof e.permanent === 'boolean'
    ? new TransportError(e.code, e.message ?? e.code, e.permanent, e.retryAfterMs)
    : error;
}

/** Stands in for the transport the XMTP module builds; the bridge alone when the module does not load in time. */
export class DeferredTransport implements Transport {
  #inner: Transport | undefined;
  readonly #ready: Promise<Transport>;
  readonly #events = new TransportListeners();
  #closed = false;

  constructor(load: () => Promise<Transport>, bridge: Transport, boundMs: number) {
    this.#ready = new Promise<Transport>((resolve) => {
      const timer = setTimeout(() => resolve(bridge), boundMs);
      load().then(
        (inner) => {
          clearTimeout(timer);
          resolve(inner);
        },
        () => {
          clearTimeout(timer);
          resolve(bridge);
        },
      );
    }).then((inner) => {
      this.#inner = inner;
      for (const event of ['message', 'status', 'typing', 'presence', 'session', 'state', 'kind', 'error', 'erased', 'missed'] as const) {
        inner.on(event, (...args: Parameters<TransportEvents[typeof event]>) => this.#events.emit(event, ...args));
      }
      if (inner.kind !== 'xmtp') this.#events.emit('kind', inner.kind);
      return inner;
    });
  }

  get kind(): TransportKind {
    return this.#inner?.kind ?? 'xmtp';
  }

  get state(): ConnectionState {
    return this.#inner?.state ?? 'connecting';
  }

  async connect(): Promise<void> {
    const inner = await this.#ready;
    if (!this.#closed) await inner.connect();
  }

  disconnect(): void {
    this.#closed = true;
    void this.#ready.then((inner) => inner.disconnect());
  }

  send(message: OutgoingMessage): Promise<Message> {
    return this.#ready.then((inner) => inner.send(message)).catch((error: unknown) => Promise.reject(sameRealm(error)));
  }

  sync(afterRev: number): Promise<SyncResult> {
    return this.#ready.then((inner) => inner.sync(afterRev)).catch((error: unknown) => Promise.reject(sameRealm(error)));
  }

  history(beforeSeq?: number, limit?: number): Promise<MessagePage> {
    return this.#ready
      .then((inner) => inner.history(beforeSeq, limit))
      .catch((error: unknown) => Promise.reject(sameRealm(error)));
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    void this.#ready.then((inner) => inner.receipt(upToSeq, status));
  }

  typing(typing: boolean): void {
    this.#inner?.typing(typing);
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.#events.on(event, listener);
  }
}
