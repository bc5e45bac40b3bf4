/** The lines of the journal: each holds the full new state of what changed, so replaying one twice changes nothing. */
import type { Message } from '../../../protocol/message.ts';
import type { AgentRecord, QueueItem, StoredAttachment } from '../store.ts';
import type { ConversationRecord } from './stored-shapes.ts';

/** A record written (or, with `d`, removed) inside a `tx` line. */
export type TxRecord = { ns: string; k: string; v?: unknown; x?: string; d?: true };

/** One journal line: a full new state of one thing, so replay is idempotent. */
export type JournalRecord =
  | { t: 'c'; v: ConversationRecord }
  | { t: 'm'; v: Message }
  | { t: 'a'; v: AgentRecord }
  | { t: 'r'; ns: string; k: string; v: unknown; x?: string }
  | { t: 'rd'; ns: string; k: string }
  | { t: 'q'; v: QueueItem }
  /**
   * Changes that happen together: messages, then the conversation record, then new queue items, then records written
   * (`d`: removed) with them (one line: atomic).
   */
  | { t: 'tx'; m: Message[]; c?: ConversationRecord; q?: QueueItem[]; r?: TxRecord[] }
  /**
   * Erasure of a conversation and what else held its data (records as [namespace, key], queue id prefixes), and the
   * record it writes (`ConversationErasure.remember`), applied after the removal.
   */
  | { t: 'x'; id: string; r: [string, string][]; qp: string[]; w?: TxRecord }
  /** Pruned queue items (delivered or dead). */
  | { t: 'qd'; ids: string[] }
  /** A stored attachment (its file was written durably before this line). */
  | { t: 'at'; v: StoredAttachment };
