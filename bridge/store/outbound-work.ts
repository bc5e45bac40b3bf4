/** The outbound work registered with a store, asked by both engines inside a change's atomic step. */
import type { Logger } from '../logger.ts';
import type { Message } from '../../protocol/message.ts';
import type { Conversation } from '../../protocol/conversation.ts';
import type { OutboundItem, OutboundWork } from './store.ts';

/** Every registered `OutboundWork`, asked together; a deriver that throws is logged and queues nothing. */
export class OutboundWorkRegistry {
  private readonly works = new Set<OutboundWork>();

  constructor(private readonly logger: Logger) {}

  add(work: OutboundWork): () => void {
    this.works.add(work);
    return () => this.works.delete(work);
  }

  messageCreated(message: Message, conversation: Conversation): OutboundItem[] {
    if (this.works.size === 0) return [];
    return this.collect((work) => work.messageCreated?.(message, conversation));
  }

  statusChanged(messages: Message[], conversation: Conversation): OutboundItem[] {
    if (this.works.size === 0 || messages.length === 0) return [];
    return this.collect((work) => work.statusChanged?.(messages, conversation));
  }

  private collect(derive: (work: OutboundWork) => OutboundItem[] | undefined): OutboundItem[] {
    const items: OutboundItem[] = [];
    for (const work of this.works) {
      try {
        items.push(...(derive(work) ?? []));
      } catch (error) {
        // A bug in a deriver must not refuse a chat message; the missing work is logged loudly instead.
        this.logger.error({ err: error }, 'store: deriving outbound work failed; nothing queued for this change');
      }
    }
    return items;
  }
}
