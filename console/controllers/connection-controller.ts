/**
 * Owns the `/agent` connection for the signed-in agent: opens it when a session appears, closes it on
 * sign-out, and hands it to the feature controllers (inbox, thread) that subscribe to its events.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { AgentPublic } from '../../protocol/events.ts';
import { AgentConnection, type ConnectionState } from '../agent-connection.ts';
import { createAgentConnection } from '../xmtp/xmtp-agent-connection.ts';
import { readXmtpConsoleConfig } from '../xmtp/xmtp-console-config.ts';

/** A controller that works on the connection: told when one exists, when it is gone and after each connect. */
export interface ConnectionUser {
  attach(connection: AgentConnection): void;
  detach(): void;
  /** After every (re)connect, once the socket can take requests. */
  connected(): void;
}

/** Keeps one AgentConnection in step with the session token. */
export class ConnectionController implements ReactiveController {
  connection: AgentConnection | undefined;
  state: ConnectionState = 'offline';
  /** Agents online now (each once, however many tabs). */
  agentsOnline: AgentPublic[] = [];
  private token: string | undefined;
  private readonly users: ConnectionUser[] = [];

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: {
      serverUrl: () => string;
      token: () => string | undefined;
      onAuthError: () => void;
      /** The signed-in agent's display name (XMTP replies carry it). */
      agentName?: () => string | undefined;
    },
  ) {
    host.addController(this);
  }

  /** Registers a feature controller; call before the host connects. */
  use(user: ConnectionUser): void {
    this.users.push(user);
  }

  hostUpdate(): void {
    // The session is the source of truth: a new token (sign-in) opens a connection, none (sign-out) closes it.
    const token = this.options.token();
    if (token !== this.token) this.open(token);
  }

  hostConnected(): void {
    this.open(this.options.token());
  }

  hostDisconnected(): void {
    this.open(undefined);
  }

  private open(token: string | undefined): void {
    if (this.connection) {
      for (const user of this.users) user.detach();
      this.connection.close();
      this.connection = undefined;
      this.state = 'offline';
      this.agentsOnline = [];
    }
    this.token = token;
    if (!token) return;
    this.state = 'connecting';
    // With XMTP turned on (`?xmtp=dev`…), the support team's XMTP inbox joins the bridge's conversations.
    const xmtp = readXmtpConsoleConfig(location, localStorage, history);
    const connection = createAgentConnection(this.options.serverUrl(), token, {
      onConnect: () => {
        for (const user of this.users) user.connected();
      },
      onState: (state) => {
        this.state = state;
        this.host.requestUpdate();
      },
      onAuthError: () => this.options.onAuthError(),
    }, xmtp, this.options.agentName?.());
    connection.on('agents:presence', ({ online }) => {
      this.agentsOnline = online;
      this.host.requestUpdate();
    });
    this.connection = connection;
    for (const user of this.users) user.attach(connection);
  }
}
