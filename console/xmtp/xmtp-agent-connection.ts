/**
 * The console's connection when it holds the support team's XMTP identity: the bridge's /agent connection plus the
 * XMTP inbox (loaded lazily with the SDK), behind the same AgentConnection interface the console's controllers use.
 * XMTP conversations (ids `xmtp-…`, channel `xmtp`) are served from the browser's XMTP client and never sent to the
 * bridge; every other conversation goes to the bridge as before.
 */
import type { ConversationState, ConversationSummary } from '../../protocol/conversation.ts';
import type { AgentServerToClientEvents, MessagePage, SyncResult } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import type { ConversationListPayload } from '../../protocol/schemas.ts';
import { AgentConnection, RequestError, type AgentConnectionCallbacks } from '../agent-connection.ts';
import type { XmtpConsoleConfig } from './xmtp-console-config.ts';
import type { XmtpInboxEvents, XmtpInboxSource } from './xmtp-agent-inbox.ts';

/** Longest wait for the XMTP inbox to open; after it the console runs on the bridge alone. */
export const XMTP_INBOX_TIMEOUT_MS = 20_000;

const isXmtp = (conversationId: string): boolean => conversationId.startsWith('xmtp-');
const INBOX_EVENTS: ReadonlySet<string> = new Set(['message:new', 'message:status', 'conversation:updated']);

/** Creates the console's connection: with the XMTP inbox merged in when `xmtp` is configured. */
export function createAgentConnection(
  serverUrl: string,
  token: string,
  callbacks: AgentConnectionCallbacks,
  xmtp: XmtpConsoleConfig | undefined,
  agentName?: string,
): AgentConnection {
  if (!xmtp) return new AgentConnection(serverUrl, token, callbacks);
  return new XmtpAgentConnection(
    serverUrl,
    token,
    callbacks,
    async () => {
      const { openXmtpAgentInbox } = await import('./xmtp-agent-inbox.ts');
      return openXmtpAgentInbox(xmtp);
    },
    agentName,
  );
}

/** Bridge conversations and XMTP conversations as one AgentConnection. */
export class XmtpAgentConnection extends AgentConnection {
  #inbox: XmtpInboxSource | undefined;
  #closed = false;
  readonly #agentName: string | undefined;
  readonly #subscriptions = new Set<{ event: keyof XmtpInboxEvents; listener: (...args: never[]) => void; off?: () => void }>();
  /** Settles when the inbox is open or has failed (the console then runs on the bridge alone). */
  readonly ready: Promise<XmtpInboxSource | undefined>;

  /** `agentName`: the signed-in agent's display name, which XMTP replies carry (visitors never see login names). */
  constructor(
    serverUrl: string,
    token: string,
    callbacks: AgentConnectionCallbacks,
    openInbox: () => Promise<XmtpInboxSource>,
    agentName?: string,
  ) {
    super(serverUrl, token, callbacks);
    this.#agentName = agentName;
    this.ready = new Promise<XmtpInboxSource | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), XMTP_INBOX_TIMEOUT_MS);
      openInbox().then(
        (inbox) => {
          clearTimeout(timer);
          resolve(inbox);
        },
        () => {
          clearTimeout(timer);
          resolve(undefined);
        },
      );
    }).then((inbox) => {
      if (!inbox || this.#closed) {
        inbox?.close();
        return undefined;
      }
      this.#inbox = inbox;
      for (const sub of this.#subscriptions) sub.off = inbox.on(sub.event, sub.listener as never);
      // Re-list: XMTP conversations join the inbox now.
      if (this.state === 'online') callbacks.onConnect();
      return inbox;
    });
  }

  /** The support identity's address once the inbox is open (what sites put in `xmtp-peer`). */
  get xmtpAddress(): string | undefined {
    return this.#inbox?.address;
  }

  override on<E extends keyof AgentServerToClientEvents>(event: E, listener: AgentServerToClientEvents[E]): () => void {
    const offBridge = super.on(event, listener);
    if (!INBOX_EVENTS.has(event)) return offBridge;
    const sub: { event: keyof XmtpInboxEvents; listener: (...args: never[]) => void; off?: () => void } = {
      event: event as keyof XmtpInboxEvents,
      listener: listener,
    };
    if (this.#inbox) sub.off = this.#inbox.on(sub.event, sub.listener as never);
    this.#subscriptions.add(sub);
    return () => {
      offBridge();
      sub.off?.();
      this.#subscriptions.delete(sub);
    };
  }

  override close(): void {
    this.#closed = true;
    this.#inbox?.close();
    this.#inbox = undefined;
    super.close();
  }

  override async listConversations(payload: ConversationListPayload): Promise<ConversationSummary[]> {
    const [bridge, xmtp] = await Promise.all([
      super.listConversations(payload),
      this.#inbox ? this.#inbox.list().catch(() => []) : Promise.resolve([]),
    ]);
    const query = payload.query?.trim().toLowerCase();
    const matching = xmtp.filter(
      (c) =>
        (payload.filter !== 'open' || c.state === 'open') &&
        (!query || c.name.toLowerCase().includes(query) || (c.lastMessage?.text.toLowerCase().includes(query) ?? false)),
    );
    return [...bridge, ...matching].sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
  }

  override history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    if (!isXmtp(conversationId)) return super.history(conversationId, beforeSeq, limit);
    return this.#xmtp((inbox) => inbox.history(conversationId, beforeSeq, limit));
  }

  override sync(conversationId: string, afterRev: number): Promise<SyncResult> {
    if (!isXmtp(conversationId)) return super.sync(conversationId, afterRev);
    return this.#xmtp((inbox) => inbox.sync(conversationId, afterRev));
  }

  override send(conversationId: string, clientId: string, text: string): Promise<Message> {
    if (!isXmtp(conversationId)) return super.send(conversationId, clientId, text);
    return this.#xmtp((inbox) => inbox.send(conversationId, clientId, text, this.#agentName));
  }

  override retry(conversationId: string, messageId: string): Promise<Message> {
    // Retry exists for WhatsApp deliveries; an XMTP reply is retried by sending it again (same clientId).
    if (isXmtp(conversationId)) return Promise.reject(new RequestError('not_found', 'Nothing to retry.'));
    return super.retry(conversationId, messageId);
  }

  override setConversationState(conversationId: string, state: ConversationState): Promise<ConversationSummary> {
    // The bridge does not know the team inbox's XMTP conversations; their state lives in the browser's XMTP client.
    if (isXmtp(conversationId)) {
      return Promise.reject(new RequestError('bad_request', 'XMTP conversations of the team inbox cannot be closed.'));
    }
    return super.setConversationState(conversationId, state);
  }

  override receipt(conversationId: string, upToSeq: number, status: 'delivered' | 'read'): void {
    if (!isXmtp(conversationId)) return super.receipt(conversationId, upToSeq, status);
    this.#inbox?.receipt(conversationId, upToSeq, status);
  }

  override typing(conversationId: string, typing: boolean): void {
    // XMTP has no typing indicator; nothing about an XMTP conversation goes to the bridge.
    if (!isXmtp(conversationId)) super.typing(conversationId, typing);
  }

  async #xmtp<T>(run: (inbox: XmtpInboxSource) => Promise<T>): Promise<T> {
    const inbox = this.#inbox;
    if (!inbox) throw new RequestError('offline', 'XMTP is not connected.');
    try {
      return await run(inbox);
    } catch (error) {
      if (error instanceof RequestError) throw error;
      throw new RequestError(error instanceof Error && error.message === 'not_found' ? 'not_found' : 'offline', 'XMTP request failed.');
    }
  }
}
