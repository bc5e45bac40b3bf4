/** Tracks a CSS media query (e.g. the narrow single-pane layout) and re-renders the host when it flips. */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** `matches` of one media query, kept current. */
export class MediaQueryController implements ReactiveController {
  matches = false;
  private list: MediaQueryList | undefined;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly query: string,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.list = window.matchMedia(this.query);
    this.matches = this.list.matches;
    this.list.addEventListener('change', this.onChange);
  }

  hostDisconnected(): void {
    this.list?.removeEventListener('change', this.onChange);
  }

  private readonly onChange = (event: MediaQueryListEvent): void => {
    this.matches = event.matches;
    this.host.requestUpdate();
  };
}
