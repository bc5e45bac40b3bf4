/**
 * Attachments on screen, shared by the widget and the console: images inline (lazy, the thumbnail, alt = file
 * name) opening a viewer dialog, other files as download chips; the draft's previews with progress and Cancel;
 * the attach button. Every URL comes from the bridge (signed links) or is an object URL of the sender's own file.
 */
import { html, nothing, svg, type TemplateResult } from 'lit/html.js';
import { IMAGE_TYPES, type Attachment } from '../../protocol/attachment.ts';
import { formatSize, typeLabel, type AttachmentLabels } from './attachment-labels.ts';
import type { AttachmentDraft, DraftItem } from './attachment-draft.ts';
import type { SignedLinks } from './signed-links.ts';

const paperclip = svg`<path d="M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" fill="none" />`;
const fileIcon = svg`<path d="M6 3h8l4 4v14H6zM14 3v4h4" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round" fill="none" />`;
const cross = svg`<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" fill="none" />`;

/** What rendering a message's attachments needs. */
export interface AttachmentViewContext {
  links: SignedLinks;
  labels: AttachmentLabels;
  locale: string;
  viewer: AttachmentViewer;
  /** Object URLs of the viewer's own just-sent images, shown until their signed links arrive. */
  previews?: ReadonlyMap<string, string>;
}

const isImage = (attachment: Attachment): boolean => IMAGE_TYPES.has(attachment.type);

/** A message's attachments: images first as a grid of thumbnails, then file chips, in the sender's order. */
export function renderAttachmentList(attachments: readonly Attachment[] | undefined, ctx: AttachmentViewContext): TemplateResult | typeof nothing {
  if (!attachments?.length) return nothing;
  const images = attachments.filter(isImage);
  const files = attachments.filter((attachment) => !isImage(attachment));
  return html`${images.length
    ? html`<div class="att-images">${images.map((attachment) => renderImage(attachment, ctx))}</div>`
    : nothing}${files.length ? html`<div class="att-files">${files.map((attachment) => renderFile(attachment, ctx))}</div>` : nothing}`;
}

function renderImage(attachment: Attachment, ctx: AttachmentViewContext): TemplateResult {
  const link = ctx.links.get(attachment.id);
  const src = link?.thumbnailUrl ?? link?.url ?? ctx.previews?.get(attachment.id);
  if (!src) return html`<span class="att-image att-image--loading" role="img" aria-label=${attachment.name}></span>`;
  return html`<button class="att-image" type="button" data-attachment-id=${attachment.id} @click=${() => ctx.viewer.open(attachment)}>
    <img class="att-image__img" src=${src} alt=${attachment.name} loading="lazy" decoding="async" />
  </button>`;
}

function renderFile(attachment: Attachment, ctx: AttachmentViewContext): TemplateResult {
  const link = ctx.links.get(attachment.id);
  const body = html`<svg class="att-file__icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">${fileIcon}</svg>
    <span class="att-file__text"><span class="att-file__name" dir="auto">${attachment.name}</span>
      <span class="att-file__meta">${typeLabel(attachment.type)} · ${formatSize(attachment.size, ctx.locale)}</span></span>`;
  return link
    ? html`<a class="att-file" data-attachment-id=${attachment.id} href=${link.url} download=${attachment.name} target="_blank" rel="noopener noreferrer nofollow"
        >${body}</a
      >`
    : html`<span class="att-file att-file--loading" data-attachment-id=${attachment.id}>${body}</span>`;
}

/** The full-size image viewer: a modal dialog over everything, closed by Escape, its button or a click outside. */
export class AttachmentViewer {
  current: Attachment | undefined;

  constructor(
    private readonly host: { requestUpdate(): void; readonly updateComplete: Promise<unknown>; readonly renderRoot: HTMLElement | DocumentFragment },
  ) {}

  open(attachment: Attachment): void {
    this.current = attachment;
    this.host.requestUpdate();
    void this.host.updateComplete.then(() => {
      const dialog = this.host.renderRoot.querySelector<HTMLDialogElement>('dialog.att-viewer');
      if (dialog && !dialog.open) dialog.showModal();
    });
  }

  close(): void {
    this.host.renderRoot.querySelector<HTMLDialogElement>('dialog.att-viewer')?.close();
  }

