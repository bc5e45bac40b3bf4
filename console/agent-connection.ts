/**
 * The console's Socket.IO connection to the bridge's `/agent` namespace: typed requests with timeouts that
 * reject with the bridge's error code, and connection state reporting. It knows nothing about the UI.
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack, ApiError, ErrorCode } from '../protocol/errors.ts';
import { PERMANENT_ERRORS } from '../protocol/errors.ts';
import type { ConversationState, ConversationSummary } from '../protocol/conversation.ts';
import type { AgentClientToServerEvents, AgentServerToClientEvents, MessagePage, SyncResult } from '../protocol/events.ts';
import { AGENT_NAMESPACE } from '../protocol/events.ts';
import type { Message } from '../protocol/message.ts';
import type { ConversationListPayload } from '../protocol/schemas.ts';
import type { VisitorContext } from '../protocol/visitor-context.ts';

/** The typed client socket of the agent namespace. */
export type AgentClientSocket = Socket<AgentServerToClientEvents, AgentClientToServerEvents>;

/** Connection state as the agent sees it in the header. */
export type ConnectionState = 'connecting' | 'online' | 'offline';

/** How long a request may wait for its ack before it counts as lost. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** A request that failed: a bridge error code, or `timeout` / `offline` when no answer came. */
export class RequestError extends Error {
  constructor(
    readonly code: ErrorCode | 'timeout' | 'offline',
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }

  /** True when sending the same request again cannot succeed. */
  get permanent(): boolean {
    return this.code !== 'timeout' && this.code !== 'offline' && PERMANENT_ERRORS.has(this.code);
  }
}

/** Pause before reconnecting after the server closed the socket on purpose. */
const RECONNECT_AFTER_SERVER_DISCONNECT_MS = 1000;

/** Handshake errors after which reconnecting with the same token is pointless: the agent must sign in again. */
const AUTH_ERRORS = new Set(['unauthorized', 'invalid_token', 'forbidden']);

/** What the owner of a connection hears about. */
export interface AgentConnectionCallbacks {
  /** Every (re)connect: the owner re-lists conversations and syncs what it shows. */
  onConnect: () => void;
  onState: (state: ConnectionState) => void;
  /** The bridge refused the token (expired, revoked, secret rotated). */
  onAuthError: () => void;
}

function unwrap<T>(res: Ack<T>): T {
  if (res.ok) return res.data;
  const error: ApiError = res.error;
  throw new RequestError(error.code, error.message);
}

/** One authenticated agent connection; `close()` ends it for good. */
export class AgentConnection {
  readonly socket: AgentClientSocket;
  state: ConnectionState = 'connecting';
  private closed = false;

