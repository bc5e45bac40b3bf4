/**
 * Chooses the visitor's transport from the element's attributes: the bridge (Socket.IO) by default, or XMTP first
 * with the bridge as fallback when `transport="xmtp"` and `xmtp-peer` are set. Everything XMTP (the fallback logic,
 * the SDK, its workers and WASM) is a separate ES module, anon-chat-xmtp.js next to the widget script, imported by
 * URL only when XMTP is configured: the ES and the classic-script build load it the same way, and a page without
 * XMTP never downloads it. Until it has loaded, a small deferred transport stands in; if it cannot load within the
 * bound, the bridge carries the conversation alone.
 */
import { createSocketTransport, type VisitorTransportOptions } from './socket-transport.ts';
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
import type * as XmtpModule from '../xmtp/xmtp-module.ts';

/** File name of the lazily loaded XMTP module, next to anon-chat.js / anon-chat.iife.js. */
export const XMTP_MODULE_FILE = 'anon-chat-xmtp.js';

/** Longest time from start until the bridge takes over when XMTP cannot load or initialise (README.md "XMTP"). */
export const XMTP_INIT_BOUND_MS = 10_000;

/** XMTP networks `xmtp-env` accepts. */
export type XmtpNetwork = 'dev' | 'production' | 'local';

/** The element's XMTP settings, read from its attributes. */
export interface XmtpConfig {
  env: XmtpNetwork;
  /** The support team's address (0x…) or inbox id. */
  peer: string;
  identity: 'local' | 'wallet';
  /** Where anon-chat-xmtp.js is; defaults to next to the widget script. */
  moduleUrl: string;
  initBoundMs: number;
}

/**
 * Where the widget script came from. The classic (IIFE) build has `document.currentScript` only while it first
 * runs, so it is captured at load; the ES build has `import.meta.url` (the IIFE build turns `import.meta` into `{}`).
 */
const widgetScriptUrl: string | undefined =
  import.meta.url ||
  (typeof document === 'undefined' ? undefined : (document.currentScript as HTMLScriptElement | null)?.src) ||
  undefined;

/**
 * Reads `transport`, `xmtp-env`, `xmtp-peer`, `xmtp-wallet` and `xmtp-module` from the element; undefined when XMTP
 * is not asked for (or has no peer), so the bridge alone is used.
 */
export function readXmtpConfig(element: Pick<Element, 'getAttribute' | 'hasAttribute'>): XmtpConfig | undefined {
  if (element.getAttribute('transport') !== 'xmtp') return undefined;
  const peer = element.getAttribute('xmtp-peer')?.trim();
  if (!peer) return undefined;
  const env = element.getAttribute('xmtp-env');
  return {
    env: env === 'dev' || env === 'local' ? env : 'production',
    peer,
    identity: element.hasAttribute('xmtp-wallet') ? 'wallet' : 'local',
    moduleUrl:
      element.getAttribute('xmtp-module') ||
      (widgetScriptUrl ? new URL(XMTP_MODULE_FILE, widgetScriptUrl).href : XMTP_MODULE_FILE),
    initBoundMs: XMTP_INIT_BOUND_MS,
  };
}

/** Builds the visitor's transport: the bridge alone, or XMTP first with the bridge behind it. */
export function selectTransport(options: VisitorTransportOptions, xmtp: XmtpConfig | undefined): Transport {
  if (!xmtp) return createSocketTransport(options);
  let bridgeConversationId: string | undefined;
  const bridge = createSocketTransport({
    ...options,
    // The element's cursor counts the merged timeline, not the bridge's revisions: the fallback transport catches
    // the bridge up with its own cursor instead of a handshake replay.
    auth: () => {
      const { afterRev: _merged, ...auth } = options.auth();
      return auth;
    },
  });
  bridge.on('session', (session) => {
    bridgeConversationId = session.conversationId;
  });
  const started = Date.now();
  return new DeferredTransport(
    async () => {
      const module = (await import(/* @vite-ignore */ xmtp.moduleUrl)) as typeof XmtpModule;
      return module.createXmtpFallbackTransport({
        bridge,
        xmtp: { env: xmtp.env, peer: xmtp.peer, identity: xmtp.identity, bridgeConversationId: () => bridgeConversationId },
        // One bound from start: loading the module counts against the time XMTP has to come up.
        timings: { initTimeoutMs: Math.max(1000, xmtp.initBoundMs - (Date.now() - started)) },
      });
    },
    bridge,
    xmtp.initBoundMs,
  );
}

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
      for (const event of ['message', 'status', 'typing', 'presence', 'session', 'state', 'kind', 'error', 'missed'] as const) {
        inner.on(event, ((...args: unknown[]) => this.#events.emitUnchecked(event, ...args)) as TransportEvents[typeof event]);
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
