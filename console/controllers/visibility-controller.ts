/**
 * Reports `document.visibilityState` over the agent socket, on every (re)connect and on every change: the bridge sends
 * an agent Web Push notifications only while none of their console tabs is visible.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { AgentConnection } from '../agent-connection.ts';
import type { ConnectionUser } from './connection-controller.ts';

/** This tab's visibility, as the bridge hears it. */
export class VisibilityController implements ReactiveController, ConnectionUser {
  private connection: AgentConnection | undefined;

  constructor(host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {
    document.addEventListener('visibilitychange', this.report);
  }

  hostDisconnected(): void {
    document.removeEventListener('visibilitychange', this.report);
  }

  attach(connection: AgentConnection): void {
    this.connection = connection;
  }

  detach(): void {
    this.connection = undefined;
  }

  connected(): void {
    this.report();
  }

  private readonly report = (): void => {
    this.connection?.visibility(document.visibilityState === 'visible');
  };
}
