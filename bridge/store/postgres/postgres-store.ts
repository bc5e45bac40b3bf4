/**
 * `PostgresStore`: the `Store` for clusters. Every bridge node of a cluster uses the same database; what the
 * embedded store serialises in memory is serialised here by row locks, so it also holds across nodes:
 *
 * - Every change to a conversation's messages (append, status, receipt, external id) first locks the conversation
 *   row (`FOR UPDATE`) and bumps `lastSeq`/`rev` in the same transaction, so seq and rev stay gap-free and strictly
 *   increasing under writers on different nodes, and revs become visible in commit order (a sync reader reading
 *   `rev > cursor` never skips a row that commits later with a lower rev).
 * - Status ranks only move up, also in SQL (`WHERE status_rank < $new`).
 * - Concurrent appends share one transaction and one commit (group commit, `appendBatch`).
 *
 * The schema comes from `migrations.ts`; `open()` does not migrate and `close()` does not end the pool (its owner does).
 * See README.md in this folder.
 */
import type { Message } from '../../../protocol/message.ts';
import type { Channel, Conversation, ConversationState } from '../../../protocol/conversation.ts';
import type {
  RateDecision,
  AgentChange,
  ChangeFeed,
  ExternalStatusOptions,
  OnceRecord,
  AgentRecord,
  AppendResult,
  ConversationErasure,
  ConversationQuery,
  NewConversation,
  NewAttachment,
  NewMessage,
  OutboundWork,
  QueueItem,
  QueueLease,
  RecordDump,
  StatusResult,
  StatusUpdate,
  Store,
  StoreHealth,
  StoredAttachment,
} from '../store.ts';
import { PostgresAgents } from './agents.ts';
import { CHANGE_FEED_CHANNEL, PostgresChangeFeed } from './change-feed.ts';
import { PostgresAttachments } from './attachments.ts';
import { PostgresConversations } from './conversations.ts';
import { PostgresErasure } from './erasure.ts';
import { PostgresAppends } from './message-appends.ts';
import { PostgresStatuses } from './message-statuses.ts';
import { PostgresMessages } from './messages.ts';
import { PostgresState, isPgError, type PostgresStoreOptions } from './postgres-state.ts';
import { PostgresQueues } from './queues.ts';
import { PostgresRateLimits } from './rate-limits.ts';
import { PostgresRecords } from './records.ts';

export type { PostgresStoreOptions } from './postgres-state.ts';

/** How often `health()`'s counts are re-read (other nodes change them too). */
const HEALTH_REFRESH_MS = 5_000;

/** The PostgreSQL engine of `Store`: the lifecycle here, each domain's calls in its own file (README.md lists them). */
export class PostgresStore implements Store {
  private readonly s: PostgresState;
  private readonly conversations: PostgresConversations;
  private readonly erasure: PostgresErasure;
  private readonly appends: PostgresAppends;
  private readonly statuses: PostgresStatuses;
  private readonly messages: PostgresMessages;
  private readonly agents: PostgresAgents;
  private readonly attachments: PostgresAttachments;
  private readonly records: PostgresRecords;
  private readonly queues: PostgresQueues;
  private readonly rateLimits: PostgresRateLimits;
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly feed: PostgresChangeFeed | undefined;

  constructor(options: PostgresStoreOptions) {
    const s = new PostgresState(options);
    this.s = s;
    if (options.changeFeed) {
      this.feed = new PostgresChangeFeed(
        s.pool,
        s.logger,
        (conversationId, messageId) => this.getMessage(conversationId, messageId),
        options.changeFeed === true ? {} : options.changeFeed,
      );
      s.feedChannel = CHANGE_FEED_CHANNEL;
      s.feedOrigin = this.feed.origin;
    }
    this.conversations = new PostgresConversations(s);
    this.erasure = new PostgresErasure(s);
    this.appends = new PostgresAppends(s);
    this.statuses = new PostgresStatuses(s);
    this.messages = new PostgresMessages(s);
    this.agents = new PostgresAgents(s);
    this.attachments = new PostgresAttachments(s);
    this.records = new PostgresRecords(s);
    this.queues = new PostgresQueues(s);
    this.rateLimits = new PostgresRateLimits(s);
  }

