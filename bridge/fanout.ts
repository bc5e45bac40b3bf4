/**
 * The one place that tells the world about a new message or a status change: the conversation's visitor room,
 * the agents, and every registered sink (outbound webhooks, WhatsApp delivery of agent replies). Every producer —
 * socket handlers, REST, WhatsApp inbound, status webhooks — calls this after the store has the change durably.
 */
import type { Logger } from 'pino';
import type { Conversation } from '../protocol/conversation.ts';
import type { Message, StatusChange } from '../protocol/message.ts';
import type { ChangeFeed } from './store/store.ts';
import { AGENTS_ROOM, conversationRoom, type AgentNamespace, type VisitorNamespace } from './realtime/namespaces.ts';
import { isVisitorOnline, toSummary } from './realtime/presence.ts';

/** A receiver of fan-out events. Errors it throws are logged, never passed back to the producer. */
export interface FanoutSink {
  /** Shown in logs when the sink fails. */
  name: string;
  messageCreated?(message: Message, conversation: Conversation): void | Promise<void>;
  statusChanged?(messages: Message[], conversation: Conversation): void | Promise<void>;
  /**
   * Re-run external delivery of `message` (agent `message:retry`). Return the updated message when this sink
   * delivers for `conversation.channel`, or undefined when the channel is not its own. Throwing means the
   * upstream failed; the error is logged and the agent gets `upstream_failed`.
   */
  retryDelivery?(message: Message, conversation: Conversation): Promise<Message | undefined>;
}

/**
 * Default window for coalescing message/status-driven `conversation:updated` per conversation. 1 s, because with a
 * shorter window a conversation with a few messages a second still sends one summary per message (docs/performance.md
 * has the measurement); the first update of a quiet conversation still goes out at once, and the messages themselves
 * (`message:new`) are never held back.
 */
export const CONVERSATION_UPDATE_COALESCE_MS = 1000;

/** Outcome of `Fanout.retryDelivery`. */
export type RetryOutcome = { kind: 'retried'; message: Message } | { kind: 'unsupported' } | { kind: 'failed' };

/** The status change event for a message's current state. */
export function toStatusChange(message: Message): StatusChange {
  const change: StatusChange = {
    conversationId: message.conversationId,
    messageId: message.id,
    clientId: message.clientId,
    seq: message.seq,
    rev: message.rev,
    status: message.status,
    at: message.statusAt[message.status] ?? message.createdAt,
  };
  if (message.failure) change.failure = message.failure;
  if (message.externalId !== undefined) change.externalId = message.externalId;
  return change;
}

/** Announces new messages and status changes to sockets and sinks. */
export class Fanout {
  private readonly sinks = new Set<FanoutSink>();
  /** Per conversation: when its last `conversation:updated` went out, and the newest one held back since. */
  private readonly throttled = new Map<string, { sentAt: number; pending?: Conversation; timer?: NodeJS.Timeout }>();
  /** Per conversation, the summary being sent last: one that fails is sent again only if no newer one followed it. */
  private readonly sending = new Map<string, Conversation>();
  private closed = false;
  private readonly coalesceMs: number;
  private stopListening: (() => void)[] = [];

  constructor(
    private readonly deps: {
      visitorNs: VisitorNamespace;
      agentNs: AgentNamespace;
      logger: Logger;
      /** Window for coalescing message/status-driven `conversation:updated`; default CONVERSATION_UPDATE_COALESCE_MS. */
      coalesceMs?: number;
      /** The store's feed of other nodes' messages, when it carries this node's to them (`Store.changeFeed`). */
      changeFeed?: ChangeFeed;
    },
  ) {
    this.coalesceMs = deps.coalesceMs ?? CONVERSATION_UPDATE_COALESCE_MS;
    const feed = deps.changeFeed;
    if (feed) {
      this.stopListening = [
        feed.onMessageCreated((message) => this.messageHeard(message)),
        feed.onStatusChanged((message) => this.statusHeard(message)),
        feed.onMissed(() => {
          deps.visitorNs.local.emit('changes:missed');
          deps.agentNs.local.emit('changes:missed');
        }),
      ];
    }
  }

