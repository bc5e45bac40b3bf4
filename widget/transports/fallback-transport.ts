/**
 * XMTP first, the bridge behind it: one `Transport` that sends over the primary (XMTP) while it works and over the
 * fallback (the Socket.IO bridge) when it does not, with the same clientId, and switches back when XMTP recovers.
 *
 * The two networks number messages independently, so this transport keeps one merged timeline with its own seq
 * and rev: each logical message (author role + clientId) is one entry, whichever network(s) carried it, and the
 * element sees a single conversation. See README.md "XMTP" for what agents see.
 */
import type { ApiError } from '../../protocol/errors.ts';
import type { MessagePage, SyncResult, TypingEvent, VisitorSession } from '../../protocol/events.ts';
import type { Message, StatusChange } from '../../protocol/message.ts';
import { STATUS_RANK, isStatusAdvance } from '../../protocol/status.ts';
import {
  TransportError,
  type ConnectionState,
  type OutgoingMessage,
  type Transport,
  type TransportEvents,
  type TransportKind,
} from './transport.ts';
import { TransportListeners } from './transport-listeners.ts';

/** Bounds and pacing of the fallback; defaults are the documented ones (README.md "XMTP"). */
export interface FallbackTimings {
  /** Longest wait for XMTP to load and initialise before the bridge takes over. */
  initTimeoutMs: number;
  /** Longest wait for one XMTP send before the message goes through the bridge instead. */
  sendTimeoutMs: number;
  /** First delay before trying XMTP again after a failure; doubles up to `maxRecoverDelayMs`. */
  recoverDelayMs: number;
  maxRecoverDelayMs: number;
}

/** The documented bounds: a visitor waits at most 10 s for XMTP to come up and 8 s for one XMTP send. */
export const DEFAULT_FALLBACK_TIMINGS: FallbackTimings = {
  initTimeoutMs: 10_000,
  sendTimeoutMs: 8_000,
  recoverDelayMs: 15_000,
  maxRecoverDelayMs: 5 * 60_000,
};

/** What the fallback transport is built from. */
export interface FallbackTransportOptions {
  /** Creates the primary transport (loads the XMTP chunk); called once, retried after a failure. */
  primary: () => Promise<Transport>;
  /** The bridge; always connected: it carries presence, typing and the messages of fallback periods. */
  fallback: Transport;
  timings?: Partial<FallbackTimings>;
}

type Source = 'primary' | 'fallback';
type Tagged = { source: Source; message: Message };

interface Entry {
  seq: number;
  rev: number;
  message: Message;
  /** The id and seq of this message on each network that carried it. */
  links: Map<Source, { id: string; seq: number }>;
}


/** Rejects with a `timeout` TransportError when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TransportError('timeout', `${what} timed out`, false)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * True for a permanent TransportError. Checked by shape, not `instanceof`: the XMTP transport is built into its
 * own module with its own copy of the TransportError class.
 */
function isPermanent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true;
}

/** XMTP as primary with the bridge as automatic fallback, behind the `Transport` interface. */
export class FallbackTransport implements Transport {
  readonly #createPrimary: () => Promise<Transport>;
  readonly #fallback: Transport;
  readonly #timings: FallbackTimings;
  #primary: Transport | undefined;
  /** Which network carries new messages; starts as the primary while it initialises. */
  #active: Source = 'primary';
  /** Settles when the current primary attempt has succeeded or failed (never rejects). */
  #primaryAttempt: Promise<boolean> | undefined;
  #recoverTimer: ReturnType<typeof setTimeout> | undefined;
  #recoverFailures = 0;
  #closed = false;

  readonly #events = new TransportListeners();
  readonly #unsubscribe: Array<() => void> = [];

  // The merged timeline. Seqs of new messages count up from SEQ_BASE, older history pages count down from it,
  // so a page fetched later can still sort before everything known.
  readonly #byClientKey = new Map<string, Entry>();
  readonly #bySourceId = new Map<string, Entry>();
  #highSeq = FallbackTransport.SEQ_BASE;
  #lowSeq = FallbackTransport.SEQ_BASE;
  /** Revs start at an epoch above any rev of an earlier page load, so a stale cursor returns everything. */
  #rev = Date.now() * 1000;
  readonly #cursor: Record<Source, number> = { primary: 0, fallback: 0 };
  readonly #moreHistory: Record<Source, boolean> = { primary: true, fallback: true };
  readonly #receiptSent = new Map<string, number>();
  #conversationId: string | undefined;
  #session: VisitorSession | undefined;
  #lastState: ConnectionState = 'connecting';

