/**
 * Arrow-key movement through a list of buttons (Up/Down to the neighbour, Home/End to the ends), so a long inbox
 * is one Tab stop away from the search field and then walkable without tabbing through every entry.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** Moves focus among the elements `items()` returns when the list gets an arrow, Home or End key. */
export class ListKeyboardController implements ReactiveController {
  constructor(
    host: ReactiveControllerHost,
    private readonly items: () => HTMLElement[],
    private readonly active: () => Element | null | undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  /** The list's keydown handler. */
  readonly onKeyDown = (event: KeyboardEvent): void => {
    if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return;
    const items = this.items();
    const index = items.indexOf(this.active() as HTMLElement);
    const next =
      event.key === 'Home' ? 0 : event.key === 'End' ? items.length - 1 : index + (event.key === 'ArrowDown' ? 1 : -1);
    const target = items[Math.max(0, Math.min(items.length - 1, next))];
    if (!target) return;
    event.preventDefault();
    target.focus();
  };
}
