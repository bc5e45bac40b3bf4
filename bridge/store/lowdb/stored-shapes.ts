/** The shapes the lowdb engine keeps in its documents and in memory, with their load-time checks, copies and keys. */
import type { Channel, Conversation } from '../../../protocol/conversation.ts';
import type { AgentRecord } from '../store.ts';

/** What the store keeps per conversation: the public record plus delivered watermarks receipts start from. */
export interface ConversationRecord {
  conversation: Conversation;
  /** Every visitor message with seq ≤ this is at least delivered. */
  deliveredVisitorSeq: number;
  /** Every agent message with seq ≤ this is at least delivered. */
  deliveredAgentSeq: number;
}

/** A record of `putRecord` with its optional expiry. */
export interface StoredRecord {
  value: unknown;
  expiresAt?: string;
}

/** The message a channel's external id (e.g. a WhatsApp message id) names. */
export interface ExternalIdTarget {
  conversationId: string;
  messageId: string;
}

/** Per-conversation lookups, rebuilt from the segments on first use (so never stored, never stale). */
export interface ConversationIndex {
  bySeqClientId: Map<string, number>;
  byId: Map<string, number>;
  /** rev of the message at each seq (index = seq). */
  revBySeq: number[];
  /** Append-only (rev, seq) change log in rev order; an entry is live while revBySeq[seq] equals its rev. */
  logRev: number[];
  logSeq: number[];
}

/** A conversation in memory: its record and, while built, its index. */
export interface ConversationEntry {
  record: ConversationRecord;
  index?: ConversationIndex;
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 32-bit FNV-1a hash of a string: picks the bucket of a key. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A file-name-safe key for a conversation id (ids from outside are not trusted to be path-safe). */
export function fileKey(id: string): string {
  return /^[A-Za-z0-9_-]{1,80}$/.test(id) ? id : `~${Buffer.from(id, 'utf8').toString('hex').slice(0, 160)}${fnv1a(id).toString(36)}`;
}

export { cloneConversation, cloneMessage } from '../store.ts';

/** A deep copy of a JSON value (undefined stays undefined). */
export function copyJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Why a loaded conversation record is malformed, or undefined. */
export function validateConversationRecord(v: unknown): string | undefined {
  if (!isObject(v) || !isObject(v.conversation)) return 'not a conversation record';
  const c = v.conversation;
  if (typeof c.id !== 'string' || typeof c.lastSeq !== 'number' || typeof c.rev !== 'number') return 'bad conversation';
  return undefined;
}

/** Why a loaded record value is malformed (only a missing one is), or undefined. */
export function validateAny(v: unknown): string | undefined {
  return v === undefined ? 'missing value' : undefined;
}

/** Why a loaded queue item is malformed, or undefined. */
export function validateQueueItem(v: unknown): string | undefined {
  return isObject(v) && typeof v.id === 'string' && typeof v.queue === 'string' ? undefined : 'not a queue item';
}

/** A copy of a stored agent with the fields agents stored before roles existed lack (they were all admins then). */
export function agentRecord(stored: AgentRecord): AgentRecord {
  const v = stored as Partial<AgentRecord> & Pick<AgentRecord, 'id' | 'name' | 'passwordHash' | 'createdAt'>;
  return {
    id: v.id,
    name: v.name,
    displayName: v.displayName ?? v.name,
    role: v.role ?? 'admin',
    active: v.active ?? true,
    passwordHash: v.passwordHash,
    sessionEpoch: v.sessionEpoch ?? 0,
    availability: v.availability ?? 'online',
    ...(v.email !== undefined ? { email: v.email } : {}),
    createdAt: v.createdAt,
  };
}

/** An agent who can still administer the team. */
export function isActiveAdmin(agent: AgentRecord): boolean {
  return agent.active && agent.role === 'admin';
}

/** Agents in creation order (then by name): the order `listAgents` answers in. */
export function byCreation(a: AgentRecord, b: AgentRecord): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Why a loaded agent is malformed, or undefined. */
export function validateAgent(v: unknown): string | undefined {
  return isObject(v) && typeof v.id === 'string' && typeof v.name === 'string' ? undefined : 'not an agent';
}

/** Why a loaded attachment is malformed, or undefined. */
export function validateAttachment(v: unknown): string | undefined {
  return isObject(v) && typeof v.id === 'string' && typeof v.conversationId === 'string' && typeof v.sha256 === 'string'
    ? undefined
    : 'not an attachment';
}

/** Key of the upload dedupe index. */
export function uploadKeyOf(conversationId: string, uploader: string, uploadKey: string): string {
  return `${conversationId}\u0000${uploader}\u0000${uploadKey}`;
}

/** Why a loaded external-id entry is malformed, or undefined. */
export function validateExternalId(v: unknown): string | undefined {
  return isObject(v) && typeof v.conversationId === 'string' && typeof v.messageId === 'string'
    ? undefined
    : 'not an external id entry';
}

/** Key of a record in the records collection. */
export function recordKey(namespace: string, key: string): string {
  return `${namespace}\u0000${key}`;
}

/** The namespace part of a record's key in the records collection. */
export function recordNamespaceOf(storeKey: string): string {
  return storeKey.slice(0, storeKey.indexOf('\u0000'));
}

/** Key of the (channel, external user) → conversation index. */
export function externalUserKey(channel: Channel, externalUserId: string): string {
  return `${channel}\u0000${externalUserId}`;
}
