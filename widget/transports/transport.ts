/**
 * The seam between the widget's view/controllers and the network. The Socket.IO transport talks to the bridge;
 * an XMTP transport can be primary with Socket.IO as fallback, and neither the element nor the outbox knows which.
 */
import type { ApiError, ErrorCode } from '../../protocol/errors.ts';
import type { MessagePage, ReplyByEmail, SyncResult, TypingEvent, VisitorSession } from '../../protocol/events.ts';
import type { Message, StatusChange } from '../../protocol/message.ts';
import type { VisitorContextReport } from '../../protocol/visitor-context.ts';

/** Which network carries the conversation; shown in the header ("XMTP" / "Realtime"). */
export type TransportKind = 'xmtp' | 'realtime';

/** Connection state as the visitor sees it. */
export type ConnectionState = 'connecting' | 'online' | 'offline';

/** What a transport reports to its listeners. */
export interface TransportEvents {
  /** A message of this conversation, from either side (own messages echo back too; reconcile by clientId). */
  message: (message: Message) => void;
  status: (change: StatusChange) => void;
  typing: (event: TypingEvent) => void;
  presence: (presence: { online: number }) => void;
  session: (session: VisitorSession) => void;
  state: (state: ConnectionState) => void;
  /** The carrying network changed (XMTP ⇄ bridge fallback); single-network transports never emit it. */
  kind: (kind: TransportKind) => void;
  /** An error without a request to attach it to (e.g. rate limited typing). */
  error: (error: ApiError) => void;
  /** The conversation was erased (by the visitor, an agent or retention): nothing of it remains. */
  erased: () => void;
  /** Live events may have been lost on the way: sync from the cursor. */
  missed: () => void;
}

/** Outgoing message as the outbox hands it to a transport. */
export interface OutgoingMessage {
  clientId: string;
  text: string;
  /** Ids of files uploaded for this message (the bridge transport only). */
  attachments?: string[];
}

/** A transport failure. `permanent` failures (too long, forbidden…) must not be retried. */
export class TransportError extends Error {
  constructor(
    readonly code: ErrorCode | 'timeout' | 'offline',
    message: string,
    readonly permanent: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** A way to carry one visitor's conversation. */
export interface Transport {
  readonly kind: TransportKind;
  readonly state: ConnectionState;
  connect(): Promise<void>;
  disconnect(): void;
  /** Resolves with the stored message (same clientId) once the far side has it durably; rejects with TransportError. */
  send(message: OutgoingMessage): Promise<Message>;
  /** Everything changed after `afterRev` (new messages and status changes). */
  sync(afterRev: number): Promise<SyncResult>;
  /** Older history, before `beforeSeq` (or the latest page). */
  history(beforeSeq?: number, limit?: number): Promise<MessagePage>;
  receipt(upToSeq: number, status: 'delivered' | 'read'): void;
  typing(typing: boolean): void;
  /** Erases the conversation on the far side; absent where the network cannot erase (XMTP). */
  erase?(): Promise<void>;
  /**
   * Leaves (or with `null` removes) the address to be answered at by e-mail, with the http(s) `page` it was left on
   * (e-mailed replies link back to it); absent where the network has none.
   */
  setEmail?(email: string | null, page?: string): Promise<ReplyByEmail>;
  /** Reports the page the visitor is on (fire-and-forget); absent where the network has no bridge session. */
  context?(report: VisitorContextReport): void;
  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void;
}
