/** The open conversation: header with presence and Close/Reopen, the message log (older pages on scroll), typing, composer. */
import type { SavedReply, TeamMember } from '../../protocol/assignment.ts';
import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { keyed } from 'lit/directives/keyed.js';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import { MAX_ATTACHMENTS_PER_MESSAGE, WHATSAPP_CAPTION_LENGTH, WHATSAPP_MAX_ATTACHMENTS } from '../../protocol/attachment.ts';
import type { TypingEvent } from '../../protocol/events.ts';
import type { LocalMessage } from '../../protocol/message.ts';
import { renderMessageBubble } from '../../widget/ui/message-bubble.ts';
import { bubbleStyles } from '../../widget/ui/message-list.styles.ts';
import { dayKey, formatDay } from '../../widget/ui/format-time.ts';
import { baseStyles } from './shared.styles.ts';
import { threadStyles } from './console-thread.styles.ts';
import { emit } from '../events.ts';
import { bubbleLabels, channelLabels, hueClass, initials } from '../labels.ts';
import { ScrollAnchorController } from '../../widget/controllers/scroll-anchor-controller.ts';
import { shownStatus } from '../state/thread.ts';
import './console-composer.ts';
import { attachmentLabels } from '../../widget/attachments/attachment-labels.ts';
import { AttachmentViewer, renderAttachmentList } from '../../widget/attachments/attachment-view.ts';
import { attachmentStyles } from '../../widget/attachments/attachment.styles.ts';
import { renderMessageText } from '../../widget/attachments/message-text.ts';
import { SignedLinks } from '../../widget/attachments/signed-links.ts';

