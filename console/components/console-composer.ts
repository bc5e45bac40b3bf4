/** The reply composer: Enter sends, Shift+Enter adds a line, the length limit is shown near the end. */
import { LitElement, html, nothing } from 'lit';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import { hasVisibleText } from '../../protocol/text.ts';
import { baseStyles } from './shared.styles.ts';
import { composerStyles } from './console-composer.styles.ts';
import { emit } from '../events.ts';
import { AttachmentDraft } from '../../widget/attachments/attachment-draft.ts';
import { attachmentLabels } from '../../widget/attachments/attachment-labels.ts';
import { acceptFileDrag, droppedFiles, pastedFiles, renderAttachButton, renderDraft } from '../../widget/attachments/attachment-view.ts';
import { attachmentStyles } from '../../widget/attachments/attachment.styles.ts';

const sendIcon = html`<svg width="18" height="18" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path d="M3.4 16.6 17.5 10 3.4 3.4l.02 5.2L13 10l-9.58 1.4z" fill="currentColor"/></svg>`;

/** Counter shows from this many characters on. */
const COUNTER_FROM = MAX_TEXT_LENGTH - 500;

/**
 * Reply box of the open conversation; files come in by the paperclip, paste or drop (web conversations), upload at
 * once and are sent with the reply.
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
    conversationId: { attribute: false },
    canAttach: { type: Boolean },
  };

  declare label: string;
  declare value: string;
  declare serverUrl: string;
  declare token: string | undefined;
  declare conversationId: string;
  /** Files can go with replies (web conversations; WhatsApp media is not built yet). */
  declare canAttach: boolean;

  private readonly draft = new AttachmentDraft({
    serverUrl: () => this.serverUrl,
    token: () => this.token,
    conversationId: () => this.conversationId,
    newClientId: () => `console-${crypto.randomUUID()}`,
    changed: () => this.requestUpdate(),
  });

  constructor() {
    super();
    this.label = 'Reply';
    this.value = '';
    this.serverUrl = '';
    this.token = undefined;
    this.conversationId = '';
    this.canAttach = false;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.draft.clear();
  }

  /** Moves focus into the text box. */
  override focus(): void {
    this.renderRoot.querySelector('textarea')?.focus();
  }

  override render() {
    const length = this.value.length;
    const over = length > MAX_TEXT_LENGTH;
    const draft = this.draft;
    const canSend = (hasVisibleText(this.value) || draft.ready) && !draft.uploading && !over;
    const submit = (): void => {
      if (!canSend) return;
      const files = draft.take();
      emit(this, 'console-send', files ? { text: this.value, files } : { text: this.value });
      this.value = '';
    };
    const attach = this.canAttach;
    return html`${attach ? renderDraft(draft, attachmentLabels, navigator.language) : nothing}<form
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
          aria-label=${this.label}
          placeholder="Write a reply…"
          aria-describedby="hint"
          .value=${this.value}
          @input=${(event: InputEvent) => {
            this.value = (event.target as HTMLTextAreaElement).value;
            emit(this, 'console-compose', { active: this.value.length > 0 });
          }}
          @blur=${() => emit(this, 'console-compose', { active: false })}
          @paste=${(event: ClipboardEvent) => {
            const files = attach ? pastedFiles(event) : [];
            if (files.length) draft.add(files);
          }}
          @keydown=${(event: KeyboardEvent) => {
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
        <span id="hint">Enter to send · Shift+Enter for a new line</span>
        ${length >= COUNTER_FROM
          ? html`<span class=${over ? 'over' : ''} aria-live="polite">${length.toLocaleString()} / ${MAX_TEXT_LENGTH.toLocaleString()}</span>`
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
