/**
 * XMTP first, the bridge behind it: one `Transport` that sends over the primary (XMTP) while it works and over the
 * fallback (the Socket.IO bridge) when it does not, with the same clientId, and switches back when XMTP recovers.
 *
 * The two networks number messages independently, so this transport keeps one MergedTimeline (merged-timeline.ts)
 * and the element sees a single conversation. See README.md "XMTP" for what agents see.
 */
import { backoffDelay } from '../../protocol/backoff.ts';
import type { ApiError } from '../../protocol/errors.ts';
import type { MessagePage, SyncResult, TypingEvent, VisitorSession } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import { MergedTimeline, type SourcedMessage, type TimelineChange, type TimelineSource } from './merged-timeline.ts';
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
  /** Longest first delay before trying XMTP again after a failure; doubles up to `maxRecoverDelayMs` (with jitter). */
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

type Source = TimelineSource;

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

  /** Revs start at an epoch above any rev of an earlier page load, so a stale cursor returns everything. */
  readonly #timeline = new MergedTimeline(Date.now() * 1000);
  readonly #cursor: Record<Source, number> = { primary: 0, fallback: 0 };
  readonly #moreHistory: Record<Source, boolean> = { primary: true, fallback: true };
  readonly #receiptSent = new Map<string, number>();
  #session: VisitorSession | undefined;
  #lastState: ConnectionState = 'connecting';

  /** Where the merged timeline's seqs start (MergedTimeline.SEQ_BASE). */
  static readonly SEQ_BASE = MergedTimeline.SEQ_BASE;

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
        return this.#timeline.add('primary', stored).message;
      } catch (error) {
        // A permanent rejection (too long, forbidden) would be rejected by the bridge too: no fallback copy.
        if (isPermanent(error)) throw error;
        this.#demote();
      }
    }
    const stored = await this.#fallback.send(message);
    return this.#timeline.add('fallback', stored).message;
  }

  async sync(afterRev: number): Promise<SyncResult> {
    const sources: Source[] = this.#active === 'primary' && this.#primary ? ['fallback', 'primary'] : ['fallback'];
    const pulled = await Promise.all(sources.map((source) => this.#pull(source)));
    this.#timeline.addBatch(pulled.flat(), 'new');
    return { messages: this.#timeline.since(afterRev), rev: this.#timeline.rev, hasMore: false };
  }

  async history(beforeSeq?: number, limit = 50): Promise<MessagePage> {
    if (this.#timeline.before(beforeSeq).length < limit) {
      const pages = await Promise.all(
        this.#sources().map(async (source): Promise<SourcedMessage[]> => {
          const transport = this.#transport(source);
          if (!this.#moreHistory[source] || !transport) return [];
          try {
            const page = await withTimeout(
              transport.history(this.#timeline.oldestSourceSeq(source), limit),
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
      this.#timeline.addBatch(pages.flat(), 'older');
    }
    const all = this.#timeline.before(beforeSeq);
    const page = all.slice(-limit);
    const hasMore = all.length > limit || this.#sources().some((source) => this.#moreHistory[source]);
    return { messages: page, hasMore };
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    for (const source of this.#sources()) {
      const transport = this.#transport(source);
      if (!transport) continue;
      const sourceSeq = this.#timeline.sourceSeqUpTo(source, upToSeq);
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
      transport.on('message', (message) => this.#announce(this.#timeline.add(source, message).change)),
      transport.on('status', (change) => {
        const merged = this.#timeline.applyStatus(source, change);
        if (merged) this.#events.emit('status', merged);
      }),
      transport.on('typing', (event: TypingEvent) => this.#events.emit('typing', event)),
      transport.on('presence', (presence) => this.#events.emit('presence', presence)),
      transport.on('session', (session: VisitorSession) => {
        this.#timeline.conversationId = session.conversationId;
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
    void this.#pull('primary').then((items) => {
      for (const change of this.#timeline.addBatch(items, 'new')) this.#announce(change);
    });
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
    const delay = backoffDelay(
      { baseDelayMs: this.#timings.recoverDelayMs, maxDelayMs: this.#timings.maxRecoverDelayMs },
      this.#recoverFailures,
    );
    this.#recoverTimer = setTimeout(() => {
      this.#recoverTimer = undefined;
      void this.#startPrimary();
    }, delay);
  }

  /** Everything a network has after this transport's cursor for it; empty when it cannot be reached now. */
  async #pull(source: Source): Promise<SourcedMessage[]> {
    const transport = this.#transport(source);
    if (!transport) return [];
    const pulled: SourcedMessage[] = [];
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

  /** Tells the element what a message of either network changed in the merged timeline. */
  #announce(change: TimelineChange): void {
    if (!change) return;
    if ('message' in change) this.#events.emit('message', change.message);
    else this.#events.emit('status', change.status);
  }
}
