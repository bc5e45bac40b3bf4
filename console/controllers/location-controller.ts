/**
 * Keeps the open conversation in the URL hash (`/console/#<conversationId>`), so a reload or a shared link
 * comes back to the same conversation, and opens it when the console starts.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The conversation id in the location hash. */
export class LocationController implements ReactiveController {
  constructor(
    host: ReactiveControllerHost,
    private readonly onStart: (conversationId: string) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    const id = this.current();
    if (id) this.onStart(id);
  }

  /** The conversation id in the hash, if it looks like one. */
  current(): string | undefined {
    const id = decodeURIComponent(window.location.hash.slice(1));
    return ID.test(id) ? id : undefined;
  }

  /** Puts `conversationId` in the hash (or removes it) without adding a history entry. */
  set(conversationId: string | undefined): void {
    const { pathname, search } = window.location;
    window.history.replaceState(null, '', conversationId ? `#${encodeURIComponent(conversationId)}` : pathname + search);
  }
}
