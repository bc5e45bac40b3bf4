/**
 * Owns the visitor's transport: creates it from the host's settings, keeps the token, connects while the element is
 * in the document, and re-broadcasts transport events so other controllers survive a transport swap (identify, reset).
 */
import type { ReactiveController } from 'lit';
import type { VisitorSession } from '../../protocol/events.ts';
import type { VisitorAuth } from '../../protocol/schemas.ts';
import { emit } from '../events.ts';
import { readXmtpConfig, selectTransport } from '../transports/select-transport.ts';
import type { VisitorTransportOptions } from '../transports/socket-transport.ts';
import type { ConnectionState, Transport, TransportEvents, TransportKind } from '../transports/transport.ts';
import type { ChatHost } from './chat-host.ts';
import { storageKeys, type PersistentStorage } from './visitor-storage.ts';

type Listeners = { [K in keyof TransportEvents]?: Set<TransportEvents[K]> };

/** What another controller adds to each handshake (the conversation: the revision it has, so the bridge replays from it). */
export type HandshakeFields = Pick<VisitorAuth, 'afterRev'>;

/** Transport lifecycle, connection state, agent presence and the visitor's token. */
export class ConnectionController implements ReactiveController {
  state: ConnectionState = 'connecting';
  kind: TransportKind = 'realtime';
  agentsOnline = 0;
  /** The bridge refused this page's origin (not in its ALLOWED_ORIGINS): the chat is not available here. */
  originRefused = false;
  session: VisitorSession | undefined;
  transport: Transport | undefined;
  keys: ReturnType<typeof storageKeys>;
  readonly #handshake: Array<() => HandshakeFields> = [];
  #listeners: Listeners = {};
  #unsubscribe: Array<() => void> = [];
  #stopTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by the first start(): the host starts the connection once every controller listens (and after first paint). */
  #started = false;

  constructor(private readonly host: ChatHost, readonly storage: PersistentStorage) {
    this.keys = storageKeys(host.serverUrl, host.site);
    host.addController(this);
  }

  hostConnected(): void {
    clearTimeout(this.#stopTimer);
    // Re-inserted after a stop (an SPA moved the element for longer than a task): connect again.
    if (!this.transport && this.#started) this.start();
  }

  hostDisconnected(): void {
    // SPA frameworks move elements by removing and re-inserting them; do not drop the socket for that.
    this.#stopTimer = setTimeout(() => this.stop(), 0);
  }

  /** Subscribes to events of whichever transport is current, now and after restarts. */
  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    const set = (this.#listeners[event] ??= new Set() as never) as Set<TransportEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Adds `fields` to every handshake for this controller's lifetime (read at each connect, so they are current). */
  handshake(fields: () => HandshakeFields): void {
    this.#handshake.push(fields);
  }

  #forward<K extends keyof TransportEvents>(event: K, ...args: Parameters<TransportEvents[K]>): void {
    for (const listener of this.#listeners[event] ?? []) (listener as (...a: Parameters<TransportEvents[K]>) => void)(...args);
  }

  /** Creates the transport from the host's current settings and connects. */
  start(): void {
    this.#started = true;
    const host = this.host;
    this.keys = storageKeys(host.serverUrl, host.site);
    // transport="xmtp" (+ xmtp-peer): XMTP first, the bridge as fallback; otherwise the bridge alone.
    // Read only for the default factory: a host with its own factory need not be a DOM element (controller tests).
    const factory =
      host.transportFactory ??
      ((options: VisitorTransportOptions) => selectTransport(options, host instanceof Element ? readXmtpConfig(host) : undefined));
    const transport = factory({
      server: host.serverUrl,
      auth: () => {
        const auth: Omit<VisitorAuth, 'token'> = {
          ...(host.site ? { site: host.site } : {}),
          ...(host.userId && host.userHash ? { userId: host.userId, userHash: host.userHash } : {}),
          ...(host.userName ? { name: host.userName } : {}),
        };
        for (const fields of this.#handshake) Object.assign(auth, fields());
        return auth;
      },
      getToken: () => {
        const token = this.storage.read(this.keys.token);
        return typeof token === 'string' ? token : undefined;
      },
      setToken: (token) => (token ? this.storage.write(this.keys.token, token) : this.storage.remove(this.keys.token)),
    });
    this.transport = transport;
    this.kind = transport.kind;
    const forward = <K extends keyof TransportEvents>(event: K): void => {
      this.#unsubscribe.push(transport.on(event, ((...args: Parameters<TransportEvents[K]>) => this.#forward(event, ...args)) as TransportEvents[K]));
    };
    this.#unsubscribe.push(
      transport.on('state', (state) => {
        // A fallback transport may switch networks while connected; the header shows the active one.
        this.kind = transport.kind;
        if (state === this.state) return;
        this.state = state;
        if (state === 'online') this.originRefused = false;
        if (state !== 'online') {
          this.agentsOnline = 0;
          // The next connection announces itself with a new session; until then nothing is caught up.
          this.session = undefined;
        }
        emit(host, 'anon-chat-connection', { state, transport: this.kind });
        host.requestUpdate();
      }),
      transport.on('kind', (kind) => {
        // XMTP ⇄ bridge fallback without a state change: the header label and the event still follow.
        this.kind = kind;
        emit(host, 'anon-chat-connection', { state: this.state, transport: kind });
        host.requestUpdate();
      }),
      transport.on('error', (error) => {
        if (error.message !== 'origin_refused' || this.originRefused) return;
        this.originRefused = true;
        host.requestUpdate();
      }),
      transport.on('presence', ({ online }) => {
        this.agentsOnline = online;
        this.kind = transport.kind;
        host.requestUpdate();
      }),
      transport.on('session', (session) => {
        this.session = session;
        this.kind = transport.kind;
        // It may carry the e-mail offer the panel shows.
        host.requestUpdate();
      }),
    );
    (['message', 'status', 'typing', 'presence', 'session', 'state', 'error', 'erased', 'missed'] as const).forEach(forward);
    void transport.connect();
  }

  stop(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
    this.transport?.disconnect();
    this.transport = undefined;
    this.session = undefined;
    if (this.state !== 'offline') {
      this.state = 'offline';
      emit(this.host, 'anon-chat-connection', { state: 'offline', transport: this.kind });
    }
  }

  /** Reconnects with the host's current settings (new identity, new server or site). */
  restart(): void {
    this.stop();
    this.start();
  }

  /** Forgets the visitor's token, so the next connection is a new anonymous visitor. */
  forgetToken(): void {
    this.storage.remove(this.keys.token);
  }
}
