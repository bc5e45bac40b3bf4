/** The inbox column: open/all filter, search, and the live list of conversations. */
import { LitElement, html, nothing } from 'lit';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import type { TypingEvent } from '../../protocol/events.ts';
import { formatDay, formatTime, dayKey } from '../../widget/ui/format-time.ts';
import { baseStyles } from './shared.styles.ts';
import { inboxStyles } from './console-inbox.styles.ts';
import { emit } from '../events.ts';
import { bubbleLabels, channelLabels, hueClass, initials } from '../labels.ts';
import type { AssigneeView, InboxFilter } from '../state/inbox.ts';
import { ListKeyboardController } from '../controllers/list-keyboard-controller.ts';
import { attachmentsSummary } from '../../widget/ui/attachments-summary.ts';

const searchIcon = html`<svg width="16" height="16" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><circle cx="9" cy="9" r="6" fill="none" stroke="currentColor" stroke-width="2"/><path d="m14 14 4 4" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>`;

function activityLabel(iso: string, locale: string): string {
  return dayKey(iso) === dayKey(new Date().toISOString()) ? formatTime(iso, locale) : formatDay(iso, locale);
}

/**
 * The conversation list. Up/Down arrows move between conversations.
 * @fires console-select - `{conversationId}` when a conversation is chosen.
 * @fires console-filter - `{filter}` when Open/All changes.
 * @fires console-assignee-filter - `{view}` when Mine/Unassigned/All changes.
 * @fires console-search - `{query}` on each edit of the search field.
 */
export class ConsoleInbox extends LitElement {
  static override styles = [baseStyles, inboxStyles];
  static override properties = {
    conversations: { attribute: false },
    typing: { attribute: false },
    selectedId: { attribute: false },
    filter: { attribute: false },
    assignee: { attribute: false },
    agentNames: { attribute: false },
    query: { attribute: false },
    loading: { type: Boolean },
    error: { type: String },
    locale: { type: String },
  };

  declare conversations: readonly ConversationSummary[];
  declare typing: ReadonlyMap<string, TypingEvent>;
  declare selectedId: string | undefined;
  declare filter: InboxFilter;
  declare assignee: AssigneeView;
  /** Display name of an assignee by agent id. */
  declare agentNames: (agentId: string) => string;
  declare query: string;
  declare loading: boolean;
  declare error: string;
  declare locale: string;

  private readonly keys = new ListKeyboardController(
    this,
    () => [...this.renderRoot.querySelectorAll<HTMLElement>('.item')],
    () => this.shadowRoot?.activeElement,
  );

  constructor() {
    super();
    this.conversations = [];
    this.typing = new Map();
    this.selectedId = undefined;
    this.filter = 'open';
    this.assignee = 'all';
    this.agentNames = () => '';
    this.query = '';
    this.loading = false;
    this.error = '';
    this.locale = '';
  }

  /** Moves focus to the search field (after sign-in, so keyboard users start in the inbox, not on the page). */
  async focusSearch(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLInputElement>('input[type="search"]')?.focus();
  }

