import type { MessageStatus, StoredStatus } from './status.ts';
import type { Attachment } from './attachment.ts';

/** Who wrote a message. */
export type AuthorRole = 'visitor' | 'agent' | 'system';

/** Author of a message; agents carry their id and display name. */
export interface Author {
  role: AuthorRole;
  agentId?: string;
  name?: string;
}

/** Why a message failed (a bridge rejection or an external channel's error, e.g. Meta's code and title). */
export interface MessageFailure {
  code: string;
  reason: string;
}

/** A message as stored by the bridge and sent on the wire. */
export interface Message {
  /** Server id: random, not guessable, not sequential. */
  id: string;
  conversationId: string;
  /** Position in the conversation: 1, 2, 3… without gaps, assigned on store. Order by this. */
  seq: number;
  /** Conversation revision of this message's last change (creation or status); the sync cursor. */
  rev: number;
  /** Sender-generated idempotency key; a retry with the same key returns this message. */
  clientId: string;
  author: Author;
  /** Empty when the message carries only attachments. */
  text: string;
  /** Files sent with the message, in the sender's order (absent when none). */
  attachments?: Attachment[];
  /** ISO 8601, server time of storage. */
  createdAt: string;
  /** Delivery status towards the other side. */
  status: StoredStatus;
  /** ISO time at which each reached status was first recorded. */
  statusAt: Partial<Record<StoredStatus, string>>;
  failure?: MessageFailure;
  /** Id of this message on an external channel (WhatsApp `wamid…`). */
  externalId?: string;
}

/** A status change pushed to whoever watches a conversation (also replayed via `sync` as whole messages). */
export interface StatusChange {
  conversationId: string;
  messageId: string;
  clientId: string;
  seq: number;
  rev: number;
  status: StoredStatus;
  at: string;
  failure?: MessageFailure;
  /** Id on the external channel once that channel accepted the message (a WhatsApp reply is `sent` only then). */
  externalId?: string;
}

/** A message on the sender's own screen: the stored copy, or an optimistic one still `sending` / `failed`. */
export interface LocalMessage extends Omit<Message, 'id' | 'seq' | 'rev' | 'status'> {
  id?: string;
  seq?: number;
  rev?: number;
  status: MessageStatus;
}
