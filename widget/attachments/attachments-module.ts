/**
 * The widget's attachment UI, built on its own into anon-chat-attachments.js (build/attachments-module-build.ts)
 * and imported by URL once the launcher has painted, so none of it counts towards the initial load: links in
 * message text, images and file chips in messages, the viewer, and attaching by picker, paste and drop with
 * previews, progress and Cancel.
 */
import { html, nothing, type TemplateResult } from 'lit/html.js';
import type { CSSResult } from '@lit/reactive-element/css-tag.js';
import type { LocalMessage } from '../../protocol/message.ts';
import type { Attachment } from '../../protocol/attachment.ts';
import type { VisitorSession } from '../../protocol/events.ts';
import { labelsFor } from './attachment-labels.ts';
import { AttachmentDraft, type DraftMessage } from './attachment-draft.ts';

export type { DraftMessage } from './attachment-draft.ts';
import { acceptFileDrag, droppedFiles, errorText, pastedFiles, renderAttachButton, renderAttachmentList, renderDraft, AttachmentViewer } from './attachment-view.ts';
import { attachmentStyles } from './attachment.styles.ts';
import { renderMessageText } from './message-text.ts';
import { SignedLinks } from './signed-links.ts';
import { OutboxFiles } from './outbox-files.ts';
import { UploadError, upload } from './upload.ts';
import type { OutboxController } from '../controllers/outbox-controller.ts';
import type { OutboxEntry } from '../controllers/outbox.ts';

/** The element, as the attachment UI uses it. */
export interface WidgetAttachmentHost {
  readonly renderRoot: HTMLElement | DocumentFragment;
  readonly updateComplete: Promise<unknown>;
  requestUpdate(): void;
  readonly serverUrl: string;
  readonly site: string;
}

/** What only the element's internals know. */
export interface WidgetAttachmentContext {
  /** The visitor's token (uploads and signed links); undefined before the first session. */
  token(): string | undefined;
  /** The bridge's current session (undefined while disconnected): it carries the upload limits. */
  session?(): VisitorSession | undefined;
  locale(): string;
  newClientId(): string;
  /** The visitor's outbox: the module uploads the files of messages sent while offline. */
  outbox?: Pick<OutboxController, 'useFiles' | 'flush'>;
}

/** The attachment UI as the element and its panel use it. */
export interface WidgetAttachments {
  readonly styles: CSSResult;
  /** A message's text (links clickable) and attachments, for the bubble. */
  renderBody: (message: LocalMessage) => TemplateResult;
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
  /** Forgets the draft, previews and links (reset, erasure, another visitor). */
  clear(): void;
}

/** Creates the widget's attachment UI. */
export function createWidgetAttachments(host: WidgetAttachmentHost, context: WidgetAttachmentContext): WidgetAttachments {
  const token = (): string | undefined => {
    const value = context.token();
    return typeof value === 'string' ? value : undefined;
  };
  // The widget's language may change (locale attribute, page lang): looked up on every render.
  const labels = () => labelsFor(context.locale());
  const changed = (): void => host.requestUpdate();
  // The last limit a session told: still known while offline, when a file goes to the outbox instead.
  let maxBytes: number | undefined;
  const limit = (): number | undefined => (maxBytes = context.session?.()?.attachments?.maxBytes ?? maxBytes);
  const links = new SignedLinks({ serverUrl: () => host.serverUrl, token, changed });
  const draft = new AttachmentDraft({
    serverUrl: () => host.serverUrl,
    site: () => host.site,
    token,
    newClientId: () => context.newClientId(),
    changed,
    maxBytes: limit,
    queuesOffline: context.outbox !== undefined,
  });
  const files = new OutboxFiles();
  const outbox = context.outbox;
  if (outbox) {
    const uploadFiles = async (entry: OutboxEntry): Promise<Attachment[]> => {
      const attachments: Attachment[] = [];
      for (const waiting of entry.uploads ?? []) {
        if (waiting.attachment) {
          attachments.push(waiting.attachment);
          continue;
        }
        const file = await files.get(waiting.key);
        const visitorToken = token();
        if (!file) throw new UploadError('file_missing');
        // Attached offline before any session told the limit: refused now, as its upload could only fail (see upload.ts).
        if (file.size > (limit() ?? Infinity)) throw new UploadError('payload_too_large');
        if (!visitorToken) throw new UploadError('network');
        const running = upload({ serverUrl: host.serverUrl, token: visitorToken, file, name: waiting.name, uploadKey: waiting.key, site: host.site, onProgress: () => {} });
        const attachment = await running.done;
        const preview = draft.sentPreviews.get(waiting.key);
        if (preview) draft.sentPreviews.set(attachment.id, preview);
        attachments.push(attachment);
      }
      return attachments;
    };
    outbox.useFiles({
      // A refusal (too large, its type, its bytes gone) fails the message for good: its bubble says why in words.
      upload: (entry) =>
        uploadFiles(entry).catch((error: unknown) => {
          const code = error instanceof UploadError ? error.code : 'bad_request';
          throw code === 'network' ? error : new UploadError(code, errorText(code, labels()));
        }),
      gone: (keys) => void files.delete(keys),
    });
    // Messages sent offline in an earlier page wait for this module to upload their files.
    void outbox.flush();
  }
  const viewer = new AttachmentViewer(host);
  // Listened for here rather than bound in the panel's template, which is part of the initial load: files pasted
  // into the composer, files dragged over and dropped on the panel.
  const root = host.renderRoot;
  // Only where the panel offers files (the attach button is rendered only on the bridge transport).
  const panel = (event: Event): Element | null =>
    event.target instanceof Element && root.querySelector('.att-attach') ? event.target.closest('.panel') : null;
  root.addEventListener('paste', (event) => {
    const files = panel(event) && (event.target as Element).closest('.composer') ? pastedFiles(event as ClipboardEvent) : [];
    if (files.length) draft.add(files);
  });
  root.addEventListener('dragover', (event) => {
    const target = panel(event);
    if (target && acceptFileDrag(event as DragEvent)) target.classList.add('att-dropping');
  });
  root.addEventListener('dragleave', (event) => panel(event)?.classList.remove('att-dropping'));
  root.addEventListener('drop', (event) => {
    const target = panel(event);
    if (!target) return;
    target.classList.remove('att-dropping');
    const files = droppedFiles(event as DragEvent);
    if (files.length) draft.add(files);
  });
  return {
    styles: attachmentStyles,
    renderBody: (message) =>
      html`${message.text ? html`<span class="msg__text" dir="auto">${renderMessageText(message.text)}</span>` : nothing}${renderAttachmentList(
        message.attachments,
        { links, labels: labels(), locale: context.locale(), viewer, previews: draft.sentPreviews },
      )}`,
    renderDraft: () => renderDraft(draft, labels(), context.locale()),
    renderAttachButton: () => renderAttachButton(draft, labels(), 'att-attach'),
    renderViewer: () => viewer.render({ links, labels: labels(), previews: draft.sentPreviews }),
    get uploading() {
      return draft.uploading;
    },
    get ready() {
      return draft.ready;
    },
    take: () => {
      const taken = draft.take();
      // Kept as plain data in the outbox (localStorage); the waiting files' bytes go to IndexedDB.
      if (taken?.uploads) {
        taken.uploads = taken.uploads.map(({ file, ...kept }) => {
          if (file) void files.put(kept.key, file);
          return kept;
        });
      }
      return taken;
    },
    clear: () => {
      draft.clear();
      links.clear();
    },
  };
}
