/**
 * The visitor context of the open conversation (#13): read when a conversation opens and after every (re)connect,
 * replaced live by `conversation:context` pushes. The newer report wins when a push and a read cross.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { VisitorContext } from '../../protocol/visitor-context.ts';
import type { AgentConnection } from '../agent-connection.ts';
import type { ConnectionUser } from './connection-controller.ts';

/** What the panel shows: `undefined` while it is read, `null` when the visitor has reported nothing. */
export class VisitorContextController implements ReactiveController, ConnectionUser {
  context: VisitorContext | null | undefined;
  private conversationId: string | undefined;
  private connection: AgentConnection | undefined;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly host: ReactiveControllerHost,
    /** The open web conversation, if any. */
    private readonly openConversationId: () => string | undefined,
  ) {
    host.addController(this);
  }

  hostUpdate(): void {
    const id = this.openConversationId();
    if (id === this.conversationId) return;
    this.conversationId = id;
    this.context = undefined;
    if (id) void this.load(id);
  }

  attach(connection: AgentConnection): void {
    this.connection = connection;
    this.cleanups.push(
      connection.on('conversation:context', ({ conversationId, context }) => {
        if (conversationId === this.conversationId) this.show(context);
      }),
    );
  }

  detach(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.connection = undefined;
  }

  connected(): void {
    // Pushes missed while offline: read it again.
    if (this.conversationId) void this.load(this.conversationId);
  }

  private async load(conversationId: string): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    let context: VisitorContext | null;
    try {
      context = await connection.visitorContext(conversationId);
    } catch {
      // Offline or gone: the next connect (or the erasure closing the thread) settles it.
      return;
    }
    if (conversationId === this.conversationId) this.show(context);
  }

  private show(context: VisitorContext | null): void {
    const shown = this.context;
    if (context && shown && context.updatedAt < shown.updatedAt) return;
    this.context = context;
    this.host.requestUpdate();
  }
}
