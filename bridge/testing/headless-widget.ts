/**
 * The widget's own controllers on a real bridge over a real WebSocket, in Node without a DOM: the tests of what the
 * widget's code does on the wire (catch-up, clusters, failover) run its connection and conversation controllers
 * through this host instead of a browser. The caller stubs the global `WebSocket` (e.g. with `ws`).
 */
import type { ReactiveController } from 'lit';
import type { ChatHost } from '../../widget/controllers/chat-host.ts';
import { ConnectionController } from '../../widget/controllers/connection-controller.ts';
import { ConversationController } from '../../widget/controllers/conversation-controller.ts';
import { browserStorage } from '../../widget/controllers/visitor-storage.ts';
import { createSocketTransport } from '../../widget/transports/socket-transport.ts';

/** The `<anon-chat>` element as its controllers see it, without a DOM: the panel is closed, so no read receipts go out. */
export class HeadlessChatHost extends EventTarget implements ChatHost {
  readonly controllers: ReactiveController[] = [];
  readonly userId = '';
  readonly userHash = '';
  readonly userName = '';
  readonly isOpen = false;
  readonly transportFactory = createSocketTransport;
  constructor(
    readonly serverUrl: string,
    readonly site: string,
  ) {
    super();
  }
  addController(controller: ReactiveController): void {
    this.controllers.push(controller);
  }
  removeController(): void {}
  requestUpdate(): void {}
  get updateComplete(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/** A widget's connection and conversation controllers for `site` on the bridge at `serverUrl`, not started yet. */
export function headlessWidget(serverUrl: string, site: string) {
  const host = new HeadlessChatHost(serverUrl, site);
  const connection = new ConnectionController(host, browserStorage());
  const conversation = new ConversationController(host, connection);
  let caughtUp = 0;
  conversation.on('caught-up', () => caughtUp++);
  return {
    host,
    connection,
    conversation,
    /** How many catch-ups (after the first connect and after each reconnect) have finished. */
    caughtUps: () => caughtUp,
  };
}
