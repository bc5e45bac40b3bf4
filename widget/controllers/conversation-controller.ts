/**
 * The visitor's view of the conversation: the reconciled message list, catching up by revision after every
 * (re)connect, older history on demand, a small cached copy for instant render after reload, unread count and
 * delivered/read receipts (read only while the panel is open and the page visible).
 */
import type { ReactiveController } from 'lit';
import { DEFAULT_PAGE_SIZE } from '../../protocol/limits.ts';
import type { CatchUp, SyncResult, VisitorSession } from '../../protocol/events.ts';
import type { LocalMessage, Message, StatusChange } from '../../protocol/message.ts';
import { revStep } from '../../protocol/rev.ts';
import type { Transport } from '../transports/transport.ts';
import { emit } from '../events.ts';
import type { ChatHost } from './chat-host.ts';
import type { ConnectionController } from './connection-controller.ts';
import { applyStatusChange, countUnread, maxSeq, minSeq, removeLocal, upsertLocal, upsertMessages } from './reconcile.ts';

/** How many recent stored messages the cache keeps for the next page load. */
const CACHED_MESSAGES = 100;

interface HistoryCache {
  conversationId: string;
  rev: number;
  messages: Message[];
}

function isCache(value: unknown): value is HistoryCache {
  const v = value as HistoryCache | undefined;
  return typeof v?.conversationId === 'string' && typeof v.rev === 'number' && Array.isArray(v.messages);
}

/** What the conversation tells other controllers (the outbox) through `on`. */
export interface ConversationEvents {
  /** A stored copy of an own message was seen (ack, echo or sync), so the outbox can let go of it. */
  'own-stored': (message: Message) => void;
  /** A catch-up after (re)connect has finished, so queued messages go out after the history. */
  'caught-up': () => void;
}

const key = (m: LocalMessage): string => `${m.author.role}:${m.clientId}`;
const fromOther = (m: LocalMessage): boolean => m.author.role !== 'visitor';

