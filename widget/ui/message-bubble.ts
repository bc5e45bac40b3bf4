/** One chat message as a bubble (text, time, ticks, failure with Retry), shared by the widget and the console. */
import { html, nothing, type TemplateResult } from 'lit';
import type { LocalMessage } from '../../protocol/message.ts';
import { attachmentsSummary } from './attachments-summary.ts';
import { formatTime } from './format-time.ts';
import { renderStatusTicks, type StatusLabels } from './status-ticks.ts';
import { hueClass, initials } from './initials.ts';

/** Strings a bubble needs: status names, the Retry action, author fallbacks and failure reasons by code. */
export interface BubbleLabels extends StatusLabels {
  retry: string;
  /** Shown before the reason of a failed message ("Not sent:"). */
  failedPrefix: string;
  /** Author name for agent messages without one. */
  agent: string;
  /** Author name for visitor messages. */
  visitor: string;
  /** Author name for system messages. */
  system: string;
  /** Localized failure reasons by failure code; the message's own reason is used otherwise. */
  errors?: Partial<Record<string, string>>;
}

/** Options of {@link renderMessageBubble}. */
export interface BubbleOptions {
  /** True for messages written by whoever looks at the list (visitor in the widget, agents in the console). */
  own: boolean;
  locale: string;
  labels: BubbleLabels;
  showAuthor?: boolean;
  /** An initials avatar before the author's name (the widget shows one for agents). */
  showAvatar?: boolean;
  onRetry?: (message: LocalMessage) => void;
  /** Renders the text and attachments (links, images, files) once the attachment UI is there; plain text until then. */
  renderBody?: (message: LocalMessage) => unknown;
}

function authorName(message: LocalMessage, labels: BubbleLabels): string {
  if (message.author.role === 'agent') return message.author.name || labels.agent;
  if (message.author.role === 'system') return labels.system;
  return message.author.name || labels.visitor;
}

/**
 * Renders a message. The text only ever goes through a Lit text binding, so markup in it stays inert text; it is
 * bidi-isolated (`dir="auto"`), so a Hebrew message in an English chat (or the reverse) keeps its punctuation in place.
 * Failed own messages show the reason and, when `onRetry` is given, a Retry button.
 */
export function renderMessageBubble(message: LocalMessage, opts: BubbleOptions): TemplateResult {
  const { own, locale, labels, showAuthor, showAvatar, onRetry, renderBody } = opts;
  const name = authorName(message, labels);
  const failed = message.status === 'failed';
  const reason = message.failure ? (labels.errors?.[message.failure.code] ?? message.failure.reason) : '';
  return html`<div
    class="msg ${own ? 'msg--own' : 'msg--other'} msg--${message.author.role} msg--${message.status}"
    part="message ${own ? 'message-own' : 'message-other'}"
    data-client-id=${message.clientId}
    data-seq=${message.seq ?? nothing}
  >
    ${showAuthor
      ? html`<div class="msg__author" part="message-author">${showAvatar
          ? html`<span class="msg__avatar ${hueClass(name)}" part="message-avatar" aria-hidden="true">${initials(name)}</span>`
          : nothing}${name}</div>`
      : nothing}
    <div class="msg__bubble" part="bubble ${own ? 'bubble-own' : 'bubble-other'}">
      ${renderBody ? renderBody(message) : bodyText(message) ? html`<span class="msg__text" dir="auto">${bodyText(message)}</span>` : nothing}
      <span class="msg__meta">
        <time datetime=${message.createdAt}>${formatTime(message.createdAt, locale)}</time>
        ${own ? renderStatusTicks(message.status, labels) : nothing}
      </span>
    </div>
    ${failed && own
      ? html`<div class="msg__failure" part="failure">
          <span>${labels.failedPrefix} ${reason}</span>
          ${onRetry
            ? html`<button type="button" class="msg__retry" part="retry" @click=${() => onRetry(message)}>${labels.retry}</button>`
            : nothing}
        </div>`
      : nothing}
  </div>`;
}

/** The message's text, or a line naming its files when it has no text (until the attachments module shows them). */
export function bodyText(message: Pick<LocalMessage, 'text' | 'attachments'>): string {
  const first = message.attachments?.[0];
  return message.text || (first ? attachmentsSummary(message.attachments!.length, first.name) : '');
}
