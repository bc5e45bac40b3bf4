/**
 * The Socket.IO contract: typed event maps for the two namespaces, shared by bridge, widget and console.
 * Namespaces: `/visitor` (the widget; one conversation, chosen by the server from the token) and
 * `/agent` (the console; every conversation, bearer token required).
 */
import type { Ack } from './errors.ts';
import type { Availability } from './agents.ts';
import type { AttachmentLimits } from './attachment.ts';
import type { ApiError } from './errors.ts';
import type { Conversation, ConversationSummary } from './conversation.ts';
import type { Message, StatusChange } from './message.ts';
import type { VisitorContext, VisitorContextChange } from './visitor-context.ts';
import type {
  AgentHistoryPayload,
  AgentReceiptPayload,
  AgentRetryPayload,
  AgentSendPayload,
  AgentSyncPayload,
  AgentTypingPayload,
  ConsoleVisibilityPayload,
  ConversationAssignPayload,
  ConversationContextPayload,
  ConversationListPayload,
  ConversationStatePayload,
  TypingPayload,
  VisitorHistoryPayload,
  VisitorEmailPayload,
  VisitorReceiptPayload,
  VisitorSendPayload,
  VisitorSyncPayload,
  VisitorContextPayload,
} from './schemas.ts';

export const VISITOR_NAMESPACE = '/visitor';
export const AGENT_NAMESPACE = '/agent';

/** A page of messages in seq order. */
export interface MessagePage {
  messages: Message[];
  /** True when older messages exist before the first one returned. */
  hasMore: boolean;
}

/** Everything that changed after a revision: new messages and messages whose status changed, in seq order. */
export interface SyncResult {
  messages: Message[];
  /** The revision the client has caught up to; send it as `afterRev` next time. */
  rev: number;
  /** True when the result was cut at the page limit: call `sync` again with `rev`. */
  hasMore: boolean;
}

/** Sent to a visitor right after each connect: its (refreshed) token and conversation. */
export interface VisitorSession {
  token: string;
  visitorId: string;
  conversationId: string;
  /** ISO expiry of `token`. */
  expiresAt: string;
  /** Verified site user id when `userId` + `userHash` were accepted. */
  userId?: string;
  /**
   * Present when the handshake carried `auth.afterRev`: the first `sync` page from that revision, read after the
   * socket joined its room (so nothing falls between it and the live events). A client whose cursor still equals
   * `catchUp.afterRev` applies it instead of sending `sync`, and sends `sync {afterRev: catchUp.rev}` only while
   * `hasMore`. Clients that ignore it catch up with `sync` as before.
   */
  catchUp?: CatchUp;
  /** Present only when the bridge can send e-mail (`SMTP_URL`): the widget may offer to be answered by e-mail. */
  replyByEmail?: ReplyByEmail;
  /**
   * Upload limits: the widget refuses a larger file at once, as the bridge's 413 may reach the browser only as a cut
   * connection (the bridge answers before reading the body), which looks like being offline.
   */
  attachments?: AttachmentLimits;
  /** Present when the bridge takes visitor context (`VISITOR_CONTEXT`, on by default): the widget reports it then. */
  visitorContext?: true;
}

/** The address a visitor left to be answered at, if any. */
export interface ReplyByEmail {
  email?: string;
}

/** The catch-up a `session` carries: a {@link SyncResult} plus the revision it was read from. */
export interface CatchUp extends SyncResult {
  /** The `auth.afterRev` this page starts after. */
  afterRev: number;
}

/** Who is typing where. */
export interface TypingEvent {
  conversationId: string;
  role: 'visitor' | 'agent';
  name?: string;
  typing: boolean;
}

/** A connected agent as other agents see it. */
export interface AgentPublic {
  id: string;
  name: string;
  /** Online or Away as the agent set it in the console. */
  availability: Availability;
}

export interface VisitorClientToServerEvents {
  'message:send': (payload: VisitorSendPayload, ack: (res: Ack<Message>) => void) => void;
  sync: (payload: VisitorSyncPayload, ack: (res: Ack<SyncResult>) => void) => void;
  history: (payload: VisitorHistoryPayload, ack: (res: Ack<MessagePage>) => void) => void;
  receipt: (payload: VisitorReceiptPayload, ack?: (res: Ack<{ changed: number }>) => void) => void;
  typing: (payload: TypingPayload) => void;
  /**
   * Leave (or with `null` remove) the address to be answered at by e-mail; only while the bridge has e-mail
   * (`session.replyByEmail` present), else `bad_request`.
   */
  'visitor:email': (payload: VisitorEmailPayload, ack: (res: Ack<ReplyByEmail>) => void) => void;
  /**
   * The page the visitor is on, their language and time zone (only while `session.visitorContext`, else
   * `bad_request`); stored with the conversation once it exists, shown to agents. `stored` is false while the visitor
   * has not written yet: the bridge keeps the newest report for this socket and stores it with the first message.
   */
  'visitor:context': (payload: VisitorContextPayload, ack?: (res: Ack<{ stored: boolean }>) => void) => void;
  /** Erase this conversation and everything stored about it (the widget offers it when the site enables it). */
  'conversation:erase': (payload: Record<string, never>, ack: (res: Ack<{ erased: true }>) => void) => void;
}

