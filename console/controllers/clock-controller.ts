/**
 * The current time for a host that shows a clock (lit.dev's ClockController shape): read from an injected clock,
 * re-rendered at each minute boundary while the host is connected.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** `value` is the injected clock's time, refreshed every minute on the minute. */
export class ClockController implements ReactiveController {
  /** Read first when the host connects (before its first render): the clock may be set after construction. */
  value = new Date(0);
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly now: () => Date,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.tick();
  }

  hostDisconnected(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.value = this.now();
    this.host.requestUpdate();
    // Times are shown to the minute: one render per minute, just after it turns.
    this.timer = setTimeout(() => this.tick(), 60_000 - (this.value.getTime() % 60_000) + 50);
  }
}
