import type { AuthorRole, Message } from './message.ts';
import type { StoredStatus } from './status.ts';

/** Where a conversation's other party is. */
export const Channel = { web: 'web', whatsapp: 'whatsapp', xmtp: 'xmtp' } as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** Open conversations are in the agents' default inbox; closed ones only under "all". */
export type ConversationState = 'open' | 'closed';

/** A conversation as stored. */
export interface Conversation {
  id: string;
  channel: Channel;
  /** Display name of the visitor / customer ("Visitor 4F2A", a WhatsApp profile name). */
  name: string;
  /** Verified site user id, WhatsApp `wa_id` or XMTP inbox id; absent for anonymous web visitors. */
  externalUserId?: string;
  /** Site key the widget was embedded with. */
  site?: string;
  state: ConversationState;
  /** ISO time the conversation was closed; absent while open. Retention counts from it. */
  closedAt?: string;
  createdAt: string;
  lastActivityAt: string;
  /** Highest message seq in the conversation (0 when empty). */
  lastSeq: number;
  /** Revision counter bumped by every change to any message; the sync cursor. */
  rev: number;
  /** Highest seq of visitor messages that an agent has read. */
  agentReadSeq: number;
  /** Highest seq of agent messages that the visitor has read. */
  visitorReadSeq: number;
  /** The newest message, for the inbox preview; `status` follows it (a failed reply shows as failed). */
  lastMessage?: LastMessage;
  /** Visitor messages not yet read by an agent. */
  unread: number;
  /** The agent answering this conversation; absent while it is unassigned. */
  assigneeId?: string;
  /** Where the visitor asked to be answered by e-mail (offered while no agent is online); absent when not given. */
  visitorEmail?: string;
  /** The page the visitor left the address on: e-mailed replies link back to it. */
  visitorPage?: string;
}

/** What the agents' inbox shows: the stored conversation plus live presence. */
export interface ConversationSummary extends Conversation {
  visitorOnline: boolean;
}

/** What the inbox previews of a conversation's newest message. */
export interface LastMessage {
  text: string;
  role: AuthorRole;
  createdAt: string;
  seq: number;
  status?: StoredStatus;
  /** How many files it carries, and the first one's name: a message of files alone still has a preview. */
  attachments?: number;
  attachmentName?: string;
}

/** The preview of `m`, as both store engines keep it on the conversation. */
export function lastMessageOf(m: Pick<Message, 'text' | 'author' | 'createdAt' | 'seq' | 'status' | 'attachments'>): LastMessage {
  const last: LastMessage = { text: m.text, role: m.author.role, createdAt: m.createdAt, seq: m.seq, status: m.status };
  const first = m.attachments?.[0];
  if (first) {
    last.attachments = m.attachments!.length;
    last.attachmentName = first.name;
  }
  return last;
}