  /** Registers outbound work; asked inside every later append and status change (see `Store.addOutboundWork`). */
  addOutboundWork(work: OutboundWork): () => void {
    return this.s.outbound.add(work);
  }

  async open(): Promise<void> {
    try {
      const { rows } = await this.s.pool.query<{ version: number | null }>(
        "SELECT (SELECT max(version) FROM schema_migrations) AS version WHERE to_regclass('schema_migrations') IS NOT NULL",
      );
      if (!rows[0]?.version) {
        throw new Error('the database has no anon-chat schema yet: run `npm run migrate` (or start a node that migrates)');
      }
    } catch (error) {
      if (isPgError(error) && error.code === '42P01') {
        throw new Error('the database has no anon-chat schema yet: run `npm run migrate` (or start a node that migrates)', {
          cause: error,
        });
      }
      throw error;
    }
    // Listening before the first write: no node serves anyone before it hears the others.
    await this.feed?.start();
    this.s.opened = true;
    await this.s.refreshCounts(true);
    this.healthTimer = setInterval(() => void this.s.refreshCounts().catch(() => undefined), HEALTH_REFRESH_MS);
    this.healthTimer.unref();
  }

  async close(): Promise<void> {
    this.s.opened = false;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    // Appends already accepted still commit (or fail) and answer their callers.
    const { appends, statuses } = this;
    while (appends.pendingAppends.length > 0 || statuses.pendingStatusWrites.length > 0 || this.s.inFlight.size > 0) {
      if (appends.pendingAppends.length > 0 && appends.batchesInFlight < this.s.maxInFlight) appends.flushAppends();
      if (statuses.pendingStatusWrites.length > 0 && statuses.statusBatchesInFlight < this.s.maxInFlight) statuses.flushStatusWrites();
      await Promise.all([...this.s.inFlight]);
    }
    await this.queues.closeSession();
    await this.feed?.close();
  }

  /** Set with the `changeFeed` option (see `ChangeFeed`). */
  get changeFeed(): ChangeFeed | undefined {
    return this.feed;
  }

  health(): StoreHealth {
    // A node whose feed is not listening does not hear the other nodes' messages: not one to send clients to.
    const lastError = this.s.lastError ?? (this.feed && this.s.opened && !this.feed.listening ? 'change feed not listening' : undefined);
    return {
      ok: this.s.opened && lastError === undefined,
      engine: 'postgres',
      conversations: this.s.counts.conversations,
      messages: this.s.counts.messages,
      attachments: this.s.counts.attachments,
      attachmentBytes: this.s.counts.attachmentBytes,
      ...(lastError !== undefined ? { lastError } : {}),
    };
  }

  // conversations

  createConversation(input: NewConversation): Promise<Conversation> {
    return this.conversations.createConversation(input);
  }

  getConversation(id: string): Promise<Conversation | undefined> {
    return this.conversations.getConversation(id);
  }

  findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    return this.conversations.findConversationByExternalUser(channel, externalUserId);
  }

  setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation> {
    return this.conversations.setConversationExternalUser(id, externalUserId);
  }

  setConversationState(id: string, state: ConversationState): Promise<Conversation> {
    return this.conversations.setConversationState(id, state);
  }

  setConversationAssignee(id: string, assigneeId: string | null, options: { onlyIfUnassigned?: boolean } = {}): Promise<Conversation> {
    return this.conversations.setConversationAssignee(id, assigneeId, options);
  }

  setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation> {
    return this.conversations.setConversationVisitorEmail(id, email, page);
  }

  unassignAgentConversations(agentId: string): Promise<Conversation[]> {
    return this.conversations.unassignAgentConversations(agentId);
  }

  eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    return this.erasure.eraseConversation(id, related);
  }

  closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    return this.conversations.closedConversationsBefore(before, limit);
  }

  listConversations(query: ConversationQuery): Promise<Conversation[]> {
    return this.conversations.listConversations(query);
  }

  // messages

  appendMessage(input: NewMessage): Promise<AppendResult> {
    return this.appends.appendMessage(input);
  }

  getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    return this.messages.getMessage(conversationId, messageId);
  }

  getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    return this.messages.getMessages(conversationId, opts);
  }

  getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    return this.messages.getChangesSince(conversationId, afterRev, limit);
  }

  findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    return this.messages.findMessageByExternalId(externalId);
  }

  applyStatus(conversationId: string, messageId: string, update: StatusUpdate, once?: OnceRecord): Promise<StatusResult> {
    return this.statuses.applyStatus(conversationId, messageId, update, once);
  }

  applyReceipt(conversationId: string, authorRole: 'visitor' | 'agent', upToSeq: number, status: 'delivered' | 'read'): Promise<StatusResult> {
    return this.statuses.applyReceipt(conversationId, authorRole, upToSeq, status);
  }

  setExternalId(conversationId: string, messageId: string, externalId: string): Promise<Message> {
    return this.statuses.setExternalId(conversationId, messageId, externalId);
  }

  applyStatusByExternalId(externalId: string, update: StatusUpdate, options: ExternalStatusOptions = {}): Promise<StatusResult | undefined> {
    return this.statuses.applyStatusByExternalId(externalId, update, options);
  }

  // agents

  createAgent(agent: AgentRecord): Promise<void> {
    return this.agents.createAgent(agent);
  }

  getAgentByName(name: string): Promise<AgentRecord | undefined> {
    return this.agents.getAgentByName(name);
  }

  getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.agents.getAgent(id);
  }

  countAgents(): Promise<number> {
    return this.agents.countAgents();
  }

  listAgents(): Promise<AgentRecord[]> {
    return this.agents.listAgents();
  }

  updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    return this.agents.updateAgent(id, change);
  }

  // attachments

  putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    return this.attachments.putAttachment(input);
  }

  getAttachment(id: string): Promise<StoredAttachment | undefined> {
    return this.attachments.getAttachment(id);
  }

  findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    return this.attachments.findAttachmentByUploadKey(conversationId, uploader, uploadKey);
  }

  readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    return this.attachments.readAttachment(id, variant);
  }

  // records

  putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    return this.records.putRecord(namespace, key, value, expiresAt);
  }

  getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    return this.records.getRecord<T>(namespace, key);
  }

  listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    return this.records.listRecords(namespace, limit);
  }

  deleteRecord(namespace: string, key: string): Promise<void> {
    return this.records.deleteRecord(namespace, key);
  }

  addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    return this.records.addRecordOnce(namespace, key, value, expiresAt);
  }

  // queues

  enqueue<T>(queue: string, payload: T, id?: string): Promise<QueueItem<T>> {
    return this.queues.enqueue(queue, payload, id);
  }

  dueItems<T>(queue: string, now: string, limit: number): Promise<QueueItem<T>[]> {
    return this.queues.dueItems<T>(queue, now, limit);
  }

  claimDueItems<T>(queue: string, now: string, limit: number, lease: QueueLease): Promise<QueueItem<T>[]> {
    return this.queues.claimDueItems<T>(queue, now, limit, lease);
  }

  updateQueueItem<T>(item: QueueItem<T>, owner?: string): Promise<boolean> {
    return this.queues.updateQueueItem(item, owner);
  }

  replaceQueueItem<T>(expected: QueueItem<T>, item: QueueItem<T>): Promise<boolean> {
    return this.queues.replaceQueueItem(expected, item);
  }

  pruneQueueItems(before: string, limit: number): Promise<number> {
    return this.queues.pruneQueueItems(before, limit);
  }

  countQueueItems(queue: string): Promise<Record<QueueItem['state'], number>> {
    return this.queues.countQueueItems(queue);
  }

  listQueueItems<T>(queue: string, limit: number): Promise<QueueItem<T>[]> {
    return this.queues.listQueueItems<T>(queue, limit);
  }

  getQueueItem<T>(queue: string, id: string): Promise<QueueItem<T> | undefined> {
    return this.queues.getQueueItem<T>(queue, id);
  }

  // limits

  takeRateToken(key: string, perMinute: number): Promise<RateDecision> {
    return this.rateLimits.takeRateToken(key, perMinute);
  }

  claimLoginAttempt(account: string): Promise<RateDecision> {
    return this.rateLimits.claimLoginAttempt(account);
  }

  clearLoginAttempts(account: string): Promise<void> {
    return this.rateLimits.clearLoginAttempts(account);
  }
}
