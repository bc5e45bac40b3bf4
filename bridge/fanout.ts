/**
 * The one place that tells the world about a new message or a status change: the conversation's visitor room,
 * the agents, and every registered sink (outbound webhooks, WhatsApp delivery of agent replies). Every producer —
 * socket handlers, REST, WhatsApp inbound, status webhooks — calls this after the store has the change durably.
 */
import type { Logger } from 'pino';
import type { Conversation } from '../protocol/conversation.ts';
import type { Message, StatusChange } from '../protocol/message.ts';
import { AGENTS_ROOM, conversationRoom, type AgentNamespace, type VisitorNamespace } from './context.ts';
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
  return change;
}

/** Announces new messages and status changes to sockets and sinks. */
export class Fanout {
  private readonly sinks = new Set<FanoutSink>();

  constructor(
    private readonly deps: { visitorNs: VisitorNamespace; agentNs: AgentNamespace; logger: Logger },
  ) {}

  /** Registers a sink; returns a function that removes it. */
  addSink(sink: FanoutSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** A message was stored (created, not a dedupe hit). Never rejects. */
  async messageCreated(message: Message, conversation: Conversation): Promise<void> {
    const { visitorNs, agentNs } = this.deps;
    visitorNs.to(conversationRoom(conversation.id)).emit('message:new', message);
    agentNs.to(AGENTS_ROOM).emit('message:new', message);
    await this.announceConversation(conversation);
    await this.callSinks('messageCreated', (sink) => sink.messageCreated?.(message, conversation));
  }

  /** Messages' statuses advanced (only the ones that changed). Never rejects. */
  async statusChanged(messages: Message[], conversation: Conversation): Promise<void> {
    if (messages.length === 0) return;
    const { visitorNs, agentNs } = this.deps;
    const room = visitorNs.to(conversationRoom(conversation.id));
    const agents = agentNs.to(AGENTS_ROOM);
    for (const message of messages) {
      const change = toStatusChange(message);
      room.emit('message:status', change);
      agents.emit('message:status', change);
    }
    await this.announceConversation(conversation);
    await this.callSinks('statusChanged', (sink) => sink.statusChanged?.(messages, conversation));
  }

  /** A conversation's summary changed (read state, state, presence): tell the agents. Never rejects. */
  async announceConversation(conversation: Conversation): Promise<void> {
    try {
      const online = await isVisitorOnline(this.deps.visitorNs, conversation.id);
      this.deps.agentNs.to(AGENTS_ROOM).emit('conversation:updated', toSummary(conversation, online));
    } catch (error) {
      this.deps.logger.error({ err: error, conversationId: conversation.id }, 'fanout: conversation update failed');
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
    await Promise.all(
      [...this.sinks].map(async (sink) => {
        try {
          await call(sink);
        } catch (error) {
          this.deps.logger.error({ err: error, sink: sink.name }, `fanout: sink ${what} failed`);
        }
      }),
    );
  }
}
