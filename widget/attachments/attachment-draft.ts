/**
 * The files attached to the message being written: each starts uploading as soon as it is attached (picker, paste,
 * drop), shows a preview (images) or its name, type and size, its progress, and can be cancelled. The draft has one
 * clientId from its first file on; uploads are keyed by it and the message is sent with it, so retries of either
 * are deduplicated by the bridge.
 */
import { MAX_ATTACHMENTS_PER_MESSAGE, type Attachment } from '../../protocol/attachment.ts';
import type { OutboxUpload } from '../controllers/outbox.ts';
import { UploadError, upload } from './upload.ts';

/** Where an attached file is; `waiting`: out of reach of the bridge, it goes up with the message from the outbox. */
export type DraftItemState = 'uploading' | 'done' | 'failed' | 'waiting';

/** One attached file. */
export interface DraftItem {
  key: string;
  name: string;
  /** The type the browser declares (for the preview only; the bridge sniffs the real one). */
  type: string;
  size: number;
  /** An object URL of the file while it is attached, for images. */
  preview?: string;
  /** 0…1. */
  progress: number;
  state: DraftItemState;
  /** Error code of a failed upload. */
  error?: string;
  attachment?: Attachment;
  abort?: () => void;
  /** The file itself while it waits to be uploaded from the outbox. */
  file?: File;
}

/** What the draft needs from its host. */
export interface DraftHost {
  serverUrl(): string;
  token(): string | undefined;
  /** Agents upload into the open conversation; visitors leave it undefined. */
  conversationId?(): string | undefined;
  /** The visitor's site key (an upload may be what starts their conversation). */
  site?(): string;
  newClientId(): string;
  changed(): void;
  /** The largest file the bridge accepts, when known: a larger one is refused without uploading any of it. */
  maxBytes?(): number | undefined;
  /** The widget's outbox takes files that cannot be uploaded now (offline); without it they fail. */
  readonly queuesOffline?: boolean;
}

/** What `take()` hands to the sender. */
export interface DraftMessage {
  clientId: string;
  attachments: Attachment[];
  /** When some files wait (offline): every file in order, with the waiting ones' bytes to keep for the outbox. */
  uploads?: (OutboxUpload & { file?: File })[];
}

/** The attachments of the message being written. */
export class AttachmentDraft {
  items: DraftItem[] = [];
  /** Most files one message may carry here (the console sets WhatsApp's limit in WhatsApp conversations). */
  maxItems = MAX_ATTACHMENTS_PER_MESSAGE;
  /** Shown once when files were left out (more than `maxItems`). */
  tooMany = false;
  #clientId: string | undefined;
  #next = 0;
  /** Object URLs of sent images by attachment id: the sent message shows them until its signed link arrives. */
  readonly sentPreviews = new Map<string, string>();

  constructor(private readonly host: DraftHost) {}

  /** True while any file is still uploading (Send waits). */
  get uploading(): boolean {
    return this.items.some((item) => item.state === 'uploading');
  }

  /** True when at least one file is uploaded, or waits for the outbox, and is ready to send. */
  get ready(): boolean {
    return this.items.some((item) => item.state === 'done' || item.state === 'waiting');
  }

  /** Attaches files and starts uploading them; past the per-message limit the rest are left out (and said so). */
  add(files: Iterable<File>): void {
    this.tooMany = false;
    for (const file of files) {
      if (this.items.length >= this.maxItems) {
        this.tooMany = true;
        break;
      }
      this.#start(file);
    }
    this.host.changed();
  }

  #start(file: File): void {
    const token = this.host.token();
    this.#clientId ??= this.host.newClientId();
    const item: DraftItem = {
      key: `${this.#clientId}.${this.#next++}`,
      name: file.name || 'file',
      type: file.type,
      size: file.size,
      progress: 0,
      state: 'uploading',
    };
    if (file.type.startsWith('image/')) item.preview = URL.createObjectURL(file);
    this.items = [...this.items, item];
    if (file.size > (this.host.maxBytes?.() ?? Infinity)) return this.#fail(item, 'payload_too_large', file);
    if (!token || (this.host.queuesOffline && !navigator.onLine)) return this.#fail(item, 'network', file);
    const running = upload({
      serverUrl: this.host.serverUrl(),
      token,
      file,
      name: item.name,
      uploadKey: item.key,
      conversationId: this.host.conversationId?.(),
      site: this.host.site?.(),
      onProgress: (fraction) => this.#update(item.key, { progress: fraction }),
    });
    item.abort = running.abort;
    running.done.then(
      (attachment) => this.#update(item.key, { state: 'done', progress: 1, attachment }),
      (error: unknown) => this.#fail(item, error instanceof UploadError ? error.code : 'network', file),
    );
  }

  #fail(item: DraftItem, code: string, file: File): void {
    if (code === 'aborted') return;
    if (code === 'network' && this.host.queuesOffline) this.#update(item.key, { state: 'waiting', progress: 0, file });
    else this.#update(item.key, { state: 'failed', error: code });
  }

  #update(key: string, change: Partial<DraftItem>): void {
    const index = this.items.findIndex((item) => item.key === key);
    if (index < 0) return;
    this.items = this.items.map((item, i) => (i === index ? { ...item, ...change } : item));
    this.host.changed();
  }

  /** Cancels a file's upload, or removes an uploaded or failed file from the draft. */
  cancel(key: string): void {
    const item = this.items.find((candidate) => candidate.key === key);
    if (!item) return;
    item.abort?.();
    if (item.preview) URL.revokeObjectURL(item.preview);
    this.items = this.items.filter((candidate) => candidate !== item);
    this.tooMany = false;
    this.host.changed();
  }

  /**
   * The uploaded files and the clientId to send them with, emptying the draft (failed files are dropped with it);
   * undefined while something still uploads or nothing was uploaded.
   */
  take(): DraftMessage | undefined {
    if (this.uploading || !this.ready || !this.#clientId) return undefined;
    const attachments: Attachment[] = [];
    for (const item of this.items) {
      if (item.attachment) {
        attachments.push(item.attachment);
        if (item.preview) this.sentPreviews.set(item.attachment.id, item.preview);
      } else if (item.preview && item.state !== 'waiting') URL.revokeObjectURL(item.preview);
    }
    const taken: DraftMessage = { clientId: this.#clientId, attachments };
    if (this.items.some((item) => item.state === 'waiting')) {
      taken.uploads = [];
      for (const item of this.items) {
        if (item.state !== 'done' && item.state !== 'waiting') continue;
        taken.uploads.push({ key: item.key, name: item.name, type: item.type, size: item.size, attachment: item.attachment, file: item.file });
        // A waiting image keeps its preview under its upload key, the id its bubble shows it by until it is uploaded.
        if (item.file && item.preview) this.sentPreviews.set(item.key, item.preview);
      }
    }
    this.items = [];
    this.tooMany = false;
    this.#clientId = undefined;
    this.host.changed();
    return taken;
  }

  /** Cancels everything and forgets the previews (another visitor, a closed conversation). */
  clear(): void {
    for (const item of this.items) {
      item.abort?.();
      if (item.preview) URL.revokeObjectURL(item.preview);
    }
    for (const url of this.sentPreviews.values()) URL.revokeObjectURL(url);
    this.sentPreviews.clear();
    this.items = [];
    this.tooMany = false;
    this.#clientId = undefined;
    this.host.changed();
  }
}
