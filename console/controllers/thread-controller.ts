/**
 * The open conversation: loads the latest page and older pages on demand, sends replies optimistically
 * (reconciled by clientId, resent with the same clientId after a reconnect), applies pushed statuses,
 * syncs by rev after every reconnect, marks visitor messages read while the tab is visible, and carries
 * typing indicators both ways.
 */
import type { DraftMessage } from '../../widget/attachments/attachment-draft.ts';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { ConversationState, ConversationSummary } from '../../protocol/conversation.ts';
import type { AgentPublic, TypingEvent } from '../../protocol/events.ts';
import type { LocalMessage } from '../../protocol/message.ts';
import { TYPING_THROTTLE_MS, TYPING_TTL_MS } from '../../protocol/limits.ts';
import { hasVisibleText } from '../../protocol/text.ts';
import { type AgentConnection, RequestError } from '../agent-connection.ts';
import { ThreadState } from '../state/thread.ts';
import type { ConnectionUser } from './connection-controller.ts';

/** Messages per history page. */
export const PAGE_SIZE = 30;
/** Sync pages are looped at most this often per reconnect, a bound against a bridge that always says hasMore. */
const MAX_SYNC_ROUNDS = 1000;
/** Pause before resending a reply whose ack never came while the socket stayed connected. */
const RESEND_AFTER_TIMEOUT_MS = 2000;
/** A typing indicator the agent stops feeding ends after this idle time. */
const TYPING_IDLE_MS = 3000;

function newClientId(): string {
  return `console-${crypto.randomUUID()}`;
}