export interface VisitorServerToClientEvents {
  session: (session: VisitorSession) => void;
  'message:new': (message: Message) => void;
  'message:status': (change: StatusChange) => void;
  typing: (event: TypingEvent) => void;
  /**
   * Number of agents taking chats now: Online with a console connected, and none outside business hours. The widget
   * shows the team online while it is above 0.
   */
  'agents:presence': (presence: { online: number }) => void;
  /** An error about an event that has no ack (rate limit on typing, unknown event, …). */
  'chat:error': (error: ApiError) => void;
  /** The conversation was erased; the bridge disconnects right after. Forget the token and start afresh. */
  'conversation:erased': (erased: ConversationErased) => void;
  /** Live events may have been lost on the way (the bridge's link to the other nodes reconnected): sync from the cursor. */
  'changes:missed': () => void;
}

/** Which conversation was erased (by an agent, the visitor or retention); nothing of it remains. */
export interface ConversationErased {
  conversationId: string;
}

export interface AgentClientToServerEvents {
  'conversations:list': (
    payload: ConversationListPayload,
    ack: (res: Ack<{ conversations: ConversationSummary[] }>) => void,
  ) => void;
  'message:send': (payload: AgentSendPayload, ack: (res: Ack<Message>) => void) => void;
  /** Re-send a message whose external delivery failed (WhatsApp). */
  'message:retry': (payload: AgentRetryPayload, ack: (res: Ack<Message>) => void) => void;
  /** Close or reopen a conversation; every agent hears `conversation:updated`. */
  'conversation:state': (payload: ConversationStatePayload, ack: (res: Ack<ConversationSummary>) => void) => void;
  /** Assign, transfer or unassign a conversation; every agent hears `conversation:updated`. */
  'conversation:assign': (payload: ConversationAssignPayload, ack: (res: Ack<ConversationSummary>) => void) => void;
  /** The visitor context stored with a conversation (`null` when none is known); read on opening it and after a reconnect. */
  'conversation:context': (payload: ConversationContextPayload, ack: (res: Ack<{ context: VisitorContext | null }>) => void) => void;
  sync: (payload: AgentSyncPayload, ack: (res: Ack<SyncResult>) => void) => void;
  history: (payload: AgentHistoryPayload, ack: (res: Ack<MessagePage>) => void) => void;
  receipt: (payload: AgentReceiptPayload, ack?: (res: Ack<{ changed: number }>) => void) => void;
  typing: (payload: AgentTypingPayload) => void;
  /**
   * Whether this console tab is visible (`document.visibilityState`), sent on connect and on every change: Web Push
   * notifications go to an agent only while none of their tabs is.
   */
  'console:visibility': (payload: ConsoleVisibilityPayload, ack?: (res: Ack<ConsoleVisibilityPayload>) => void) => void;
}

export interface AgentServerToClientEvents {
  'message:new': (message: Message) => void;
  'message:status': (change: StatusChange) => void;
  typing: (event: TypingEvent) => void;
  /** A conversation's summary changed (new message, read state, state, assignee, presence). */
  'conversation:updated': (conversation: ConversationSummary) => void;
  'visitor:presence': (presence: { conversationId: string; online: boolean }) => void;
  /** A visitor reported a new page (or their first context was stored with their first message). */
  'conversation:context': (change: VisitorContextChange) => void;
  'agents:presence': (presence: { online: AgentPublic[] }) => void;
  'chat:error': (error: ApiError) => void;
  /** A conversation was erased: drop it from the inbox and close its thread. */
  'conversation:erased': (erased: ConversationErased) => void;
  /** Live events may have been lost on the way (the bridge's link to the other nodes reconnected): catch up as after a reconnect. */
  'changes:missed': () => void;
  /** An admin created, changed or deleted a saved reply (on any node): list them again. */
  'saved-replies:changed': () => void;
}

/** Per-socket data the bridge keeps after the handshake. */
export interface VisitorSocketData {
  visitorId: string;
  conversationId: string;
  userId?: string;
}

export interface AgentSocketData {
  agentId: string;
  /** Login name (other agents see it in presence). */
  agentName: string;
  /** What visitors see above this agent's replies and typing. */
  displayName: string;
  /** The sign-in this socket belongs to; ending it disconnects the socket. */
  sessionId: string;
}

/** A message as exported: every field as stored (statuses with their times) plus its attachments. */
export interface ExportedMessage extends Omit<Message, 'attachments'> {
  /** References to attached files (the file itself: `url` with an agent token); empty when the message has none. */
  attachments: { id: string; name: string; contentType: string; size: number; url: string }[];
}

/** `GET /api/conversations/:id/export`: everything stored about one conversation, as one JSON document. */
export interface ConversationExport {
  format: 'anon-chat.conversation-export.v1';
  exportedAt: string;
  conversation: Conversation;
  /** The visitor context stored with it, when any. */
  visitorContext?: VisitorContext;
  /** In seq order. */
  messages: ExportedMessage[];
}

/** REST shapes. */
export type { LoginResult } from './agents.ts';

export type { Conversation };
