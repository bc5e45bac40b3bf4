/**
 * Shows the panel's `<dialog>` as the element's `isOpen` says: beside the page on wide screens, and on small
 * screens (where it covers the page) as a modal dialog, so focus stays in it, the page behind is inert and Escape
 * closes it. While it is full screen it follows `visualViewport`, keeping the composer above the on-screen keyboard.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** Where the panel covers the whole screen; the same query as the panel's full-screen styles. */
export const FULL_SCREEN_QUERY = '(max-width: 480px)';

/** What the controller needs from the element. */
export interface PanelDialogHost extends ReactiveControllerHost {
  readonly isOpen: boolean;
  /** The panel's dialog once rendered. */
  panelDialog(): HTMLDialogElement | null;
}

/** Keeps the dialog's open and modal state and its full-screen size in step with the element. */
export class PanelDialogController implements ReactiveController {
  #media: MediaQueryList | undefined;
  readonly #shown: Array<() => void> = [];

  constructor(private readonly host: PanelDialogHost) {
    host.addController(this);
  }

  /**
   * Calls `listener` each time this controller has shown the dialog (opened, or reopened in the other mode), inside
   * the host's update (for the element's lifetime): what reads the panel's layout waits for this, whichever controller's hostUpdated runs first.
   */
  onShown(listener: () => void): void {
    this.#shown.push(listener);
  }

  hostConnected(): void {
    this.#media = matchMedia(FULL_SCREEN_QUERY);
    this.#media.addEventListener('change', this.#onMediaChange);
    visualViewport?.addEventListener('resize', this.#fitViewport);
    visualViewport?.addEventListener('scroll', this.#fitViewport);
  }

  hostDisconnected(): void {
    this.#media?.removeEventListener('change', this.#onMediaChange);
    visualViewport?.removeEventListener('resize', this.#fitViewport);
    visualViewport?.removeEventListener('scroll', this.#fitViewport);
  }

  hostUpdated(): void {
    const dialog = this.host.panelDialog();
    if (!dialog) return;
    const modal = this.#media?.matches ?? false;
    if (!this.host.isOpen) {
      if (dialog.open) dialog.close();
      return;
    }
    if (dialog.open && dialog.matches(':modal') === modal) return;
    // Switching modes (a phone turned sideways) reopens the dialog; focus stays where the visitor had it.
    const root = dialog.getRootNode() as ShadowRoot | Document;
    const focused = root.activeElement instanceof HTMLElement && dialog.contains(root.activeElement) ? root.activeElement : undefined;
    if (dialog.open) dialog.close();
    if (modal) dialog.showModal();
    else dialog.show();
    focused?.focus();
    this.#fitViewport();
    for (const listener of this.#shown) listener();
  }

  #onMediaChange = (): void => {
    this.host.requestUpdate();
  };

  /** On a phone the keyboard shrinks the visual viewport, not the layout viewport a fixed panel is sized by. */
  #fitViewport = (): void => {
    const dialog = this.host.panelDialog();
    const viewport = visualViewport;
    if (!dialog || !viewport) return;
    dialog.style.setProperty('--_viewport-height', `${viewport.height}px`);
    dialog.style.setProperty('--_viewport-top', `${viewport.offsetTop}px`);
  };
}
