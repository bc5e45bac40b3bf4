/**
 * The chat panel (header, message list, composer). The element renders it (and adopts its styles) only after the
 * launcher has painted, or at once when opened; it passes everything the panel shows and does through a view.
 */
import { html, nothing, svg, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import { hasVisibleText } from '../../protocol/text.ts';
import type { LocalMessage } from '../../protocol/message.ts';
import { bubbleLabels, fill, type WidgetStrings } from '../i18n/index.ts';
import type { ConnectionState, TransportKind } from '../transports/transport.ts';
import type { WidgetAttachments } from '../attachments/attachments-module.ts';
import { dayKey, formatDay } from '../ui/format-time.ts';
import { renderMessageBubble } from '../ui/message-bubble.ts';
import { bubbleStyles } from '../ui/message-list.styles.ts';
import { panelStyles } from './chat-panel.styles.ts';

export { resolveStrings } from '../i18n/index.ts';

/** Every stylesheet the panel needs, adopted next to the element's own. */
export const styles = [bubbleStyles, panelStyles];

/** What the panel shows and the handlers it calls; built by the element on each render. */
export interface PanelView {
  heading: string;
  greeting: string;
  locale: string;
  strings: WidgetStrings;
  state: ConnectionState;
  /** The bridge refused this page's origin. */
  originRefused: boolean;
  transport: TransportKind;
  agentsOnline: number;
  /** The messages to render (the element already cut them to the render window). */
  messages: readonly LocalMessage[];
  hasOlder: boolean;
  loadingOlder: boolean;
  /** Name of the agent typing (`''` unnamed), or undefined. */
  agentTyping: string | undefined;
  draft: string;
  pill: boolean;
  onClose: () => void;
  onScroll: () => void;
  onSubmit: (event: Event) => void;
  onInput: (event: Event) => void;
  onComposerKeydown: (event: KeyboardEvent) => void;
  onPill: () => void;
  onRetry: (message: LocalMessage) => void;
  /** The site enabled self-erasure (`allow-erase`) and the transport can erase. */
  allowErase: boolean;
  /** Where the erase flow is: asking for confirmation, waiting for the bridge, or it failed. */
  erase: 'idle' | 'confirm' | 'erasing' | 'failed';
  onErase: () => void;
  onEraseConfirm: () => void;
  onEraseCancel: () => void;
  /** The attachment UI, once its module has loaded (and the transport carries files). */
  attachments: WidgetAttachments | undefined;
  /** The reply-by-email offer (its own module) while nobody is online and the session offers it; else undefined. */
  replyByEmail: TemplateResult | undefined;
}

const trashIcon = svg`<path d="M5 7h14M10 7V4.5h4V7M7 7l1 13h8l1-13" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round" fill="none" />`;
const closeIcon = svg`<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" fill="none" />`;

function renderMessages(view: PanelView): TemplateResult {
  const { locale, strings } = view;
  const labels = bubbleLabels(strings);
  const now = new Date();
  type Row = { key: string; day?: string; message?: LocalMessage };
  const rows: Row[] = [];
  let day = '';
  for (const message of view.messages) {
    const key = dayKey(message.createdAt);
    if (key !== day) {
      day = key;
      rows.push({ key: `day:${key}`, day: formatDay(message.createdAt, locale, now) });
    }
    rows.push({ key: `${message.author.role}:${message.clientId}`, message });
  }
  // Keyed by role + clientId: the optimistic copy and the server's copy are the same row (no flicker, no jump).
  return html`${repeat(
    rows,
    (row) => row.key,
    (row) =>
      row.message
        ? renderMessageBubble(row.message, {
            own: row.message.author.role === 'visitor',
            locale,
            labels,
            showAuthor: row.message.author.role === 'agent' && !!row.message.author.name,
            showAvatar: true,
            onRetry: view.onRetry,
            renderBody: view.attachments?.renderBody,
          })
        : html`<div class="separator" part="separator" role="separator">${row.day}</div>`,
  )}`;
}

/** The panel as a Lit template. */
export function renderPanel(view: PanelView): TemplateResult {
  const s = view.strings;
  const online = view.state === 'online';
  const available = online && view.agentsOnline > 0;
  const count = view.draft.length;
  const files = view.attachments;
  // A <dialog> the element shows and hides (PanelDialogController): modal where it covers the screen.
  return html`<dialog
    id="panel"
    class="panel"
    part="panel"
    aria-labelledby="title"
    @cancel=${(event: Event) => {
      // Escape in a modal dialog: close through the element, so it tells the page and returns focus.
      event.preventDefault();
      view.onClose();
    }}
  >
    <header class="header" part="header">
      <div class="header-text">
        <h2 id="title" class="title" part="title">${view.heading || s.title}</h2>
        <p class="availability" part="availability">
          <span class="dot ${available ? 'dot--online' : ''}" aria-hidden="true"></span>
          <span>${available ? s.agentsOnline : s.agentsAway}</span>
          <span aria-hidden="true">·</span>
          <span class="transport" part="transport">${view.transport === 'xmtp' ? s.transportXmtp : s.transportRealtime}</span>
        </p>
      </div>
      ${view.allowErase
        ? html`<button class="icon-button" part="erase-button" type="button" aria-label=${s.eraseConversation} title=${s.eraseConversation} @click=${view.onErase}>
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">${trashIcon}</svg>
          </button>`
        : nothing}
      <button class="icon-button" part="close-button" type="button" aria-label=${s.closeChat} @click=${view.onClose}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">${closeIcon}</svg>
      </button>
    </header>
    ${view.allowErase && view.erase !== 'idle'
      ? html`<div class="erase strip" part="erase-confirm" role="alertdialog" aria-labelledby="erase-text">
          <p id="erase-text">${view.erase === 'failed' ? s.eraseFailed : s.eraseConfirm}</p>
          <button class="erase-yes" part="erase-yes" type="button" ?disabled=${view.erase === 'erasing'} @click=${view.onEraseConfirm}>${s.eraseYes}</button>
          <button class="erase-no" part="erase-no" type="button" @click=${view.onEraseCancel}>${s.eraseNo}</button>
        </div>`
      : nothing}
    ${online
      ? nothing
      : html`<div class="connection" part="connection" role="status">${view.originRefused ? s.notAvailableHere : view.state === 'offline' ? s.offline : s.connecting}</div>`}
    <div class="list" part="messages" tabindex="0" role="log" aria-label=${s.messages} aria-live="off" @scroll=${view.onScroll}>
      ${view.loadingOlder ? html`<p class="hint" part="loading">${s.loadingOlder}</p>` : nothing}
      ${view.hasOlder ? nothing : html`<p class="greeting" part="greeting">${view.greeting || s.greeting}</p>`}
      ${renderMessages(view)}
      ${view.agentTyping !== undefined ? html`<p class="typing" part="typing">${fill(s.typing, { name: view.agentTyping || s.agent })}</p>` : nothing}
    </div>
    ${online && view.agentsOnline === 0 && view.replyByEmail ? view.replyByEmail : nothing}
    ${view.pill ? html`<button class="pill" part="new-messages" type="button" @click=${view.onPill}>${s.newMessages} ↓</button>` : nothing}
    <form class="composer" part="composer" @submit=${view.onSubmit}>
      ${files?.renderDraft()}
      <div class="field">
        <textarea
          class="input"
          part="input"
          rows="1"
          aria-label=${s.placeholder}
          aria-describedby="counter"
          placeholder=${s.placeholder}
          maxlength=${MAX_TEXT_LENGTH}
          .value=${view.draft}
          @input=${view.onInput}
          @keydown=${view.onComposerKeydown}
        ></textarea>
        <span id="counter" class="counter ${count > MAX_TEXT_LENGTH * 0.9 ? 'counter--near' : ''}" part="counter"
          >${count ? fill(s.counter, { count, max: MAX_TEXT_LENGTH }) : nothing}</span
        >
      </div>
      ${files?.renderAttachButton()}
      <button class="send" part="send-button" type="submit" aria-label=${s.send} ?disabled=${!(hasVisibleText(view.draft) || files?.ready) || files?.uploading || count > MAX_TEXT_LENGTH}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
          <path d="M3 20.5l18-8.5L3 3.5l2.5 8.5zM5.5 12H13" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round" fill="none" />
        </svg>
      </button>
    </form>
    ${files?.renderViewer()}
  </dialog>`;
}