/** State and actions of the conversation the agent has open. */
export class ThreadController implements ReactiveController, ConnectionUser {
  thread: ThreadState | undefined;
  /** True while the first page of the open conversation loads. */
  loading = false;
  /** True while a close or reopen of the open conversation waits for the bridge. */
  changingState = false;
  loadingOlder = false;
  error = '';
  /** The open conversation's summary, kept live even when the inbox filter hides it. */
  summary: ConversationSummary | undefined;
  /** The latest incoming message of the open conversation, for the screen reader's live region. */
  announcement = '';
  /** Who else is typing in the open conversation (the visitor, other agents). */
  typing: TypingEvent[] = [];
  private connection: AgentConnection | undefined;
  private readonly cleanups: (() => void)[] = [];
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readSentUpTo = 0;
  private ownTypingSentAt = 0;
  private ownTypingTimer: ReturnType<typeof setTimeout> | undefined;
  private syncing = false;
  /** A live event showed a gap while a sync was under way: that sync goes round once more. */
  private gapSeen = false;
  /** Conversations with replies still to be confirmed, including ones the agent has since left. */
  private readonly unconfirmed = new Set<ThreadState>();

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: { agent: () => Pick<AgentPublic, 'id' | 'name'> | undefined },
  ) {
    host.addController(this);
  }

  /** Id of the open conversation. */
  get conversationId(): string | undefined {
    return this.thread?.conversationId;
  }

  hostConnected(): void {
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('focus', this.onVisibility);
  }

  hostDisconnected(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('focus', this.onVisibility);
    this.detach();
  }

  attach(connection: AgentConnection): void {
    this.connection = connection;
    const on: AgentConnection['on'] = (event, listener) => {
      const off = connection.on(event, listener);
      this.cleanups.push(off);
      return off;
    };
    on('message:new', (message) => {
      const thread = this.thread;
      if (!thread || message.conversationId !== thread.conversationId) return;
      const added = thread.upsert(message);
      this.followRev(thread, message.rev);
      if (added) {
        if (message.author.role !== 'agent' || message.author.agentId !== this.options.agent()?.id) {
          const who = message.author.role === 'visitor' ? (this.summary?.name ?? 'Visitor') : (message.author.name ?? 'Agent');
          this.announcement = `${who}: ${message.text}`;
        }
        // A message ends its author's typing indicator; replies carry the agent id, typing events the name.
        this.clearTypingWhere((t) => t.role === message.author.role);
        this.markRead();
        this.host.requestUpdate();
      }
    });
    on('conversation:updated', (summary) => {
      if (summary.id !== this.thread?.conversationId) return;
      this.summary = summary;
      this.host.requestUpdate();
    });
    on('visitor:presence', ({ conversationId, online }) => {
      if (conversationId !== this.thread?.conversationId || !this.summary) return;
      this.summary = { ...this.summary, visitorOnline: online };
      if (!online) this.clearTyping('visitor');
      this.host.requestUpdate();
    });
    on('message:status', (change) => {
      const thread = this.thread;
      if (!thread || change.conversationId !== thread.conversationId) return;
      if (thread.applyStatus(change)) this.host.requestUpdate();
      this.followRev(thread, change.rev);
    });
    on('typing', (event) => {
      if (!this.thread || event.conversationId !== this.thread.conversationId) return;
      const key = event.role === 'visitor' ? 'visitor' : `agent:${event.name ?? ''}`;
      // The bridge does not echo an agent's own typing back, but another tab of the same agent may.
      if (event.role === 'agent' && event.name === this.options.agent()?.name) return;
      if (event.typing) this.setTyping(key, event);
      else this.clearTyping(key);
      this.host.requestUpdate();
    });
  }

  detach(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.connection = undefined;
    // A new connection belongs to another session (sign-out, another agent): nothing of this one is resent.
    this.unconfirmed.clear();
    this.clearAllTyping();
  }

  connected(): void {
    if (this.thread) void this.catchUp(this.thread);
    // Replies written in a conversation the agent left while offline still go out, with their clientId.
    for (const thread of this.unconfirmed) {
      if (thread === this.thread) continue;
      const pending = thread.pending();
      if (pending.length === 0) this.unconfirmed.delete(thread);
      for (const message of pending) void this.deliver(thread, message);
    }
  }

  /** Opens a conversation (its latest page) and marks it read. */
  async open(conversationId: string, summary: ConversationSummary | undefined): Promise<void> {
    if (this.thread?.conversationId === conversationId) return;
    this.summary = summary;
    this.stopOwnTyping();
    this.clearAllTyping();
    const thread = new ThreadState(conversationId);
    this.thread = thread;
    this.readSentUpTo = 0;
    this.announcement = '';
    this.error = '';
    this.loading = true;
    this.host.requestUpdate();
    await this.loadLatest(thread);
  }

  /** Closes the open conversation (narrow layouts go back to the inbox). */
  close(): void {
    this.stopOwnTyping();
    this.clearAllTyping();
    this.thread = undefined;
    this.summary = undefined;
    this.host.requestUpdate();
  }

  /** Closes or reopens the open conversation; every agent's inbox hears it from the bridge. */
  async setState(state: ConversationState): Promise<void> {
    const thread = this.thread;
    const connection = this.connection;
    if (!thread || !connection || this.changingState) return;
    this.changingState = true;
    this.host.requestUpdate();
    try {
      const summary = await connection.setConversationState(thread.conversationId, state);
      // The broadcast may have come first with a newer copy; the ack only fills in when nothing newer is shown.
      if (this.thread === thread && (!this.summary || this.summary.rev <= summary.rev)) this.summary = summary;
      if (this.thread === thread) this.error = '';
    } catch (error) {
      if (this.thread === thread) this.error = describe(error, state === 'closed' ? 'Could not close.' : 'Could not reopen.');
    } finally {
      this.changingState = false;
      this.host.requestUpdate();
    }
  }

  /** Loads the page before the oldest loaded message. */
  async loadOlder(): Promise<void> {
    const thread = this.thread;
    const connection = this.connection;
    if (!thread || !connection || this.loadingOlder || !thread.hasMore) return;
    const before = thread.oldestSeq;
    if (before === undefined) return;
    this.loadingOlder = true;
    this.host.requestUpdate();
    try {
      const page = await connection.history(thread.conversationId, before, PAGE_SIZE);
      if (this.thread === thread) thread.addPage(page);
    } catch (error) {
      if (this.thread === thread) this.error = describe(error, 'Could not load older messages.');
    } finally {
      this.loadingOlder = false;
      this.host.requestUpdate();
    }
  }

  /** Sends a reply optimistically (with uploaded files, under the clientId they were uploaded with). */
  send(text: string, files?: DraftMessage): void {
    const thread = this.thread;
    const agent = this.options.agent();
    if (!thread || !agent || (!hasVisibleText(text) && !files)) return;
    this.stopOwnTyping();
    const body = hasVisibleText(text) ? text : '';
    const author = { role: 'agent' as const, agentId: agent.id, name: agent.name };
    const message = thread.addPending(files?.clientId ?? newClientId(), body, author, new Date().toISOString(), files?.attachments);
    this.unconfirmed.add(thread);
    this.host.requestUpdate();
    void this.deliver(thread, message);
  }

  /** Retries a failed reply: a stored one whose external delivery failed via `message:retry`, else a resend. */
  retry(message: LocalMessage): void {
    const thread = this.thread;
    const connection = this.connection;
    if (!thread || !connection) return;
    if (message.id && message.seq !== undefined) {
      const before = thread.markRetrying(message.clientId);
      if (!before) return;
      this.host.requestUpdate();
      connection
        .retry(thread.conversationId, message.id)
        .then((stored) => {
          // The ack returns the message as it is now (still failed until the channel reports back): only a newer
          // copy replaces the local "retrying" state.
          if (stored.rev > (before.rev ?? 0) && thread.upsert(stored)) this.host.requestUpdate();
        })
        .catch((error: unknown) => {
          thread.restore(before);
          this.error = describe(error, 'Retry failed.');
          this.host.requestUpdate();
        });
      return;
    }
    thread.markSending(message.clientId);
    this.host.requestUpdate();
    const pending = thread.get(message.clientId);
    if (pending) void this.deliver(thread, pending);
  }

  /** The agent typed in the composer: tells the other side, throttled, and stops after a pause. */
  composing(active: boolean): void {
    const connection = this.connection;
    const thread = this.thread;
    if (!connection || !thread) return;
    if (!active) {
      this.stopOwnTyping();
      return;
    }
    const now = Date.now();
    if (now - this.ownTypingSentAt >= TYPING_THROTTLE_MS) {
      this.ownTypingSentAt = now;
      connection.typing(thread.conversationId, true);
    }
    clearTimeout(this.ownTypingTimer);
    this.ownTypingTimer = setTimeout(() => this.stopOwnTyping(), TYPING_IDLE_MS);
  }

  private stopOwnTyping(): void {
    clearTimeout(this.ownTypingTimer);
    this.ownTypingTimer = undefined;
    if (this.ownTypingSentAt && this.thread && this.connection) {
      this.connection.typing(this.thread.conversationId, false);
    }
    this.ownTypingSentAt = 0;
  }

  private async loadLatest(thread: ThreadState): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    try {
      const page = await connection.history(thread.conversationId, undefined, PAGE_SIZE);
      if (this.thread !== thread) return;
      thread.addPage(page);
      this.loading = false;
      this.markRead();
    } catch (error) {
      if (this.thread !== thread) return;
      // Offline: the next connect calls catchUp, which loads the page.
      if (!(error instanceof RequestError && error.code === 'offline')) this.error = describe(error, 'Could not load messages.');
    } finally {
      if (this.thread === thread) this.host.requestUpdate();
    }
  }

  /**
   * Follows a live event's rev; a jump means broadcasts were lost on the way (protocol/rev.ts), so sync the gap now
   * rather than at the next reconnect.
   */
  private followRev(thread: ThreadState, rev: number): void {
    if (this.loading || thread.follow(rev) !== 'gap') return;
    this.gapSeen = true;
    if (!this.syncing && this.connection?.socket.connected) void this.catchUp(thread);
  }

  /** After a (re)connect: the first page if it never loaded, else sync by rev until caught up, then resend pending. */
  private async catchUp(thread: ThreadState): Promise<void> {
    const connection = this.connection;
    if (!connection || this.syncing) return;
    if (this.loading) {
      await this.loadLatest(thread);
    } else {
      this.syncing = true;
      try {
        let rounds = 0;
        do {
          this.gapSeen = false;
          for (; rounds < MAX_SYNC_ROUNDS && this.thread === thread; rounds++) {
            const result = await connection.sync(thread.conversationId, thread.rev);
            for (const message of result.messages) thread.upsert(message);
            thread.rev = Math.max(thread.rev, result.rev);
            if (!result.hasMore) break;
          }
        } while (this.gapSeen && this.thread === thread && rounds < MAX_SYNC_ROUNDS);
        this.error = '';
      } catch (error) {
        this.error = describe(error, 'Could not catch up with the conversation.');
      } finally {
        this.syncing = false;
      }
    }
    if (this.thread !== thread) return;
    for (const message of thread.pending()) void this.deliver(thread, message);
    this.markRead();
    this.host.requestUpdate();
  }

  private async deliver(thread: ThreadState, message: LocalMessage): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    try {
      const stored = await connection.send(thread.conversationId, message.clientId, message.text, message.attachments?.map((a) => a.id));
      if (thread.upsert(stored)) this.host.requestUpdate();
    } catch (error) {
      // Offline or no answer: it stays `sending` and goes out again, same clientId, after the next connect — or,
      // when the socket still looks connected (a request lost in a half-dead connection), after a short pause.
      if (error instanceof RequestError && !error.permanent && error.code !== 'rate_limited') {
        if (error.code === 'timeout') {
          setTimeout(() => {
            const current = thread.get(message.clientId);
            if (this.thread === thread && current?.status === 'sending' && current.seq === undefined && this.connection?.socket.connected) {
              void this.deliver(thread, current);
            }
          }, RESEND_AFTER_TIMEOUT_MS);
        }
        return;
      }
      const code = error instanceof RequestError ? error.code : 'internal';
      thread.markFailed(message.clientId, { code, reason: describe(error, 'Not sent.') });
      this.host.requestUpdate();
    }
  }

  /** Reports the visitor's messages read while the conversation is on screen. */
  private markRead(): void {
    const thread = this.thread;
    const connection = this.connection;
    if (!thread || !connection || document.visibilityState !== 'visible') return;
    const upTo = thread.lastSeqOf('visitor');
    if (upTo <= this.readSentUpTo) return;
    this.readSentUpTo = upTo;
    connection.receipt(thread.conversationId, upTo, 'read');
  }

  private readonly onVisibility = (): void => {
    this.markRead();
  };

  private setTyping(key: string, event: TypingEvent): void {
    this.typing = [...this.typing.filter((t) => typingKey(t) !== key), event];
    clearTimeout(this.typingTimers.get(key));
    this.typingTimers.set(
      key,
      setTimeout(() => {
        this.clearTyping(key);
        this.host.requestUpdate();
      }, TYPING_TTL_MS),
    );
  }

  private clearTyping(key: string): void {
    this.clearTypingWhere((t) => typingKey(t) === key);
  }

  private clearTypingWhere(predicate: (event: TypingEvent) => boolean): void {
    for (const event of this.typing.filter(predicate)) {
      const key = typingKey(event);
      clearTimeout(this.typingTimers.get(key));
      this.typingTimers.delete(key);
    }
    this.typing = this.typing.filter((t) => !predicate(t));
  }

  private clearAllTyping(): void {
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
    this.typing = [];
  }
}

function typingKey(event: TypingEvent): string {
  return event.role === 'visitor' ? 'visitor' : `agent:${event.name ?? ''}`;
}

function describe(error: unknown, fallback: string): string {
  return error instanceof Error && error.message ? error.message : fallback;
}