  render(ctx: Pick<AttachmentViewContext, 'links' | 'labels' | 'previews'>): TemplateResult | typeof nothing {
    const attachment = this.current;
    if (!attachment) return nothing;
    const link = ctx.links.get(attachment.id);
    const src = link?.url ?? ctx.previews?.get(attachment.id);
    return html`<dialog
      class="att-viewer"
      aria-label=${attachment.name}
      @close=${() => {
        this.current = undefined;
        this.host.requestUpdate();
      }}
      @keydown=${(event: KeyboardEvent) => {
        // The dialog closes itself on Escape; the widget must not also take it as "close the chat".
        if (event.key === 'Escape') event.stopPropagation();
      }}
      @click=${(event: MouseEvent) => {
        if (event.target === event.currentTarget) this.close();
      }}
    >
      <div class="att-viewer__bar">
        <span class="att-viewer__name" dir="auto">${attachment.name}</span>
        ${link
          ? html`<a class="att-viewer__action" href=${link.url} download=${attachment.name} target="_blank" rel="noopener noreferrer nofollow">${ctx.labels.download}</a>`
          : nothing}
        <button class="att-viewer__action att-viewer__close" type="button" aria-label=${ctx.labels.close} @click=${() => this.close()}>
          <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">${cross}</svg>
        </button>
      </div>
      ${src ? html`<img class="att-viewer__img" src=${src} alt=${attachment.name} />` : nothing}
    </dialog>`;
  }
}

/** Why a file was not sent, in the labels' words. */
export function errorText(code: string, labels: AttachmentLabels): string {
  if (code === 'payload_too_large') return labels.tooLarge;
  if (code === 'unsupported_media_type') return labels.unsupported;
  return labels.uploadFailed;
}

function renderDraftItem(item: DraftItem, draft: AttachmentDraft, labels: AttachmentLabels, locale: string): TemplateResult {
  return html`<li class="att-draft__item att-draft__item--${item.state}" data-key=${item.key}>
    ${item.preview
      ? html`<img class="att-draft__thumb" src=${item.preview} alt=${item.name} />`
      : html`<span class="att-draft__file"
          ><span class="att-file__name" dir="auto">${item.name}</span
          ><span class="att-file__meta">${typeLabel(item.type || 'application/octet-stream')} · ${formatSize(item.size, locale)}</span></span
        >`}
    ${item.state === 'uploading'
      ? html`<progress class="att-draft__progress" max="1" .value=${item.progress} aria-label=${`${labels.uploading} ${item.name}`}></progress>`
      : nothing}
    ${item.state === 'failed' ? html`<span class="att-draft__error" role="alert">${errorText(item.error ?? '', labels)}</span>` : nothing}
    ${item.state === 'waiting' ? html`<span class="att-draft__waiting">${labels.waiting}</span>` : nothing}
    <button class="att-draft__cancel" type="button" aria-label=${`${labels.cancel} ${item.name}`} title=${labels.cancel} @click=${() => draft.cancel(item.key)}>
      <svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false">${cross}</svg>
    </button>
  </li>`;
}

/** The files attached to the message being written, above the composer. */
export function renderDraft(draft: AttachmentDraft, labels: AttachmentLabels, locale: string): TemplateResult | typeof nothing {
  if (!draft.items.length && !draft.tooMany) return nothing;
  return html`<div class="att-draft">
    ${draft.items.length
      ? html`<ul class="att-draft__items" aria-label=${labels.draft}>${draft.items.map((item) => renderDraftItem(item, draft, labels, locale))}</ul>`
      : nothing}
    ${draft.tooMany
      ? html`<p class="att-draft__notice" role="alert">${labels.tooMany.replace('{max}', String(draft.maxItems))}</p>`
      : nothing}
  </div>`;
}

/** The paperclip button and its hidden file input (any number of files; the draft keeps as many as its `maxItems`). */
export function renderAttachButton(draft: AttachmentDraft, labels: AttachmentLabels, className: string): TemplateResult {
  return html`<input
      class="att-input"
      type="file"
      multiple
      hidden
      tabindex="-1"
      aria-hidden="true"
      @change=${(event: Event) => {
        const input = event.target as HTMLInputElement;
        if (input.files) draft.add(input.files);
        input.value = '';
      }}
    /><button
      class=${className}
      type="button"
      aria-label=${labels.attach}
      title=${labels.attach}
      @click=${(event: Event) => ((event.currentTarget as HTMLElement).previousElementSibling as HTMLInputElement).click()}
    >
      <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">${paperclip}</svg>
    </button>`;
}

/** Files a paste carries (a screenshot from the clipboard); the paste of text goes on as usual. */
export function pastedFiles(event: ClipboardEvent): File[] {
  const files = [...(event.clipboardData?.files ?? [])];
  if (files.length) event.preventDefault();
  return files;
}

/** True for a drag that carries files: the drop target accepts it. */
export function acceptFileDrag(event: DragEvent): boolean {
  if (!event.dataTransfer?.types.includes('Files')) return false;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
  return true;
}

/** Files a drop carries. */
export function droppedFiles(event: DragEvent): File[] {
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length) event.preventDefault();
  return files;
}