const backIcon = html`<svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path d="M12.5 4 6.5 10l6 6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const emptyIcon = html`<svg width="64" height="64" viewBox="0 0 64 64" aria-hidden="true" focusable="false"><rect x="6" y="10" width="40" height="28" rx="8" fill="currentColor"/><rect x="20" y="24" width="38" height="26" rx="8" fill="currentColor" opacity=".55"/></svg>`;

/**
 * Conversation view. Set `narrow` on small screens to show a Back button.
 * @fires console-load-older - when the top of the log is near and older messages exist.
 * @fires console-retry - `{message}` from a failed reply's Retry button.
 * @fires console-back - from the Back button.
 * @fires console-state - `{state}` from the Close / Reopen button.
 * @fires console-assign - `{assigneeId}` (`null`: unassigned) from the assignee picker.
 */
export class ConsoleThread extends LitElement {
  static override styles = [baseStyles, bubbleStyles, attachmentStyles, threadStyles];
  static override properties = {
    summary: { attribute: false },
    messages: { attribute: false },
    typing: { attribute: false },
    hasMore: { type: Boolean },
    loading: { type: Boolean },
    loadingOlder: { type: Boolean },
    changingState: { type: Boolean },
    members: { attribute: false },
    savedReplies: { attribute: false },
    error: { type: String },
    announcement: { type: String },
    locale: { type: String },
    narrow: { type: Boolean, reflect: true },
    serverUrl: { attribute: false },
    token: { attribute: false },
    maxUploadBytes: { attribute: false },
  };

  declare summary: ConversationSummary | undefined;
  declare messages: readonly LocalMessage[];
  declare typing: readonly TypingEvent[];
  declare hasMore: boolean;
  declare loading: boolean;
  declare loadingOlder: boolean;
  /** A close or reopen is on its way: the button waits for the answer. */
  declare changingState: boolean;
  /** Teammates the conversation can be assigned to. */
  declare members: readonly TeamMember[];
  /** Saved replies the composer offers after `/`. */
  declare savedReplies: readonly SavedReply[];
  declare error: string;
  /** New incoming message, read out by screen readers (the log itself stays quiet when older pages load). */
  declare announcement: string;
  declare locale: string;
  declare narrow: boolean;
  /** The bridge and the agent's token: uploads and signed links to attachments. */
  declare serverUrl: string;
  declare token: string | undefined;
  /** ATTACHMENT_MAX_BYTES as the bridge told it: the composer refuses larger files without uploading them. */
  declare maxUploadBytes: number | undefined;

  private readonly links = new SignedLinks({ serverUrl: () => this.serverUrl, token: () => this.token, changed: () => this.requestUpdate() });
  private readonly viewer = new AttachmentViewer(this);

  private readonly scrollAnchor = new ScrollAnchorController(this, {
    scroller: () => this.renderRoot?.querySelector<HTMLElement>('.messages'),
    snapshot: () => {
      const last = this.messages.at(-1);
      return {
        conversationId: this.summary?.id,
        firstKey: this.messages[0]?.clientId,
        lastKey: last?.clientId,
        lastIsOwn: last?.author.role === 'agent' && last.seq === undefined,
        total: this.messages.length,
        hasMore: this.hasMore && !this.loadingOlder && !this.loading,
      };
    },
    loadOlder: () => emit(this, 'console-load-older', {}),
    // Distance from an edge, in px, that still counts as "at" that edge.
    bottomPx: 120,
    topPx: 120,
  });

  constructor() {
    super();
    this.summary = undefined;
    this.messages = [];
    this.typing = [];
    this.hasMore = false;
    this.loading = false;
    this.loadingOlder = false;
    this.changingState = false;
    this.members = [];
    this.savedReplies = [];
    this.error = '';
    this.announcement = '';
    this.locale = '';
    this.narrow = false;
    this.serverUrl = '';
    this.token = undefined;
    this.maxUploadBytes = undefined;
  }

  /** Moves focus to the reply box, once it is rendered. */
  async focusComposer(): Promise<void> {
    await this.updateComplete;
    const composer = this.renderRoot.querySelector('console-composer');
    await composer?.updateComplete;
    composer?.focus();
  }

  override render() {
    const c = this.summary;
    if (!c) {
      return html`<div class="empty">
        ${emptyIcon}
        <strong>No conversation selected</strong>
        <span>Pick a conversation from the inbox to read and reply.</span>
      </div>`;
    }
    return html`<header class="head">
        <button class="back" type="button" aria-label="Back to inbox" @click=${() => emit(this, 'console-back', {})}>${backIcon}</button>
        <span class="avatar ${hueClass(c.id)}" aria-hidden="true">
          ${initials(c.name)}${c.visitorOnline ? html`<span class="avatar__dot"></span>` : nothing}
        </span>
        <div class="head__text">
          <h2 class="head__name" id="thread-title"><span>${c.name}</span><span class="badge badge--${c.channel}">${channelLabels[c.channel]}</span></h2>
          <div class="head__presence" data-presence=${c.visitorOnline ? 'online' : 'offline'}>
            ${c.channel === 'web'
              ? html`<span class="presence-dot ${c.visitorOnline ? 'presence-dot--online' : ''}" aria-hidden="true"></span>
                  ${c.visitorOnline ? 'Online now' : 'Offline'}`
              : c.externalUserId
                ? html`<span class="ext-id">${c.channel === 'whatsapp' ? `+${c.externalUserId}` : c.externalUserId}</span>`
                : channelLabels[c.channel]}
            ${c.state === 'closed' ? ' · Closed' : ''}
          </div>
          ${c.visitorEmail
            ? html`<div class="head__email">Reply by e-mail: <a class="visitor-email" href="mailto:${c.visitorEmail}">${c.visitorEmail}</a></div>`
            : nothing}
        </div>
        ${this.renderAssignee(c)} ${this.renderStateButton(c)}
      </header>
      <div
        class="messages"
        role="log"
        aria-live="off"
        aria-labelledby="thread-title"
        tabindex="0"
        @scroll=${() => this.scrollAnchor.onScroll()}
      >
        ${this.loading
          ? html`<p class="edge" role="status">Loading messages…</p>`
          : this.loadingOlder
            ? html`<p class="edge" role="status">Loading earlier messages…</p>`
            : !this.hasMore
              ? html`<p class="edge">${this.messages.length ? 'Start of the conversation' : 'No messages yet'}</p>`
              : nothing}
        ${repeat(
          this.messages,
          (m) => m.clientId,
          (m, i) => this.renderMessage(m, this.messages[i - 1]),
        )}
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <div class="typing" aria-live="polite">${this.renderTyping()}</div>
      <div class="visually-hidden" aria-live="polite" data-announcement>${this.announcement}</div>
      ${this.viewer.render({ links: this.links, labels: attachmentLabels })}
      ${keyed(
        c.id,
        html`<console-composer
          label="Reply to ${c.name}"
          .serverUrl=${this.serverUrl}
          .token=${this.token}
          .maxUploadBytes=${this.maxUploadBytes}
          .conversationId=${c.id}
          ?canAttach=${c.channel === 'web' || c.channel === 'whatsapp'}
          .maxAttachments=${c.channel === 'whatsapp' ? WHATSAPP_MAX_ATTACHMENTS : MAX_ATTACHMENTS_PER_MESSAGE}
          .maxCaptionLength=${c.channel === 'whatsapp' ? WHATSAPP_CAPTION_LENGTH : undefined}
          .savedReplies=${this.savedReplies}
        ></console-composer>`,
      )}`;
  }

  private renderAssignee(c: ConversationSummary): TemplateResult {
    const listed = c.assigneeId === undefined || this.members.some((m) => m.id === c.assigneeId);
    return html`<label class="assignee">
      <span class="visually-hidden">Assignee</span>
      <select
        class="assignee__select"
        .value=${c.assigneeId ?? ''}
        @change=${(event: Event) => {
          const value = (event.target as HTMLSelectElement).value;
          emit(this, 'console-assign', { assigneeId: value === '' ? null : value });
        }}
      >
        <option value="" ?selected=${c.assigneeId === undefined}>Unassigned</option>
        ${this.members.map((m) => html`<option value=${m.id} ?selected=${m.id === c.assigneeId}>${m.displayName}</option>`)}
        ${listed ? nothing : html`<option value=${c.assigneeId!} selected>Former teammate</option>`}
      </select>
    </label>`;
  }

  private renderStateButton(c: ConversationSummary): TemplateResult {
    const closed = c.state === 'closed';
    // Visible text stays short for the header; the accessible name says what is closed. aria-disabled, not disabled,
    // while the answer is on its way: a disabled button drops keyboard focus to the page.
    return html`<button
      class="btn btn--ghost state-btn"
      type="button"
      data-state-action=${closed ? 'reopen' : 'close'}
      aria-label=${closed ? 'Reopen conversation' : 'Close conversation'}
      aria-disabled=${this.changingState ? 'true' : 'false'}
      @click=${() => {
        if (!this.changingState) emit(this, 'console-state', { state: closed ? 'open' : 'closed' });
      }}
    >
      ${closed ? 'Reopen' : 'Close'}
    </button>`;
  }

  private renderMessage(m: LocalMessage, prev: LocalMessage | undefined): TemplateResult {
    const newDay = !prev || dayKey(prev.createdAt) !== dayKey(m.createdAt);
    const own = m.author.role === 'agent';
    const sameAuthor = prev && !newDay && prev.author.role === m.author.role && prev.author.agentId === m.author.agentId;
    return html`${newDay ? html`<div class="day"><span>${formatDay(m.createdAt, this.locale)}</span></div>` : nothing}
    ${renderMessageBubble(this.withShownStatus(m), {
      own,
      locale: this.locale,
      labels: bubbleLabels,
      showAuthor: own && !sameAuthor,
      onRetry: (message) => emit(this, 'console-retry', { message }),
      renderBody: (message) =>
        html`${message.text ? html`<span class="msg__text" dir="auto">${renderMessageText(message.text)}</span>` : nothing}${renderAttachmentList(
          message.attachments,
          { links: this.links, labels: attachmentLabels, locale: this.locale, viewer: this.viewer },
        )}`,
    })}`;
  }

  private withShownStatus(m: LocalMessage): LocalMessage {
    const status = shownStatus(m, this.summary?.channel);
    return status === m.status ? m : { ...m, status };
  }

  private renderTyping(): TemplateResult | typeof nothing {
    if (!this.typing.length) return nothing;
    const names = this.typing.map((t) => (t.role === 'visitor' ? (this.summary?.name ?? 'Visitor') : (t.name ?? 'An agent')));
    const text = names.length === 1 ? `${names[0]} is typing…` : `${names.join(' and ')} are typing…`;
    return html`<span class="dots" aria-hidden="true"><i></i><i></i><i></i></span><span>${text}</span>`;
  }
}

customElements.define('console-thread', ConsoleThread);

declare global {
  interface HTMLElementTagNameMap {
    'console-thread': ConsoleThread;
  }
}
