/**
 * Keeps a message list scrolled where its reader expects it, for the widget and the agent console alike: at the
 * bottom when a conversation opens, when the reader sends, and when messages arrive while they are at the bottom;
 * at the same message when older ones go in above. Scrolled up, a new message from the other side raises the
 * "new messages" pill instead of moving the list. Near the top (or when the list does not fill its view) it reveals
 * more of the render window, then asks for older pages.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** What the controller needs to know about the conversation at each render. */
export interface ScrollSnapshot {
  conversationId: string | undefined;
  /** Key of the first rendered message and of the last message (e.g. author and clientId). */
  firstKey: string | undefined;
  lastKey: string | undefined;
  /** True when the last message was written by the reader of the list. */
  lastIsOwn: boolean;
  /** How many messages the host holds (the render window shows the newest `window` of them). */
  total: number;
  /** True while older messages can be asked for (none under way). */
  hasMore: boolean;
}

/** How a host tunes the controller. */
export interface ScrollAnchorOptions {
  /** The scrolling list; null while it is not shown (nothing is measured then). */
  scroller: () => HTMLElement | null | undefined;
  snapshot: () => ScrollSnapshot;
  loadOlder: () => void;
  /** Distance from the bottom, in px, that still counts as "at the bottom". */
  bottomPx: number;
  /** Distance from the top, in px, at which older messages are revealed or asked for. */
  topPx: number;
  /** Follow the bottom on every render while there (content that grows in place, typing lines), not only on new messages. */
  stickToBottom?: boolean;
  /** Messages rendered at first; scrolling up reveals as many again. Unset: every message is rendered. */
  renderWindow?: number;
}

/** Scroll anchoring, the new-messages pill and the render window of one message list. */
export class ScrollAnchorController implements ReactiveController {
  /** Whether the "new messages" pill shows (a message from the other side arrived while scrolled up). */
  pill = false;
  /** How many of the newest messages are rendered. */
  window: number;
  /** What was rendered last time (properties already hold the new values when `hostUpdate` runs). */
  #rendered: ScrollSnapshot | undefined;
  #geometry: { height: number; top: number; atBottom: boolean } | undefined;
  #toBottom = false;
  /** Set by each update until its render has been anchored (at hostUpdated, or later in it when the list is shown). */
  #unanchored = false;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: ScrollAnchorOptions,
  ) {
    this.window = options.renderWindow ?? Infinity;
    host.addController(this);
  }

  /** The messages to render: the newest `window` of them. */
  visible<T>(messages: readonly T[]): readonly T[] {
    return messages.length > this.window ? messages.slice(-this.window) : messages;
  }

  /** Scrolls to the bottom at the next render (the reader sent, or opened the list). */
  toBottomNextUpdate(): void {
    this.#toBottom = true;
  }

  hostUpdate(): void {
    this.#unanchored = true;
    const el = this.options.scroller();
    this.#geometry = el
      ? { height: el.scrollHeight, top: el.scrollTop, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight <= this.options.bottomPx }
      : undefined;
  }

  hostUpdated(): void {
    this.shown();
  }

  /**
   * Anchors this update's render, once: at hostUpdated, or when the list becomes visible later in the update (another
   * controller shows the dialog it is in), so the order the controllers were added in does not matter.
   */
  shown(): void {
    if (!this.#unanchored) return;
    const el = this.options.scroller();
    const now = this.options.snapshot();
    const before = this.#rendered;
    const geometry = this.#geometry;
    this.#rendered = el ? now : undefined;
    if (!el) return;
    this.#unanchored = false;
    const newLast = now.lastKey !== before?.lastKey;
    if (!before || !geometry || this.#toBottom || before.conversationId !== now.conversationId || before.firstKey === undefined) {
      this.#bottom(el);
    } else if (now.firstKey !== before.firstKey) {
      // Older messages went in above: keep the message the reader was reading under the same pixel.
      el.scrollTop = geometry.top + (el.scrollHeight - geometry.height);
    } else if (geometry.atBottom && (this.options.stickToBottom || newLast)) {
      this.#bottom(el);
    } else if (newLast && now.lastIsOwn) {
      this.#bottom(el);
    } else if (newLast && now.lastKey !== undefined && !this.pill) {
      this.#setPill(true);
    }
    if (now.firstKey !== undefined && el.scrollHeight <= el.clientHeight + this.options.topPx) this.#older(now);
  }

  /** Call from the list's scroll handler. */
  onScroll(): void {
    const el = this.options.scroller();
    if (!el) return;
    if (this.pill && el.scrollHeight - el.scrollTop - el.clientHeight <= this.options.bottomPx) this.#setPill(false);
    if (el.scrollTop < this.options.topPx) this.#older(this.options.snapshot());
  }

  /** The pill was pressed: to the newest message. */
  toBottom(): void {
    const el = this.options.scroller();
    if (el) this.#bottom(el);
    this.#setPill(false);
  }

  #bottom(el: HTMLElement): void {
    el.scrollTop = el.scrollHeight;
    this.#toBottom = false;
    if (this.pill) this.#setPill(false);
  }

  /** Reveals more of the render window, asking the host for an older page once every held message shows. */
  #older(now: ScrollSnapshot): void {
    const step = this.options.renderWindow;
    if (step !== undefined && now.total > this.window) {
      this.window += step;
      this.host.requestUpdate();
    } else if (now.hasMore) {
      if (step !== undefined) this.window += step;
      this.options.loadOlder();
    }
  }

  #setPill(pill: boolean): void {
    this.pill = pill;
    this.host.requestUpdate();
  }
}