/** Messages, sync, history, unread and receipts. */
export class ConversationController implements ReactiveController {
  messages: readonly LocalMessage[] = [];
  /** Sync cursor; undefined until the first catch-up (or a cache) gives one. */
  rev: number | undefined;
  hasOlder = false;
  loadingOlder = false;
  unread = 0;
  /** The last received message, for the screen-reader announcement. */
  lastReceived: LocalMessage | undefined;
  readonly #listeners: { [K in keyof ConversationEvents]: Set<ConversationEvents[K]> } = {
    'own-stored': new Set(),
    'caught-up': new Set(),
  };
  #conversationId: string | undefined;
  #deliveredUpTo = 0;
  #readUpTo = 0;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #renderTimer: ReturnType<typeof setTimeout> | undefined;
  #catchUp = 0;
  #usedCatchUps = new WeakSet<CatchUp>();
  /** Syncs under way (a session catch-up or a gap); a gap seen meanwhile makes the running one sync again. */
  #syncing = 0;
  #gapSeen = false;

  constructor(private readonly host: ChatHost, private readonly connection: ConnectionController) {
    host.addController(this);
    connection.handshake(() => (this.rev !== undefined ? { afterRev: this.rev } : {}));
    connection.on('message', (m) => {
      this.receive([m], true);
      this.#followRev(m.rev);
    });
    connection.on('status', (c) => {
      this.#applyStatus(c);
      this.#followRev(c.rev);
    });
    connection.on('session', (s) => void this.#onSession(s));
    // Nothing shows a lost broadcast that was the conversation's last change: the bridge says when one may be lost.
    connection.on('missed', () => this.#syncGap());
    connection.on('state', (state) => {
      if (state !== 'online') {
        // Receipts are idempotent on the bridge; resend them after a reconnect rather than risk a lost one.
        this.#deliveredUpTo = 0;
        this.#readUpTo = 0;
      }
    });
    this.loadCache();
  }

  hostConnected(): void {
    document.addEventListener('visibilitychange', this.#onVisibility);
    addEventListener('pagehide', this.#onPageHide);
  }

  hostDisconnected(): void {
    document.removeEventListener('visibilitychange', this.#onVisibility);
    removeEventListener('pagehide', this.#onPageHide);
    this.#flushCache();
  }

  #onVisibility = (): void => {
    if (document.visibilityState === 'hidden') this.#flushCache();
    else this.markRead();
  };

  #onPageHide = (): void => this.#flushCache();

  /** Shows the cached history of the stored visitor, before any connection. */
  loadCache(): void {
    const cache = this.connection.storage.read(this.connection.keys.history);
    if (!isCache(cache)) return;
    this.#conversationId = cache.conversationId;
    this.rev = cache.rev;
    this.#setMessages(upsertMessages(this.messages, cache.messages), false);
    this.hasOlder = (minSeq(this.messages) ?? 1) > 1;
  }

  /** Shows another visitor's conversation (the bridge or site changed): drops the shown one, loads the other's cache. */
  switchVisitor(): void {
    this.#catchUp++;
    this.messages = [];
    this.rev = undefined;
    this.#conversationId = undefined;
    this.hasOlder = false;
    this.lastReceived = undefined;
    this.loadCache();
    this.#updateUnread();
    this.host.requestUpdate();
  }

  /** Forgets everything shown and cached (used by reset). */
  clear(): void {
    this.messages = [];
    this.rev = undefined;
    this.#conversationId = undefined;
    this.hasOlder = false;
    this.#deliveredUpTo = 0;
    this.#readUpTo = 0;
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    this.connection.storage.remove(this.connection.keys.history);
    this.#updateUnread();
    this.host.requestUpdate();
  }

  async #onSession(session: VisitorSession): Promise<void> {
    const { conversationId, catchUp } = session;
    if (this.#conversationId !== undefined && this.#conversationId !== conversationId) {
      // A new visitor (the old token was refused): nothing of the old conversation belongs on screen.
      const unsent = this.messages.filter((m) => m.id === undefined);
      this.clear();
      this.#setMessages(unsent, false);
    }
    this.#conversationId = conversationId;
    const run = ++this.#catchUp;
    const transport = this.connection.transport;
    if (!transport) return;
    this.#syncing++;
    try {
      if (this.rev === undefined) {
        const page = await transport.history(undefined, DEFAULT_PAGE_SIZE);
        if (run !== this.#catchUp) return;
        this.receive(page.messages, false);
        this.hasOlder = page.hasMore;
        this.rev = page.messages.reduce((max, m) => Math.max(max, m.rev), 0);
      }
      // The bridge read the first sync page from our cursor while connecting: use it instead of asking again. Only
      // once, and only from the cursor we still hold (a re-announced session or a moved cursor asks with `sync`).
      let first: SyncResult | undefined;
      if (catchUp && catchUp.afterRev === this.rev && !this.#usedCatchUps.has(catchUp)) {
        this.#usedCatchUps.add(catchUp);
        first = catchUp;
      }
      if (!(await this.#syncToEnd(transport, run, first))) return;
      this.#scheduleSave();
      for (const listener of this.#listeners['caught-up']) listener();
    } catch {
      // The connection dropped mid catch-up; the next session event starts it again from the saved cursor.
    } finally {
      this.#syncing--;
    }
  }

  /**
   * Syncs from the cursor until `hasMore` is false, and again while live events showed a gap meanwhile. False when a
   * newer session took over.
   */
  async #syncToEnd(transport: Transport, run: number, first?: SyncResult): Promise<boolean> {
    let result = first;
    do {
      this.#gapSeen = false;
      for (;;) {
        result ??= await transport.sync(this.rev ?? 0);
        if (run !== this.#catchUp) return false;
        this.receive(result.messages, true);
        this.rev = result.rev;
        if (!result.hasMore) break;
        result = undefined;
      }
      result = undefined;
    } while (this.#gapSeen);
    return true;
  }

  /**
   * Moves the cursor along contiguous live events. A jump means broadcasts were lost on the way (protocol/rev.ts):
   * sync from the cursor, or let the sync under way go round again.
   */
  #followRev(rev: number): void {
    if (this.rev === undefined) return;
    const step = revStep(this.rev, rev);
    if (step === 'next') this.rev = rev;
    if (step === 'gap') this.#syncGap();
  }

  /** Syncs from the cursor, or lets the sync under way go round again. */
  #syncGap(): void {
    if (this.rev === undefined) return;
    this.#gapSeen = true;
    const transport = this.connection.transport;
    // Offline: the next session's catch-up starts from the cursor anyway.
    if (this.#syncing > 0 || !transport || transport.state !== 'online') return;
    this.#syncing++;
    this.#syncToEnd(transport, this.#catchUp)
      .then((done) => done && this.#scheduleSave())
      .catch(() => {
        // The connection dropped; the next session's catch-up starts from the cursor.
      })
      .finally(() => this.#syncing--);
  }

  /** Subscribes to what the conversation tells other controllers; returns the unsubscribe function. */
  on<K extends keyof ConversationEvents>(event: K, listener: ConversationEvents[K]): () => void {
    const set = this.#listeners[event] as Set<ConversationEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Merges stored messages; `live` ones that are new and from the other side are announced and fire events. */
  receive(incoming: readonly Message[], live: boolean): void {
    if (incoming.length === 0) return;
    const oldest = minSeq(this.messages);
    // With older history not loaded, a changed old message would show up above a gap; it arrives with its page.
    const accepted = this.hasOlder && oldest !== undefined ? incoming.filter((m) => m.seq >= oldest) : incoming;
    for (const m of accepted) if (m.author.role === 'visitor') for (const listener of this.#listeners['own-stored']) listener(m);
    this.#setMessages(upsertMessages(this.messages, accepted), live);
  }

  /** Shows or updates an unsent own message, at once (the optimistic send must not wait for a frame). */
  showLocal(message: LocalMessage): void {
    this.#setMessages(upsertLocal(this.messages, message), true, true);
  }

  removeLocal(clientId: string): void {
    this.#setMessages(removeLocal(this.messages, clientId), false);
  }

  #applyStatus(change: StatusChange): void {
    // A receipt changes many messages, one event each: touch only the changed one instead of diffing the list.
    const next = applyStatusChange(this.messages, change);
    if (next === this.messages) return;
    this.messages = next;
    const m = next.find((x) => x.id === change.messageId);
    if (m?.author.role === 'visitor') this.#emitStatus(m);
    this.#afterChange(false);
  }

  #emitStatus(m: LocalMessage): void {
    emit(this.host, 'anon-chat-status', {
      clientId: m.clientId,
      ...(m.id ? { messageId: m.id } : {}),
      status: m.status,
      text: m.text,
      ...(m.failure ? { failure: m.failure } : {}),
    });
  }

  /** Loads the page of history before the oldest message shown. */
  async loadOlder(): Promise<void> {
    const transport = this.connection.transport;
    if (!this.hasOlder || this.loadingOlder || !transport || transport.state !== 'online') return;
    this.loadingOlder = true;
    this.host.requestUpdate();
    try {
      const page = await transport.history(minSeq(this.messages), DEFAULT_PAGE_SIZE);
      this.#setMessages(upsertMessages(this.messages, page.messages), false);
      this.hasOlder = page.hasMore;
    } catch {
      // Offline or timed out: the visitor scrolls up again to retry.
    } finally {
      this.loadingOlder = false;
      this.host.requestUpdate();
    }
  }

  #setMessages(next: readonly LocalMessage[], live: boolean, urgent = false): void {
    const before = new Map(this.messages.map((m) => [key(m), m]));
    this.messages = next;
    for (const m of next) {
      const prev = before.get(key(m));
      if (m.author.role === 'visitor') {
        if (live && prev?.status !== m.status) this.#emitStatus(m);
      } else if (live && !prev && m.id !== undefined && m.seq !== undefined) {
        this.lastReceived = m;
        emit(this.host, 'anon-chat-message', { message: m as Message });
      }
    }
    this.#afterChange(urgent);
  }

  #afterChange(urgent: boolean): void {
    this.#sendReceipts();
    this.#updateUnread();
    this.#scheduleSave();
    if (urgent) {
      clearTimeout(this.#renderTimer);
      this.#renderTimer = undefined;
      this.host.requestUpdate();
    } else {
      // Socket events arrive one task each; render at most once a frame however many arrive.
      this.#renderTimer ??= setTimeout(() => {
        this.#renderTimer = undefined;
        this.host.requestUpdate();
      }, 16);
    }
  }

  #sendReceipts(): void {
    const transport = this.connection.transport;
    if (!transport || transport.state !== 'online') return;
    const upTo = maxSeq(this.messages, (m) => fromOther(m) && m.status === 'sent');
    if (upTo > this.#deliveredUpTo) {
      this.#deliveredUpTo = upTo;
      transport.receipt(upTo, 'delivered');
    }
    this.markRead();
  }

  /** Sends a read receipt for everything shown, if the visitor can actually see it. */
  markRead(): void {
    const transport = this.connection.transport;
    if (!this.host.isOpen || document.visibilityState !== 'visible' || !transport || transport.state !== 'online') return;
    const upTo = maxSeq(this.messages, fromOther);
    if (upTo <= this.#readUpTo) return;
    this.#readUpTo = upTo;
    this.#deliveredUpTo = Math.max(this.#deliveredUpTo, upTo);
    transport.receipt(upTo, 'read');
    // Show it read at once; the bridge's status events confirm it.
    this.messages = this.messages.map((m) => (fromOther(m) && m.seq !== undefined && m.seq <= upTo && m.status !== 'read' ? { ...m, status: 'read' } : m));
    this.#updateUnread();
    this.host.requestUpdate();
  }

  #updateUnread(): void {
    const unread = countUnread(this.messages, this.#readUpTo);
    if (unread === this.unread) return;
    this.unread = unread;
    emit(this.host, 'anon-chat-unread', { unread });
  }

  #scheduleSave(): void {
    // Throttled, not debounced: a steady stream of changes must not postpone the save until the tab is gone.
    this.#saveTimer ??= setTimeout(() => this.#flushCache(), 300);
  }

  #flushCache(): void {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    if (this.#conversationId === undefined || this.rev === undefined) return;
    const stored = this.messages.filter((m): m is Message => m.id !== undefined && m.seq !== undefined && m.rev !== undefined);
    const cache: HistoryCache = { conversationId: this.#conversationId, rev: this.rev, messages: stored.slice(-CACHED_MESSAGES) };
    this.connection.storage.write(this.connection.keys.history, cache);
  }
}
