/**
 * The inbox: lists conversations (re-listed after every connect), keeps them live from `conversation:updated`,
 * `message:new`, presence and typing events, and applies the open/all filter and the text search.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import type { TypingEvent } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import { TYPING_TTL_MS } from '../../protocol/limits.ts';
import type { AgentConnection } from '../agent-connection.ts';
import type { ConnectionUser } from './connection-controller.ts';
import { type AssigneeView, type InboxFilter, mergeListed, patchConversation, removeConversation, totalUnread, upsertConversation } from '../state/inbox.ts';

/** How long the search waits after the last keystroke before asking the bridge. */
const SEARCH_DEBOUNCE_MS = 250;
/** Conversations listed at most (the bridge's cap). */
const LIST_LIMIT = 500;

/** Inbox state and live updates for the console. */
export class InboxController implements ReactiveController, ConnectionUser {
  conversations: ConversationSummary[] = [];
  filter: InboxFilter = 'open';
  /** Mine / Unassigned / All. */
  assignee: AssigneeView = 'all';
  query = '';
  /** True until the first list after a connect arrives. */
  loading = true;
  error = '';
  /** Who is typing, per conversation (visitors and other agents). */
  typing = new Map<string, TypingEvent>();
  private connection: AgentConnection | undefined;
  private readonly cleanups: (() => void)[] = [];
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  private listGeneration = 0;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: {
      /** A visitor wrote: the attention controller may chime, the thread may mark it read. */
      onVisitorMessage: (message: Message) => void;
      /** The conversation shown right now (its visitor messages get `read`, not `delivered`). */
      openConversationId: () => string | undefined;
      /** A conversation was erased (by any agent, its visitor or retention): the thread must not show it. */
      onErased: (conversationId: string) => void;
      /** The signed-in agent (whose conversations "Mine" lists). */
      agentId: () => string | undefined;
    },
  ) {
    host.addController(this);
  }

  /** Unread visitor messages across the listed conversations. */
  get unreadTotal(): number {
    return totalUnread(this.conversations);
  }

  /** Looks up a listed conversation. */
  find(id: string): ConversationSummary | undefined {
    return this.conversations.find((c) => c.id === id);
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    this.detach();
  }

  attach(connection: AgentConnection): void {
    this.connection = connection;
    this.loading = true;
    const on: AgentConnection['on'] = (event, listener) => {
      const off = connection.on(event, listener);
      this.cleanups.push(off);
      return off;
    };
    on('conversation:updated', (summary) => {
      this.conversations = this.withQuery(upsertConversation(this.conversations, summary, this.filter, { view: this.assignee, agentId: this.options.agentId() }),
        summary,
      );
      this.host.requestUpdate();
    });
    on('message:new', (message) => {
      if (message.author.role !== 'visitor') return;
      this.clearTyping(message.conversationId);
      // Any agent console that got the message has delivered it; the thread controller also reads it when it is on
      // screen (a later `delivered` after `read` changes nothing: statuses only move up).
      connection.receipt(message.conversationId, message.seq, 'delivered');
      this.options.onVisitorMessage(message);
      this.host.requestUpdate();
    });
    on('conversation:erased', ({ conversationId }) => {
      this.conversations = removeConversation(this.conversations, conversationId);
      this.clearTyping(conversationId);
      this.options.onErased(conversationId);
      this.host.requestUpdate();
    });
    on('visitor:presence', ({ conversationId, online }) => {
      this.conversations = patchConversation(this.conversations, conversationId, { visitorOnline: online });
      if (!online) this.clearTyping(conversationId);
      this.host.requestUpdate();
    });
    on('typing', (event) => {
      if (event.role !== 'visitor') return;
      if (event.typing) this.setTyping(event);
      else this.clearTyping(event.conversationId);
      this.host.requestUpdate();
    });
  }

  detach(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.connection = undefined;
    // Another agent may sign in next in this tab: nothing of this session's list may show.
    this.conversations = [];
    this.loading = true;
    this.listGeneration++;
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
    this.typing.clear();
    clearTimeout(this.searchTimer);
  }

  connected(): void {
    void this.refresh();
  }

  /** Shows open or all conversations. */
  setFilter(filter: InboxFilter): void {
    if (filter === this.filter) return;
    this.filter = filter;
    void this.refresh();
  }

  /** Shows the agent's own, the unassigned or everyone's conversations. */
  setAssignee(view: AssigneeView): void {
    if (view === this.assignee) return;
    this.assignee = view;
    this.conversations = [];
    this.loading = true;
    this.host.requestUpdate();
    void this.refresh();
  }

  /** Searches names and message texts (debounced). */
  setQuery(query: string): void {
    this.query = query;
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => void this.refresh(), SEARCH_DEBOUNCE_MS);
    this.host.requestUpdate();
  }

  /** Re-lists conversations from the bridge. */
  async refresh(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    // A slower earlier list (another filter, a shorter query) must not overwrite a newer one.
    const generation = ++this.listGeneration;
    const query = this.query.trim();
    try {
      const list = await connection.listConversations({
        filter: this.filter,
        ...(this.assignee !== 'all' ? { assignee: this.assignee } : {}),
        limit: LIST_LIMIT,
        ...(query ? { query } : {}),
      });
      if (generation !== this.listGeneration) return;
      this.conversations = mergeListed(this.conversations, list);
      this.error = '';
      this.acknowledgeDelivery(connection);
    } catch (error) {
      if (generation !== this.listGeneration) return;
      this.error = error instanceof Error && error.message ? error.message : 'Could not load conversations.';
    } finally {
      if (generation === this.listGeneration) {
        this.loading = false;
        this.host.requestUpdate();
      }
    }
  }

  // Visitor messages that arrived while no console was connected are delivered now that one lists them.
  private acknowledgeDelivery(connection: AgentConnection): void {
    const openId = this.options.openConversationId();
    for (const c of this.conversations) {
      if (c.unread > 0 && c.lastMessage?.role === 'visitor' && c.id !== openId) {
        connection.receipt(c.id, c.lastMessage.seq, 'delivered');
      }
    }
  }

  // With a search active, a conversation that changed may or may not match any more: ask the bridge again.
  private withQuery(list: ConversationSummary[], changed: ConversationSummary): ConversationSummary[] {
    if (this.query.trim() && !this.find(changed.id)) {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => void this.refresh(), SEARCH_DEBOUNCE_MS);
      return this.conversations;
    }
    return list;
  }

  private setTyping(event: TypingEvent): void {
    this.typing.set(event.conversationId, event);
    clearTimeout(this.typingTimers.get(event.conversationId));
    this.typingTimers.set(
      event.conversationId,
      setTimeout(() => {
        this.clearTyping(event.conversationId);
        this.host.requestUpdate();
      }, TYPING_TTL_MS),
    );
  }

  private clearTyping(conversationId: string): void {
    this.typing.delete(conversationId);
    clearTimeout(this.typingTimers.get(conversationId));
    this.typingTimers.delete(conversationId);
  }
}