  constructor(serverUrl: string, token: string, callbacks: AgentConnectionCallbacks) {
    this.socket = io(new URL(AGENT_NAMESPACE, serverUrl).toString(), {
      auth: { token },
      // WebSocket first, long-polling only when it cannot open (a proxy that refuses upgrades). Starting on
      // long-polling and upgrading (the library's default) left a poll in flight during the upgrade that the bridge
      // answers 400 "transport mismatch" once the socket has moved to the WebSocket: an error in the page's console.
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      // Both the first connect and every reconnect go through the same path; the manager backs off on its own.
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    const setState = (state: ConnectionState): void => {
      this.state = state;
      callbacks.onState(state);
    };
    this.socket.on('connect', () => {
      setState('online');
      callbacks.onConnect();
    });
    // The bridge may have lost live events on the way to this socket: catch up as after a reconnect.
    this.socket.on('changes:missed', () => callbacks.onConnect());
    this.socket.on('disconnect', (reason) => {
      setState(reason === 'io client disconnect' ? 'offline' : 'connecting');
      // Socket.IO does not reconnect by itself after the server dropped the socket (a restart draining sockets,
      // an admin kick); try again after a pause — a revoked token then ends in connect_error → sign-in.
      if (reason === 'io server disconnect') {
        setTimeout(() => {
          if (!this.closed) this.socket.connect();
        }, RECONNECT_AFTER_SERVER_DISCONNECT_MS);
      }
    });
    this.socket.on('connect_error', (error) => {
      if (AUTH_ERRORS.has(error.message)) {
        this.socket.disconnect();
        setState('offline');
        callbacks.onAuthError();
        return;
      }
      setState('connecting');
    });
  }

  /** Subscribes to a server event; returns the unsubscribe function. */
  on<E extends keyof AgentServerToClientEvents>(event: E, listener: AgentServerToClientEvents[E]): () => void {
    // Socket.IO types listeners through a conditional type TS cannot resolve for a generic E; the event map is the
    // same contract, so the socket is viewed through a plain emitter shape here.
    const emitter = this.socket as unknown as { on(e: string, l: unknown): void; off(e: string, l: unknown): void };
    emitter.on(event, listener);
    return () => emitter.off(event, listener);
  }

  /** Ends the connection and stops reconnecting. */
  close(): void {
    this.closed = true;
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  private guard(): void {
    // Socket.IO buffers emits while disconnected and flushes them on reconnect; a request should fail now instead.
    if (!this.socket.connected) throw new RequestError('offline', 'Not connected.');
  }

  private async call<T>(send: () => Promise<Ack<T>>): Promise<T> {
    this.guard();
    let res: Ack<T>;
    try {
      res = await send();
    } catch {
      throw new RequestError('timeout', 'The bridge did not answer in time.');
    }
    return unwrap(res);
  }

  /** Conversations for the inbox, newest activity first. */
  listConversations(payload: ConversationListPayload): Promise<ConversationSummary[]> {
    return this.call<{ conversations: ConversationSummary[] }>(() =>
      this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('conversations:list', payload),
    ).then(
      (data) => data.conversations,
    );
  }

  /** A page of history before `beforeSeq` (or the latest page). */
  history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    const payload = beforeSeq === undefined ? { conversationId, limit } : { conversationId, beforeSeq, limit };
    return this.call(() => this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('history', payload));
  }

  /** Everything in a conversation that changed after `afterRev`. */
  sync(conversationId: string, afterRev: number): Promise<SyncResult> {
    return this.call(() => this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('sync', { conversationId, afterRev }));
  }

  /** Sends a reply (with the ids of files uploaded for it); the same clientId sent again returns the original message. */
  send(conversationId: string, clientId: string, text: string, attachments?: string[]): Promise<Message> {
    const payload = attachments?.length ? { conversationId, clientId, ...(text ? { text } : {}), attachments } : { conversationId, clientId, text };
    return this.call(() => this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('message:send', payload));
  }

  /** Re-sends a reply whose external delivery failed. */
  retry(conversationId: string, messageId: string): Promise<Message> {
    return this.call(() => this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('message:retry', { conversationId, messageId }));
  }

  /** Closes or reopens a conversation; answers its summary as it is now. */
  setConversationState(conversationId: string, state: ConversationState): Promise<ConversationSummary> {
    return this.call(() =>
      this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('conversation:state', { conversationId, state }),
    );
  }

  /** Assigns, transfers or (`null`) unassigns a conversation; answers its summary as it is now. */
  assignConversation(conversationId: string, assigneeId: string | null): Promise<ConversationSummary> {
    return this.call(() =>
      this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('conversation:assign', { conversationId, assigneeId }),
    );
  }

  /** The visitor context stored with a web conversation (`null` when the visitor reported none). */
  visitorContext(conversationId: string): Promise<VisitorContext | null> {
    return this.call<{ context: VisitorContext | null }>(() =>
      this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('conversation:context', { conversationId }),
    ).then(
      (data) => data.context,
    );
  }

  /** Reports the visitor's messages up to `upToSeq` as delivered or read; fire and forget. */
  receipt(conversationId: string, upToSeq: number, status: 'delivered' | 'read'): void {
    if (!this.socket.connected) return;
    this.socket.emit('receipt', { conversationId, upToSeq, status });
  }

  /** Tells the bridge whether this tab is visible (no Web Push while one is); dropped when offline, sent again on connect. */
  visibility(visible: boolean): void {
    if (!this.socket.connected) return;
    this.socket.emit('console:visibility', { visible });
  }

  /** Tells the visitor (and other agents) whether this agent is typing; dropped when offline. */
  typing(conversationId: string, typing: boolean): void {
    this.socket.volatile.emit('typing', { conversationId, typing });
  }
}
