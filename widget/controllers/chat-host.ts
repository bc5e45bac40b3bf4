/** What the controllers need from the `<anon-chat>` element; keeps them testable apart from the element. */
import type { ReactiveControllerHost } from 'lit';
import type { VisitorTransportOptions } from '../transports/socket-transport.ts';
import type { Transport } from '../transports/transport.ts';

/** Creates the transport for one visitor; the XMTP selector plugs in here. */
export type TransportFactory = (options: VisitorTransportOptions) => Transport;

/** The element as its controllers see it. */
export interface ChatHost extends ReactiveControllerHost, EventTarget {
  /** Bridge base URL (the `server` attribute or the script's origin). */
  readonly serverUrl: string;
  readonly site: string;
  readonly userId: string;
  readonly userHash: string;
  readonly userName: string;
  /** Whether the panel is open (the `open` attribute). */
  readonly isOpen: boolean;
  readonly transportFactory: TransportFactory | undefined;
}
