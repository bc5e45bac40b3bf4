/**
 * The typed listener registry every `Transport` implementation uses for `on()` and for emitting its events, so the
 * socket, XMTP, fallback and deferred transports do not each carry their own copy.
 */
import type { TransportEvents } from './transport.ts';

type AnyListener = (...args: never[]) => void;

/** Listeners per transport event; `on` returns the function that removes the listener. */
export class TransportListeners {
  readonly #sets = new Map<keyof TransportEvents, Set<AnyListener>>();

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    let set = this.#sets.get(event);
    if (!set) this.#sets.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof TransportEvents>(event: K, ...args: Parameters<TransportEvents[K]>): void {
    for (const listener of this.#sets.get(event) ?? []) (listener as (...a: Parameters<TransportEvents[K]>) => void)(...args);
  }
}