  static readonly SEQ_BASE = 1_000_000_000;

  constructor(options: FallbackTransportOptions) {
    this.#createPrimary = options.primary;
    this.#fallback = options.fallback;
    this.#timings = { ...DEFAULT_FALLBACK_TIMINGS, ...options.timings };
    this.#subscribe('fallback', this.#fallback);
  }

  get kind(): TransportKind {
    return this.#active === 'primary' ? 'xmtp' : 'realtime';
  }

  get state(): ConnectionState {
    // While XMTP is still coming up, a bridge that is online can already take sends: send() holds them for the
    // bounded init, then uses XMTP or the bridge. Reporting `online` lets the element's outbox start.
    if (this.#active === 'primary' && this.#primaryAttempt && this.#fallback.state === 'online') return 'online';
    return this.#current()?.state ?? 'connecting';
  }

  /** Resolves once either network is usable; XMTP keeps initialising in the background within its bound. */
  async connect(): Promise<void> {
    this.#closed = false;
    const fallbackUp = this.#fallback.connect();
    const primaryUp = this.#startPrimary().then((ok) => {
      if (!ok) throw new TransportError('offline', 'XMTP unavailable', false);
    });
    try {
      await Promise.any([fallbackUp, primaryUp]);
    } catch {
      await fallbackUp;
    }
  }

  disconnect(): void {
    this.#closed = true;
    if (this.#recoverTimer !== undefined) clearTimeout(this.#recoverTimer);
    this.#recoverTimer = undefined;
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#primary?.disconnect();
    this.#fallback.disconnect();
  }

  async send(message: OutgoingMessage): Promise<Message> {
    // Only the first XMTP attempt holds sends back (bounded); recovery attempts never delay the bridge.
    if (this.#active === 'primary' && this.#primaryAttempt) await this.#primaryAttempt;
    const primary = this.#primary;
    if (this.#active === 'primary' && primary) {
      try {
        const stored = await withTimeout(primary.send(message), this.#timings.sendTimeoutMs, 'XMTP send');
        return this.#ingestOne('primary', stored, false);
      } catch (error) {
        // A permanent rejection (too long, forbidden) would be rejected by the bridge too: no fallback copy.
        if (isPermanent(error)) throw error;
        this.#demote();
      }
    }
    const stored = await this.#fallback.send(message);
    return this.#ingestOne('fallback', stored, false);
  }

  async sync(afterRev: number): Promise<SyncResult> {
    const sources: Source[] = this.#active === 'primary' && this.#primary ? ['fallback', 'primary'] : ['fallback'];
    const pulled = await Promise.all(sources.map((source) => this.#pull(source)));
    this.#ingestBatch(pulled.flat(), 'new', false);
    const messages = [...this.#byClientKey.values()]
      .filter((entry) => entry.rev > afterRev)
      .sort((a, b) => a.seq - b.seq)
      .map((entry) => this.#view(entry));
    return { messages, rev: this.#rev, hasMore: false };
  }

  async history(beforeSeq?: number, limit = 50): Promise<MessagePage> {
    const older = () =>
      [...this.#byClientKey.values()]
        .filter((entry) => beforeSeq === undefined || entry.seq < beforeSeq)
        .sort((a, b) => a.seq - b.seq);
    if (older().length < limit) {
      const pages = await Promise.all(
        this.#sources().map(async (source): Promise<Tagged[]> => {
          const transport = this.#transport(source);
          if (!this.#moreHistory[source] || !transport) return [];
          try {
            const page = await withTimeout(
              transport.history(this.#oldestSeq(source), limit),
              this.#timings.sendTimeoutMs,
              'history',
            );
            this.#moreHistory[source] = page.hasMore;
            return page.messages.map((message) => ({ source, message }));
          } catch {
            // An unreachable network keeps its older pages for later; what is known is still shown.
            return [];
          }
        }),
      );
      this.#ingestBatch(pages.flat(), 'older', false);
    }
    const all = older();
    const page = all.slice(-limit).map((entry) => this.#view(entry));
    const hasMore = all.length > limit || this.#sources().some((source) => this.#moreHistory[source]);
    return { messages: page, hasMore };
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    for (const source of this.#sources()) {
      const transport = this.#transport(source);
      if (!transport) continue;
      let sourceSeq = 0;
      for (const entry of this.#byClientKey.values()) {
        const link = entry.links.get(source);
        if (link && entry.seq <= upToSeq && link.seq > sourceSeq) sourceSeq = link.seq;
      }
      const key = `${source}:${status}`;
      if (sourceSeq > (this.#receiptSent.get(key) ?? 0)) {
        this.#receiptSent.set(key, sourceSeq);
        transport.receipt(sourceSeq, status);
      }
    }
  }

  typing(typing: boolean): void {
    // Typing goes to the bridge (the control channel) whichever network carries the text; XMTP has no typing type.
    this.#fallback.typing(typing);
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.#events.on(event, listener);
  }

  #current(): Transport | undefined {
    return this.#active === 'primary' && this.#primary ? this.#primary : this.#active === 'fallback' ? this.#fallback : undefined;
  }

  #transport(source: Source): Transport | undefined {
    return source === 'primary' ? this.#primary : this.#fallback;
  }

  #sources(): Source[] {
    return this.#primary ? ['primary', 'fallback'] : ['fallback'];
  }

  #subscribe(source: Source, transport: Transport): void {
    this.#unsubscribe.push(
      transport.on('message', (message) => {
        this.#ingestOne(source, message, true);
      }),
      transport.on('status', (change) => this.#applyStatus(source, change)),
      transport.on('typing', (event: TypingEvent) => this.#events.emit('typing', event)),
      transport.on('presence', (presence) => this.#events.emit('presence', presence)),
      transport.on('session', (session: VisitorSession) => {
        this.#conversationId = session.conversationId;
        this.#session = session;
        this.#events.emit('session', session);
      }),
      transport.on('error', (error: ApiError) => this.#events.emit('error', error)),
      transport.on('missed', () => this.#events.emit('missed')),
      transport.on('state', (state) => {
        if (source === 'primary' && state === 'offline' && this.#active === 'primary') {
          this.#demote();
          return;
        }
        this.#emitState();
      }),
    );
  }

  #emitState(): void {
    const state = this.state;
    if (state === this.#lastState) return;
    this.#lastState = state;
    this.#events.emit('state', state);
  }

  /** One bounded attempt to create (first time) and connect the primary; true when XMTP is up. */
  #startPrimary(): Promise<boolean> {
    const attempt = this.#tryPrimary().then((ok) => {
      this.#primaryAttempt = undefined;
      if (this.#closed) return false;
      if (ok) {
        this.#promote();
      } else {
        this.#recoverFailures += 1;
        this.#demote();
      }
      return ok;
    });
    this.#primaryAttempt = attempt;
    return attempt;
  }

  async #tryPrimary(): Promise<boolean> {
    const up = (async () => {
      if (!this.#primary) {
        const primary = await this.#createPrimary();
        if (this.#closed) {
          primary.disconnect();
          throw new TransportError('offline', 'closed', false);
        }
        this.#primary = primary;
        this.#subscribe('primary', primary);
      }
      await this.#primary.connect();
    })();
    try {
      await withTimeout(up, this.#timings.initTimeoutMs, 'XMTP init');
      return true;
    } catch {
      // Stop a hung init (its worker and database handles); the next attempt starts afresh.
      this.#primary?.disconnect();
      return false;
    }
  }

  #promote(): void {
    this.#recoverFailures = 0;
    if (this.#active !== 'primary') {
      this.#active = 'primary';
      this.#events.emit('kind', this.kind);
    }
    this.#emitState();
    // Messages that reached XMTP while it was unreachable from here arrive by this pull.
    void this.#pull('primary').then((items) => this.#ingestBatch(items, 'new', true));
    // The element catches up and flushes its outbox on a session: announce the known one again, so messages held
    // while both networks were down go out over XMTP even if the bridge is still away.
    if (this.#session && this.state === 'online') this.#events.emit('session', this.#session);
  }

  #demote(): void {
    if (this.#active === 'primary') {
      this.#active = 'fallback';
      this.#events.emit('kind', this.kind);
      this.#emitState();
    }
    this.#scheduleRecovery();
  }

  #scheduleRecovery(): void {
    if (this.#closed || this.#recoverTimer !== undefined || this.#primaryAttempt) return;
    const delay = Math.min(
      this.#timings.recoverDelayMs * 2 ** Math.max(0, this.#recoverFailures - 1),
      this.#timings.maxRecoverDelayMs,
    );
    this.#recoverTimer = setTimeout(() => {
      this.#recoverTimer = undefined;
      void this.#startPrimary();
    }, delay);
  }

  /** Everything a network has after this transport's cursor for it; empty when it cannot be reached now. */
  async #pull(source: Source): Promise<Tagged[]> {
    const transport = this.#transport(source);
    if (!transport) return [];
    const pulled: Tagged[] = [];
    try {
      for (;;) {
        const result = await withTimeout(transport.sync(this.#cursor[source]), this.#timings.sendTimeoutMs, 'sync');
        this.#cursor[source] = Math.max(this.#cursor[source], result.rev);
        for (const message of result.messages) pulled.push({ source, message });
        if (!result.hasMore || result.messages.length === 0) break;
      }
    } catch {
      // Unreachable now: the next sync or the recovery pull catches up from the same cursor.
    }
    return pulled;
  }

  /** Ingests messages of both networks in creation order, so a merged page interleaves them by time. */
  #ingestBatch(items: Tagged[], where: 'new' | 'older', emit: boolean): void {
    const sorted = [...items].sort(
      (a, b) => a.message.createdAt.localeCompare(b.message.createdAt) || a.message.seq - b.message.seq,
    );
    if (where === 'older') sorted.reverse();
    for (const { source, message } of sorted) this.#ingest(source, message, where, emit);
  }

  #ingestOne(source: Source, message: Message, emit: boolean): Message {
    return this.#view(this.#ingest(source, message, 'new', emit));
  }

  /** Adds or merges one message of one network into the timeline; emits `message` / `status` when asked. */
  #ingest(source: Source, message: Message, where: 'new' | 'older', emit: boolean): Entry {
    const clientKey = `${message.author.role}:${message.clientId}`;
    const existing = this.#byClientKey.get(clientKey);
    if (!existing) {
      const seq = where === 'new' ? ++this.#highSeq : --this.#lowSeq;
      const entry: Entry = { seq, rev: ++this.#rev, message: { ...message }, links: new Map() };
      entry.links.set(source, { id: message.id, seq: message.seq });
      this.#byClientKey.set(clientKey, entry);
      this.#bySourceId.set(`${source}:${message.id}`, entry);
      if (emit) this.#events.emit('message', this.#view(entry));
      return entry;
    }
    if (!existing.links.has(source)) {
      existing.links.set(source, { id: message.id, seq: message.seq });
      this.#bySourceId.set(`${source}:${message.id}`, existing);
    }
    this.#advance(existing, message.status, message.statusAt[message.status] ?? message.createdAt, emit);
    return existing;
  }

  #applyStatus(source: Source, change: StatusChange): void {
    const entry = this.#bySourceId.get(`${source}:${change.messageId}`);
    if (entry) this.#advance(entry, change.status, change.at, true, change.failure);
  }

  #advance(entry: Entry, status: Message['status'], at: string, emit: boolean, failure?: Message['failure']): void {
    if (!isStatusAdvance(entry.message.status, status)) return;
    entry.message = {
      ...entry.message,
      status,
      statusAt: { ...entry.message.statusAt, [status]: at },
      ...(failure && STATUS_RANK[status] === STATUS_RANK.failed ? { failure } : {}),
    };
    entry.rev = ++this.#rev;
    if (!emit) return;
    const view = this.#view(entry);
    this.#events.emit('status', {
      conversationId: view.conversationId,
      messageId: view.id,
      clientId: view.clientId,
      seq: view.seq,
      rev: view.rev,
      status: view.status,
      at,
      ...(view.failure ? { failure: view.failure } : {}),
    });
  }

  #oldestSeq(source: Source): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.#byClientKey.values()) {
      const link = entry.links.get(source);
      if (link && (oldest === undefined || link.seq < oldest)) oldest = link.seq;
    }
    return oldest;
  }

  #view(entry: Entry): Message {
    return {
      ...entry.message,
      seq: entry.seq,
      rev: entry.rev,
      conversationId: this.#conversationId ?? entry.message.conversationId,
    };
  }
}
