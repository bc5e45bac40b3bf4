/**
 * The reply composer: Enter sends, Shift+Enter adds a line, the length limit is shown near the end; `/shortcut` opens
 * the saved replies as a list the reply box points at with aria-activedescendant (Up/Down, Enter or Tab inserts,
 * Escape closes). The box stays a multi-line textbox (aria-autocomplete, aria-haspopup) rather than a combobox:
 * screen readers announce a combobox as a single-line pick list, and the reply box's role is part of the console's
 * keyboard contract.
 */
import { LitElement, html, nothing } from 'lit';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import { MAX_ATTACHMENTS_PER_MESSAGE } from '../../protocol/attachment.ts';
import type { SavedReply } from '../../protocol/assignment.ts';
import { hasVisibleText } from '../../protocol/text.ts';
import { baseStyles } from './shared.styles.ts';
import { composerStyles } from './console-composer.styles.ts';
import { emit } from '../events.ts';
import { AttachmentDraft } from '../../widget/attachments/attachment-draft.ts';
import { attachmentLabels, type AttachmentLabels } from '../../widget/attachments/attachment-labels.ts';
import { acceptFileDrag, droppedFiles, pastedFiles, renderAttachButton, renderDraft } from '../../widget/attachments/attachment-view.ts';
import { attachmentStyles } from '../../widget/attachments/attachment.styles.ts';

const sendIcon = html`<svg width="18" height="18" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path d="M3.4 16.6 17.5 10 3.4 3.4l.02 5.2L13 10l-9.58 1.4z" fill="currentColor"/></svg>`;

/** The counter shows from this many characters below the limit on. */
const COUNTER_BEFORE_LIMIT = 500;

/** The too-many notice in the singular, for a one-file limit (WhatsApp). */
const oneFileLabels: AttachmentLabels = { ...attachmentLabels, tooMany: 'At most {max} file per message' };

/**
 * Reply box of the open conversation; files come in by the paperclip, paste or drop (when `canAttach`), upload at
 * once and are sent with the reply, at most `maxAttachments` of them and, when `maxCaptionLength` is set, with at
 * most that much text (Send stays disabled and says why until the text is shortened or the files removed).
 * @fires console-send - `{text, files?}` when the agent sends.
 * @fires console-compose - `{active}` while typing (`true`) and when the box is left or emptied (`false`).
 */
export class ConsoleComposer extends LitElement {
  static override styles = [baseStyles, composerStyles, attachmentStyles];
  static override properties = {
    label: { type: String },
    value: { state: true },
    serverUrl: { attribute: false },
    token: { attribute: false },
    maxUploadBytes: { attribute: false },
    conversationId: { attribute: false },
    canAttach: { type: Boolean },
    maxAttachments: { attribute: false },
    maxCaptionLength: { attribute: false },
    savedReplies: { attribute: false },
    active: { state: true },
    dismissed: { state: true },
  };

  declare label: string;
  declare value: string;
  declare serverUrl: string;
  declare token: string | undefined;
  /** ATTACHMENT_MAX_BYTES, when known: a larger file is refused as too large without uploading any of it. */
  declare maxUploadBytes: number | undefined;
  declare conversationId: string;
  /** Files can go with replies (web and WhatsApp conversations). */
  declare canAttach: boolean;
  /** Most files one reply may carry (WHATSAPP_MAX_ATTACHMENTS in WhatsApp conversations). */
  declare maxAttachments: number;
  /** Longest text that may go with files, when shorter than MAX_TEXT_LENGTH (a WhatsApp caption). */
  declare maxCaptionLength: number | undefined;
  /** Offered when the text starts with `/`, filtered by what follows it. */
  declare savedReplies: readonly SavedReply[];
  /** The highlighted saved reply in the open list. */
  declare active: number;
  /** Escape closed the list until the text is edited again. */
  declare dismissed: boolean;

  private readonly draft = new AttachmentDraft({
    serverUrl: () => this.serverUrl,
    token: () => this.token,
    conversationId: () => this.conversationId,
    newClientId: () => `console-${crypto.randomUUID()}`,
    changed: () => this.requestUpdate(),
    maxBytes: () => this.maxUploadBytes,
  });

  constructor() {
    super();
    this.label = 'Reply';
    this.value = '';
    this.serverUrl = '';
    this.token = undefined;
    this.maxUploadBytes = undefined;
    this.conversationId = '';
    this.canAttach = false;
    this.maxAttachments = MAX_ATTACHMENTS_PER_MESSAGE;
    this.maxCaptionLength = undefined;
    this.savedReplies = [];
    this.active = 0;
    this.dismissed = false;
  }

  /** The saved replies matching a leading `/shortcut` being typed (none once a space follows or Escape closed it). */
  private get savedReplyMatches(): readonly SavedReply[] {
    const typed = /^\/([a-z0-9_-]*)$/i.exec(this.value);
    if (!typed || this.dismissed) return [];
    const needle = typed[1]!.toLowerCase();
    return this.savedReplies.filter((r) => r.shortcut.startsWith(needle) || r.shortcut.includes(needle)).slice(0, 8);
  }