  /** Registers a sink; returns a function that removes it. */
  addSink(sink: FanoutSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** A message was stored (created, not a dedupe hit). Never rejects. */
  async messageCreated(message: Message, conversation: Conversation): Promise<void> {
    this.sendMessage(message, this.deps.changeFeed !== undefined);
    await this.announceCoalesced(conversation);
    await this.callSinks('messageCreated', (sink) => sink.messageCreated?.(message, conversation));
  }

  /**
   * To the conversation's visitor room and to the agents. `local`: to this node's sockets only, when the store's
   * change feed carries the message to the other nodes (their bridges send it on to their own sockets).
   */
  private sendMessage(message: Message, local: boolean): void {
    const { visitors, agents } = this.audience(message, local);
    visitors.emit('message:new', message);
    agents.emit('message:new', message);
  }

  /** `message`'s status change to its visitor room and to the agents; `local` as for `sendMessage`. */
  private sendStatus(message: Message, local: boolean): void {
    const { visitors, agents } = this.audience(message, local);
    const change = toStatusChange(message);
    visitors.emit('message:status', change);
    agents.emit('message:status', change);
  }

  /** Who hears of `message`: its conversation's visitor room and the agents, on this node only when `local`. */
  private audience(message: Message, local: boolean) {
    const { visitorNs, agentNs } = this.deps;
    return {
      visitors: (local ? visitorNs.local : visitorNs).to(conversationRoom(message.conversationId)),
      agents: (local ? agentNs.local : agentNs).to(AGENTS_ROOM),
    };
  }

  /** Another node changed `message`'s status (heard on the change feed): this node's sockets get the change. */
  private statusHeard(message: Message): void {
    if (!this.closed) this.sendStatus(message, true);
  }

  /**
   * Another node stored `message` (heard on the change feed): this node's sockets get it. That node announces the
   * conversation's summary and runs the sinks.
   */
  private messageHeard(message: Message): void {
    if (this.closed) return;
    this.sendMessage(message, true);
  }

  /** Messages' statuses changed (advanced, failed again, or accepted by their channel: only the ones that changed). Never rejects. */
  async statusChanged(messages: Message[], conversation: Conversation): Promise<void> {
    if (messages.length === 0) return;
    for (const message of messages) this.sendStatus(message, this.deps.changeFeed !== undefined);
    await this.announceCoalesced(conversation);
    await this.callSinks('statusChanged', (sink) => sink.statusChanged?.(messages, conversation));
  }

  /**
   * A conversation's summary changed (read state, state, presence): tell the agents now. Never rejects. It is newer
   * than any update held back for the conversation, so it replaces that one.
   */
  async announceConversation(conversation: Conversation): Promise<void> {
    const entry = this.throttled.get(conversation.id);
    if (entry) {
      clearTimeout(entry.timer);
      this.throttled.delete(conversation.id);
    }
    await this.emitSummary(conversation);
  }

  /**
   * A conversation was erased: agents drop it (no held-back update may bring it back), its visitor sockets hear
   * it and are disconnected (their `socket.data` still names it; the widget reconnects as a new visitor).
   */
  async conversationErased(conversationId: string): Promise<void> {
    this.sending.delete(conversationId);
    const entry = this.throttled.get(conversationId);
    if (entry) {
      clearTimeout(entry.timer);
      this.throttled.delete(conversationId);
    }
    const erased = { conversationId };
    this.deps.agentNs.to(AGENTS_ROOM).emit('conversation:erased', erased);
    const room = conversationRoom(conversationId);
    this.deps.visitorNs.to(room).emit('conversation:erased', erased);
    // Not closing the transport: the disconnect packet follows the event on the same connection.
    this.deps.visitorNs.in(room).disconnectSockets(false);
  }

  /** Sends every held-back `conversation:updated` now and stops holding any back (bridge close). */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.stopListening) stop();
    const pending: Conversation[] = [];
    for (const entry of this.throttled.values()) {
      clearTimeout(entry.timer);
      if (entry.pending) pending.push(entry.pending);
    }
    this.throttled.clear();
    this.sending.clear();
    await Promise.all(pending.map((conversation) => this.emitSummary(conversation)));
  }

  /**
   * Message- and status-driven summaries: at most one `conversation:updated` per conversation per window. The first
   * in a quiet window goes out at once; later ones within it collapse into one at the window's end carrying the newest
   * conversation passed in (the latest stored state). Why: a busy conversation otherwise costs one summary packet
   * (and a presence lookup) per message and per receipt.
   */
  private async announceCoalesced(conversation: Conversation): Promise<void> {
    if (this.closed || this.coalesceMs <= 0) return this.emitSummary(conversation);
    const now = performance.now();
    const entry = this.throttled.get(conversation.id);
    if (!entry) {
      this.throttled.set(conversation.id, { sentAt: now });
      this.armExpiry(conversation.id);
      return this.emitSummary(conversation);
    }
    entry.pending = conversation;
    if (entry.timer === undefined) {
      entry.timer = setTimeout(() => this.flushOne(conversation.id), Math.max(0, entry.sentAt + this.coalesceMs - now));
      entry.timer.unref();
    }
  }

  /** Forgets a quiet conversation once its window has passed, so the map holds only recently active ones. */
  private armExpiry(conversationId: string): void {
    const entry = this.throttled.get(conversationId);
    if (!entry) return;
    entry.timer = setTimeout(() => this.flushOne(conversationId), this.coalesceMs);
    entry.timer.unref();
  }

  private flushOne(conversationId: string): void {
    const entry = this.throttled.get(conversationId);
    if (!entry) return;
    entry.timer = undefined;
    const conversation = entry.pending;
    if (!conversation) {
      this.throttled.delete(conversationId);
      return;
    }
    entry.pending = undefined;
    entry.sentAt = performance.now();
    // A new window starts with this send; if nothing arrives in it, the entry is dropped at its end.
    entry.timer = setTimeout(() => this.flushOne(conversationId), this.coalesceMs);
    entry.timer.unref();
    void this.emitSummary(conversation);
  }

  private async emitSummary(conversation: Conversation): Promise<void> {
    const id = conversation.id;
    this.sending.set(id, conversation);
    try {
      // Free with the in-memory adapter (the local room); a cluster adapter is asked (see presence.ts).
      const online = await isVisitorOnline(this.deps.visitorNs, conversation);
      this.deps.agentNs.to(AGENTS_ROOM).emit('conversation:updated', toSummary(conversation, online));
      if (this.sending.get(id) === conversation) this.sending.delete(id);
    } catch (error) {
      this.deps.logger.error({ err: error, conversationId: id }, 'fanout: conversation update failed; sending it again in the next window');
      if (this.sending.get(id) === conversation) this.sendAgain(conversation);
    }
  }

  /**
   * A summary that could not go out (a cluster node did not answer the presence lookup in time: overloaded, stopped,
   * or killed and not yet dropped by the adapter) goes again one window later, unless a newer one is held back by then:
   * agents must end up with a conversation's last summary, and nothing else may bring it if the conversation goes quiet.
   */
  private sendAgain(conversation: Conversation): void {
    if (this.closed) return;
    let entry = this.throttled.get(conversation.id);
    if (!entry) {
      entry = { sentAt: performance.now() };
      this.throttled.set(conversation.id, entry);
    }
    entry.pending ??= conversation;
    if (entry.timer === undefined) {
      entry.timer = setTimeout(() => this.flushOne(conversation.id), this.coalesceMs > 0 ? this.coalesceMs : CONVERSATION_UPDATE_COALESCE_MS);
      entry.timer.unref();
    }
  }

  /** Asks the sinks to deliver `message` again on its external channel. */
  async retryDelivery(message: Message, conversation: Conversation): Promise<RetryOutcome> {
    for (const sink of this.sinks) {
      if (!sink.retryDelivery) continue;
      try {
        const result = await sink.retryDelivery(message, conversation);
        if (result) return { kind: 'retried', message: result };
      } catch (error) {
        this.deps.logger.warn({ err: error, sink: sink.name, messageId: message.id }, 'fanout: retry delivery failed');
        return { kind: 'failed' };
      }
    }
    return { kind: 'unsupported' };
  }

  private async callSinks(what: string, call: (sink: FanoutSink) => void | Promise<void>): Promise<void> {
    // Called for every message and status change: sinks that answer synchronously cost no promise here.
    let pending: Promise<void>[] | undefined;
    for (const sink of this.sinks) {
      const failed = (error: unknown) =>
        this.deps.logger.error({ err: error, sink: sink.name }, `fanout: sink ${what} failed`);
      try {
        const result = call(sink);
        if (result) (pending ??= []).push(result.catch(failed));
      } catch (error) {
        failed(error);
      }
    }
    if (pending) await Promise.all(pending);
  }
}
