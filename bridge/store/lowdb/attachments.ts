/**
 * Attachments: their descriptions bucketed by id and journaled, their bytes content-addressed files per conversation
 * (attachment-files.ts), and in-memory indexes by conversation and by upload key (rebuilt at open, never stored).
 */
import { createHash } from 'node:crypto';
import { StoreError, newAttachment, type NewAttachment, type Store, type StoredAttachment } from '../store.ts';
import { AttachmentFiles } from './attachment-files.ts';
import type { JournalRecord } from './journal-records.ts';
import type { LowdbState } from './lowdb-state.ts';
import { fileKey, uploadKeyOf } from './stored-shapes.ts';

type AttachmentCalls = 'putAttachment' | 'getAttachment' | 'findAttachmentByUploadKey' | 'readAttachment';

/** The attachment calls of the Store. */
export class LowdbAttachments implements Pick<Store, AttachmentCalls> {
  readonly files: AttachmentFiles;
  /** Attachment ids by conversation, and by (conversation, uploader, upload key). */
  byConversation = new Map<string, Set<string>>();
  byUpload = new Map<string, string>();
  bytes = 0;

  constructor(private readonly s: LowdbState) {
    this.files = new AttachmentFiles(s.dataDir);
  }

  /** Forgets the indexes (before an open loads the data directory). */
  reset(): void {
    this.byConversation = new Map();
    this.byUpload = new Map();
    this.bytes = 0;
  }

  index(attachment: StoredAttachment): void {
    let ids = this.byConversation.get(attachment.conversationId);
    if (!ids) this.byConversation.set(attachment.conversationId, (ids = new Set()));
    ids.add(attachment.id);
    this.byUpload.set(uploadKeyOf(attachment.conversationId, attachment.uploader, attachment.uploadKey), attachment.id);
    this.bytes += attachment.size + (attachment.thumbnailSize ?? 0);
  }

  unindex(attachment: StoredAttachment): void {
    const ids = this.byConversation.get(attachment.conversationId);
    ids?.delete(attachment.id);
    if (ids?.size === 0) this.byConversation.delete(attachment.conversationId);
    this.byUpload.delete(uploadKeyOf(attachment.conversationId, attachment.uploader, attachment.uploadKey));
    this.bytes -= attachment.size + (attachment.thumbnailSize ?? 0);
  }

  /** True when a stored attachment of the conversation whose file folder is `folder` has this content. */
  liveContent(folder: string, sha256: string): boolean {
    for (const [conversationId, ids] of this.byConversation) {
      if (fileKey(conversationId) !== folder) continue;
      for (const id of ids) if (this.s.attachmentBuckets.get(id)?.sha256 === sha256) return true;
    }
    return false;
  }

  async putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    const journal = await this.s.writable();
    const dedupeKey = uploadKeyOf(input.conversationId, input.uploader, input.uploadKey);
    const known = (): StoredAttachment | undefined => {
      const id = this.byUpload.get(dedupeKey);
      return id === undefined ? undefined : this.s.attachmentBuckets.get(id);
    };
    const earlier = known();
    if (earlier) {
      // It may still be in the batch being written: answer only once it is durable.
      await this.s.durable(journal.barrier());
      return { attachment: { ...earlier }, created: false };
    }
    // Checked before the file is written too: a job erased already writes no file at all.
    this.s.entryForWrite(input.conversationId, input.forQueueItem);
    const sha256 = createHash('sha256').update(input.content).digest('hex');
    const folder = fileKey(input.conversationId);
    // Outside the conversation's lock (a large file must not hold up its messages); the same content written
    // twice is the same file, so a racing upload is harmless.
    try {
      await this.files.write(folder, sha256, input.content, input.thumbnail);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      throw new StoreError('storage_unavailable', `attachment file not written: ${err.code ?? err.message}`);
    }
    let durable: Promise<void> = journal.barrier();
    let result: { attachment: StoredAttachment; created: boolean };
    try {
      result = await this.s.exclusive(input.conversationId, async () => {
        this.s.entryForWrite(input.conversationId, input.forQueueItem);
        const raced = known();
        if (raced) {
          durable = journal.barrier();
          return { attachment: { ...raced }, created: false };
        }
        const attachment = newAttachment(input, { id: this.s.randomId(), sha256 }, this.s.now());
        this.s.attachmentBuckets.set(attachment.id, attachment);
        this.index(attachment);
        durable = journal.append({ t: 'at', v: attachment } satisfies JournalRecord);
        return { attachment: { ...attachment }, created: true };
      });
    } catch (error) {
      // The conversation (or the job storing the file) was erased meanwhile: the file just written belongs to nothing.
      if (!this.liveContent(folder, sha256)) await this.files.remove(folder, sha256).catch(() => undefined);
      throw error;
    }
    await this.s.durable(durable);
    return result;
  }

  async getAttachment(id: string): Promise<StoredAttachment | undefined> {
    this.s.assertOpen();
    const attachment = this.s.attachmentBuckets.get(id);
    return attachment ? { ...attachment } : undefined;
  }

  async findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    this.s.assertOpen();
    const id = this.byUpload.get(uploadKeyOf(conversationId, uploader, uploadKey));
    const attachment = id === undefined ? undefined : this.s.attachmentBuckets.get(id);
    return attachment ? { ...attachment } : undefined;
  }

  async readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    this.s.assertOpen();
    const attachment = this.s.attachmentBuckets.get(id);
    if (!attachment || (variant === 'thumbnail' && attachment.thumbnailSize === undefined)) return undefined;
    try {
      return await this.files.read(fileKey(attachment.conversationId), attachment.sha256, variant);
    } catch (error) {
      // Erased while it was being read: as if it never existed.
      if (!this.s.attachmentBuckets.get(id)) return undefined;
      const err = error as NodeJS.ErrnoException;
      throw new StoreError('storage_unavailable', `attachment file ${attachment.sha256} unreadable: ${err.code ?? err.message}`);
    }
  }

  /** Every attachment's description (bytes through `readAttachment`), for `npm run import-lowdb`. */
  exportAttachments(): StoredAttachment[] {
    this.s.assertOpen();
    return [...this.s.attachmentBuckets.entries()].map(([, attachment]) => ({ ...attachment }));
  }
}