  private insert(reply: SavedReply): void {
    this.value = reply.text;
    this.active = 0;
    emit(this, 'console-compose', { active: true });
    void this.updateComplete.then(() => {
      const box = this.renderRoot.querySelector('textarea');
      box?.setSelectionRange(box.value.length, box.value.length);
    });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.draft.clear();
  }

  /** Moves focus into the text box. */
  override focus(): void {
    this.renderRoot.querySelector('textarea')?.focus();
  }

  override willUpdate(): void {
    this.draft.maxItems = this.maxAttachments;
  }

  override render() {
    const length = this.value.length;
    const draft = this.draft;
    // Failed files are dropped when the reply is sent, so only the others make its text a caption.
    const withFiles = draft.items.some((item) => item.state !== 'failed');
    const captionLimit = withFiles && this.maxCaptionLength !== undefined && this.maxCaptionLength < MAX_TEXT_LENGTH ? this.maxCaptionLength : undefined;
    const limit = captionLimit ?? MAX_TEXT_LENGTH;
    const over = length > limit;
    const canSend = (hasVisibleText(this.value) || draft.ready) && !draft.uploading && !over;
    const submit = (): void => {
      if (!canSend) return;
      const files = draft.take();
      emit(this, 'console-send', files ? { text: this.value, files } : { text: this.value });
      this.value = '';
    };
    const attach = this.canAttach;
    const matches = this.savedReplyMatches;
    const open = matches.length > 0;
    const active = Math.min(this.active, matches.length - 1);
    return html`${open
        ? html`<ul class="saved-replies" id="saved-replies" role="listbox" aria-label="Saved replies">
            ${matches.map(
              (r, i) => html`<li
                id="saved-reply-${i}"
                role="option"
                aria-selected=${i === active ? 'true' : 'false'}
                @mousedown=${(event: MouseEvent) => {
                  event.preventDefault();
                  this.insert(r);
                }}
              >
                <strong>/${r.shortcut}</strong> <span>${r.text}</span>
              </li>`,
            )}
          </ul>`
        : nothing}${attach ? renderDraft(draft, this.maxAttachments === 1 ? oneFileLabels : attachmentLabels, navigator.language) : nothing}${captionLimit !== undefined && over
        ? html`<p class="caption-over" role="alert">With a file, the text is its caption: at most ${captionLimit.toLocaleString()} characters</p>`
        : nothing}<form
        @dragover=${(event: DragEvent) => {
          if (attach) acceptFileDrag(event);
        }}
        @drop=${(event: DragEvent) => {
          const files = attach ? droppedFiles(event) : [];
          if (files.length) draft.add(files);
        }}
        @submit=${(event: SubmitEvent) => {
          event.preventDefault();
          submit();
        }}
      >
        <textarea
          rows="1"
          aria-autocomplete="list"
          aria-haspopup="listbox"
          aria-controls=${open ? "saved-replies" : nothing}
          aria-activedescendant=${open ? `saved-reply-${active}` : nothing}
          aria-label=${this.label}
          placeholder="Write a reply…"
          aria-describedby="hint"
          .value=${this.value}
          @input=${(event: InputEvent) => {
            this.value = (event.target as HTMLTextAreaElement).value;
            this.active = 0;
            this.dismissed = false;
            emit(this, 'console-compose', { active: this.value.length > 0 });
          }}
          @blur=${() => emit(this, 'console-compose', { active: false })}
          @paste=${(event: ClipboardEvent) => {
            const files = attach ? pastedFiles(event) : [];
            if (files.length) draft.add(files);
          }}
          @keydown=${(event: KeyboardEvent) => {
            if (open && !event.isComposing) {
              if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
                event.preventDefault();
                const step = event.key === 'ArrowDown' ? 1 : -1;
                this.active = (active + step + matches.length) % matches.length;
                return;
              }
              if (event.key === 'Enter' || event.key === 'Tab') {
                event.preventDefault();
                this.insert(matches[active]!);
                return;
              }
              if (event.key === 'Escape') {
                event.preventDefault();
                this.dismissed = true;
                return;
              }
            }
            if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
              event.preventDefault();
              submit();
            }
          }}
        ></textarea>
        ${attach ? renderAttachButton(draft, attachmentLabels, 'att-attach') : nothing}
        <button class="btn btn--primary send" type="submit" aria-label="Send" title="Send" ?disabled=${!canSend}>${sendIcon}</button>
      </form>
      <div class="meta">
        <span id="hint">Enter to send · Shift+Enter for a new line · / for saved replies</span>
        ${length >= limit - COUNTER_BEFORE_LIMIT
          ? html`<span class=${over ? 'over' : ''} aria-live="polite">${length.toLocaleString()} / ${limit.toLocaleString()}</span>`
          : nothing}
      </div>`;
  }
}

customElements.define('console-composer', ConsoleComposer);

declare global {
  interface HTMLElementTagNameMap {
    'console-composer': ConsoleComposer;
  }
}
