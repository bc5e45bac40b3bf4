/**
 * A test element for e2e/panel-scroll-order.test.ts: a message list inside a `<dialog>` that the widget's
 * PanelDialogController shows and the ScrollAnchorController anchors, added in the order the page's `scrollFirst`
 * global says (set before this script runs). The test reads `loadOlder` calls and the rendered rows from it.
 */
import { LitElement, css, html } from 'lit';
import { PanelDialogController } from '../../widget/controllers/panel-dialog-controller.ts';
import { ScrollAnchorController } from '../../widget/controllers/scroll-anchor-controller.ts';

/** Messages the host holds; more than one render window, fewer than fill two. */
const HELD = 120;
const RENDER_WINDOW = 50;

class PanelScrollHost extends LitElement {
  static override styles = css`
    dialog { margin: 0; padding: 0; }
    .list { height: 300px; width: 300px; overflow-y: auto; }
    .row { height: 40px; }
  `;

  static override properties = { isOpen: { type: Boolean, attribute: 'open' } };

  isOpen = false;
  /** How often the scroll controller asked for an older page. */
  loadOlderCalls = 0;
  readonly #messages = Array.from({ length: HELD }, (_, i) => `m${i + 1}`);
  readonly #scroll: ScrollAnchorController;
  readonly #dialog: PanelDialogController;

  constructor() {
    super();
    const scroll = (): ScrollAnchorController =>
      new ScrollAnchorController(this, {
        scroller: () => {
          const dialog = this.isOpen ? this.panelDialog() : null;
          return dialog?.open ? dialog.querySelector<HTMLElement>('.list') : null;
        },
        snapshot: () => ({
          conversationId: undefined,
          firstKey: this.#scroll.visible(this.#messages)[0],
          lastKey: this.#messages[this.#messages.length - 1],
          lastIsOwn: false,
          total: this.#messages.length,
          hasMore: true,
        }),
        loadOlder: () => void this.loadOlderCalls++,
        renderWindow: RENDER_WINDOW,
        bottomPx: 48,
        topPx: 80,
        stickToBottom: true,
      });
    if ((window as { scrollFirst?: boolean }).scrollFirst) {
      this.#scroll = scroll();
      this.#dialog = new PanelDialogController(this);
    } else {
      this.#dialog = new PanelDialogController(this);
      this.#scroll = scroll();
    }
    this.#dialog.onShown(() => this.#scroll.shown());
  }

  panelDialog(): HTMLDialogElement | null {
    return this.renderRoot?.querySelector?.<HTMLDialogElement>('dialog') ?? null;
  }

  override render() {
    return html`<dialog>
      <div class="list" @scroll=${() => this.#scroll.onScroll()}>
        ${this.#scroll.visible(this.#messages).map((m) => html`<div class="row">${m}</div>`)}
      </div>
    </dialog>`;
  }
}

customElements.define('panel-scroll-host', PanelScrollHost);
