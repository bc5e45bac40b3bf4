/**
 * The widget's attachment UI, built on its own into anon-chat-attachments.js (build/attachments-module-build.ts)
 * and imported by URL once the launcher has painted, so none of it counts towards the initial load: links in
 * message text, images and file chips in messages, the viewer, and attaching by picker, paste and drop with
 * previews, progress and Cancel.
 */
import { html, nothing, type TemplateResult } from 'lit/html.js';
import type { CSSResult } from '@lit/reactive-element/css-tag.js';
import type { LocalMessage } from '../../protocol/message.ts';
import { labelsFor } from './attachment-labels.ts';
import { AttachmentDraft, type DraftMessage } from './attachment-draft.ts';

export type { DraftMessage } from './attachment-draft.ts';
import { acceptFileDrag, droppedFiles, pastedFiles, renderAttachButton, renderAttachmentList, renderDraft, AttachmentViewer } from './attachment-view.ts';
import { attachmentStyles } from './attachment.styles.ts';
import { renderMessageText } from './message-text.ts';
import { SignedLinks } from './signed-links.ts';

/** What the element gives the attachment UI. */
export interface WidgetAttachmentHost {
  readonly renderRoot: HTMLElement | DocumentFragment;
  readonly updateComplete: Promise<unknown>;
  requestUpdate(): void;
  serverUrl(): string;
  site(): string;
  /** The visitor's token (uploads and signed links); undefined before the first session. */
  token(): string | undefined;
  locale(): string;
  newClientId(): string;
}

/** The attachment UI as the element and its panel use it. */
export interface WidgetAttachments {
  readonly styles: CSSResult;
  /** A message's text (links clickable) and attachments, for the bubble. */
  renderBody(message: LocalMessage): TemplateResult;
  /** The draft's previews, above the composer's field. */
  renderDraft(): TemplateResult | typeof nothing;
  renderAttachButton(): TemplateResult;
  renderViewer(): TemplateResult | typeof nothing;
  /** True while a file uploads: Send waits for it. */
  readonly uploading: boolean;
  /** True when an uploaded file is ready: Send is enabled without text. */
  readonly ready: boolean;
  /** Empties the draft for sending (undefined: nothing attached, or an upload still running). */
  take(): DraftMessage | undefined;
  onPaste(event: ClipboardEvent): void;
  onDragOver(event: DragEvent): void;
  onDragLeave(event: DragEvent): void;
  onDrop(event: DragEvent): void;
  /** Forgets the draft, previews and links (reset, erasure, another visitor). */
  clear(): void;
}

/** Creates the widget's attachment UI. */
export function createWidgetAttachments(host: WidgetAttachmentHost): WidgetAttachments {
  // The widget's language may change (locale attribute, page lang): looked up on every render.
  const labels = () => labelsFor(host.locale());
  const changed = (): void => host.requestUpdate();
  const links = new SignedLinks({ serverUrl: () => host.serverUrl(), token: () => host.token(), changed });
  const draft = new AttachmentDraft({
    serverUrl: () => host.serverUrl(),
    site: () => host.site(),
    token: () => host.token(),
    newClientId: () => host.newClientId(),
    changed,
  });
  const viewer = new AttachmentViewer(host);
  const dropTarget = (event: DragEvent): Element | null => (event.currentTarget instanceof Element ? event.currentTarget : null);
  return {
    styles: attachmentStyles,
    renderBody: (message) =>
      html`${message.text ? html`<span class="msg__text" dir="auto">${renderMessageText(message.text)}</span>` : nothing}${renderAttachmentList(
        message.attachments,
        { links, labels: labels(), locale: host.locale(), viewer, previews: draft.sentPreviews },
      )}`,
    renderDraft: () => renderDraft(draft, labels(), host.locale()),
    renderAttachButton: () => renderAttachButton(draft, labels(), 'att-attach'),
    renderViewer: () => viewer.render({ links, labels: labels(), previews: draft.sentPreviews }),
    get uploading() {
      return draft.uploading;
    },
    get ready() {
      return draft.ready;
    },
    take: () => draft.take(),
    onPaste: (event) => {
      const files = pastedFiles(event);
      if (files.length) draft.add(files);
    },
    onDragOver: (event) => {
      if (acceptFileDrag(event)) dropTarget(event)?.classList.add('att-dropping');
    },
    onDragLeave: (event) => dropTarget(event)?.classList.remove('att-dropping'),
    onDrop: (event) => {
      dropTarget(event)?.classList.remove('att-dropping');
      const files = droppedFiles(event);
      if (files.length) draft.add(files);
    },
    clear: () => {
      draft.clear();
      links.clear();
    },
  };
}
