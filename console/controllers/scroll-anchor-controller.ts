/**
 * Keeps a message list scrolled where the agent expects it: at the bottom when new messages arrive and the agent
 * was at the bottom (or sent one), at the same message when an older page is prepended, at the bottom when
 * another conversation opens. Asks for older pages when the top is near or the list does not fill the view.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** What the controller needs to know about the list at each render. */
export interface ScrollSnapshot {
  conversationId: string | undefined;
  /** Key of the first and last rendered message (clientId). */
  firstKey: string | undefined;
  lastKey: string | undefined;
  /** True when the last message was written by the agent looking at the list. */
  lastIsOwn: boolean;
  /** True while older messages can still be loaded. */
  hasMore: boolean;
}

/** Distance from an edge, in px, that still counts as "at" that edge. */
const EDGE_PX = 120;

/** Scroll anchoring for a message list inside the host's shadow root. */
export class ScrollAnchorController implements ReactiveController {
  /** What was rendered last time (properties already hold the new values when `hostUpdate` runs). */
  private rendered: ScrollSnapshot | undefined;
  private geometry: { height: number; top: number; atBottom: boolean } | undefined;

  constructor(
    private readonly host: ReactiveControllerHost & HTMLElement,
    private readonly options: {
      scroller: () => HTMLElement | null | undefined;
      snapshot: () => ScrollSnapshot;
      loadOlder: () => void;
    },
  ) {
    host.addController(this);
  }

  hostUpdate(): void {
    const el = this.options.scroller();
    this.geometry = el
      ? { height: el.scrollHeight, top: el.scrollTop, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX }
      : undefined;
  }

  hostUpdated(): void {
    const el = this.options.scroller();
    const now = this.options.snapshot();
    const before = this.rendered;
    const geometry = this.geometry;
    this.rendered = el ? now : undefined;
    if (!el) return;
    if (!before || !geometry || before.conversationId !== now.conversationId || before.firstKey === undefined) {
      el.scrollTop = el.scrollHeight;
    } else if (now.firstKey !== before.firstKey) {
      // Older messages went in above: keep the message the agent was reading under the same pixel.
      el.scrollTop = geometry.top + (el.scrollHeight - geometry.height);
    } else if (now.lastKey !== before.lastKey && (geometry.atBottom || now.lastIsOwn)) {
      el.scrollTop = el.scrollHeight;
    }
    if (now.hasMore && now.firstKey !== undefined && el.scrollHeight <= el.clientHeight + EDGE_PX) this.options.loadOlder();
  }

  /** Call from the list's scroll handler. */
  onScroll(): void {
    const el = this.options.scroller();
    if (el && el.scrollTop < EDGE_PX && this.options.snapshot().hasMore) this.options.loadOlder();
  }
}