  override render() {
    const unreadTotal = this.conversations.reduce((n, c) => n + c.unread, 0);
    return html`<header>
        <div class="title-row">
          <h2 id="inbox-title">Inbox</h2>
          <div class="segmented" role="group" aria-label="Show conversations">
            ${(['open', 'all'] as const).map(
              (f) =>
                html`<button type="button" aria-pressed=${this.filter === f ? 'true' : 'false'} @click=${() => emit(this, 'console-filter', { filter: f })}>
                  ${f === 'open' ? 'Open' : 'All'}
                </button>`,
            )}
          </div>
        </div>
        <div class="segmented segmented--assignee" role="group" aria-label="Whose conversations">
          ${(['mine', 'unassigned', 'all'] as const).map(
            (view) =>
              html`<button type="button" aria-pressed=${this.assignee === view ? 'true' : 'false'} @click=${() => emit(this, 'console-assignee-filter', { view })}>
                ${view === 'mine' ? 'Mine' : view === 'unassigned' ? 'Unassigned' : 'Everyone'}
              </button>`,
          )}
        </div>
        <div class="search" role="search">
          ${searchIcon}
          <input
            type="search"
            aria-label="Search conversations"
            placeholder="Search names and messages"
            .value=${this.query}
            @input=${(event: InputEvent) => emit(this, 'console-search', { query: (event.target as HTMLInputElement).value })}
          />
        </div>
      </header>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <span class="visually-hidden" aria-live="polite">${unreadTotal ? `${unreadTotal} unread messages` : ''}</span>
      ${this.conversations.length === 0
        ? html`<div class="state" role="status">
            ${this.loading
              ? 'Loading conversations…'
              : this.query
                ? html`<strong>No matches</strong>No conversation mentions “${this.query}”.`
                : html`<strong>No conversations yet</strong>When a visitor writes, it shows up here.`}
          </div>`
        : html`<ul aria-labelledby="inbox-title" @keydown=${this.keys.onKeyDown}>
            ${this.conversations.map((c) => this.renderItem(c))}
          </ul>`}`;
  }

  private renderItem(c: ConversationSummary) {
    const typing = this.typing.get(c.id);
    const last = c.lastMessage;
    const failed = !typing && last?.role === 'agent' && last.status === 'failed';
    const preview = typing
      ? 'typing…'
      : last
        ? `${failed ? `${bubbleLabels.failedPrefix} ` : last.role === 'agent' ? 'Agent: ' : ''}${last.text || (last.attachments && last.attachmentName ? attachmentsSummary(last.attachments, last.attachmentName) : '')}`
        : 'No messages yet';
    const selected = c.id === this.selectedId;
    // No aria-label: the name is the visible text in reading order (WCAG 2.5.3), with what only the avatar's dot or
    // the colours show spoken through visually hidden words.
    const hidden = (text: string) => html`<span class="visually-hidden">${text}</span>`;
    return html`<li>
      <button
        type="button"
        class="item ${c.unread > 0 ? 'item--unread' : ''}"
        aria-current=${selected ? 'true' : 'false'}
        data-conversation-id=${c.id}
        @click=${() => emit(this, 'console-select', { conversationId: c.id })}
      >
        <span class="avatar ${hueClass(c.id)}" aria-hidden="true">
          ${initials(c.name)}${c.visitorOnline ? html`<span class="avatar__dot"></span>` : nothing}
        </span>
        <span class="item__body">
          <span class="item__top">
            <span class="item__name" dir="auto">${c.name}</span>
            ${hidden(`${c.visitorOnline ? ', online' : ''}${c.state === 'closed' ? ', closed' : ''}, `)}
            <span class="badge badge--${c.channel}">${channelLabels[c.channel]}</span>
            ${hidden(', ')}
            <time class="item__time" datetime=${c.lastActivityAt}>${activityLabel(c.lastActivityAt, this.locale)}</time>
            ${hidden(', ')}
          </span>
          <span class="item__bottom">
            ${c.assigneeId !== undefined ? html`<span class="item__assignee">${hidden('assigned to ')}${this.agentNames(c.assigneeId)}</span>${hidden(', ')}` : nothing}
            <span class="item__preview ${typing ? 'item__preview--typing' : ''} ${failed ? 'item__preview--failed' : ''}" dir="auto">${preview}</span>
            ${c.unread > 0 ? html`${hidden(', ')}<span class="unread">${c.unread > 99 ? '99+' : c.unread}</span>${hidden(' unread')}` : nothing}
          </span>
        </span>
      </button>
    </li>`;
  }
}

customElements.define('console-inbox', ConsoleInbox);

declare global {
  interface HTMLElementTagNameMap {
    'console-inbox': ConsoleInbox;
  }
}
