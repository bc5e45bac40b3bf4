/** Attachments: a file's bytes and thumbnail stored with its description, once per upload key. */
import { createHash } from 'node:crypto';
import { randomId } from '../../ids.ts';
import { newAttachment, StoreError, type NewAttachment, type StoredAttachment } from '../store.ts';
import { INSERT_ATTACHMENT, attachmentColumns } from './columns.ts';
import { existingQueueItems, type PostgresState } from './postgres-state.ts';

/** The attachment calls of the Store. */
export class PostgresAttachments {
  constructor(private readonly s: PostgresState) {}

  async putAttachment(input: NewAttachment): Promise<{ attachment: StoredAttachment; created: boolean }> {
    const earlier = await this.findAttachmentByUploadKey(input.conversationId, input.uploader, input.uploadKey);
    if (earlier) return { attachment: earlier, created: false };
    const sha256 = createHash('sha256').update(input.content).digest('hex');
    const attachment = newAttachment(input, { id: randomId(), sha256 }, this.s.now());
    const created = await this.s.counting(() => this.s.transaction(async (client) => {
      // Shares the conversation's row lock with erasure: a file is never stored into a conversation being erased.
      await client.query('SELECT 1 FROM conversations WHERE id = $1 FOR SHARE', [input.conversationId]).then(({ rowCount }) => {
        if (!rowCount) throw new StoreError('not_found', `conversation ${input.conversationId} not found`);
      });
      const job = input.forQueueItem;
      if (job !== undefined && !(await existingQueueItems(client, [job])).has(job)) {
        throw new StoreError('not_found', `queue item ${job} not found`);
      }
      const { rowCount } = await client.query(
        `${INSERT_ATTACHMENT} ON CONFLICT (conversation_id, uploader, upload_key) DO NOTHING`,
        attachmentColumns(attachment, input.content, input.thumbnail),
      );
      return rowCount === 1;
    }), (created) => created ? { attachments: 1, attachmentBytes: attachment.size + (attachment.thumbnailSize ?? 0) } : {});
    if (!created) {
      // Another node stored the same upload first.
      const raced = await this.findAttachmentByUploadKey(input.conversationId, input.uploader, input.uploadKey);
      if (!raced) throw new StoreError('conflict', 'attachment upload raced with an erasure');
      return { attachment: raced, created: false };
    }
    return { attachment: { ...attachment }, created: true };
  }

  async getAttachment(id: string): Promise<StoredAttachment | undefined> {
    const { rows } = await this.s.query<{ doc: StoredAttachment }>('SELECT doc FROM attachments WHERE id = $1', [id]);
    return rows[0]?.doc;
  }

  async findAttachmentByUploadKey(conversationId: string, uploader: string, uploadKey: string): Promise<StoredAttachment | undefined> {
    const { rows } = await this.s.query<{ doc: StoredAttachment }>(
      'SELECT doc FROM attachments WHERE conversation_id = $1 AND uploader = $2 AND upload_key = $3',
      [conversationId, uploader, uploadKey],
    );
    return rows[0]?.doc;
  }

  async readAttachment(id: string, variant: 'content' | 'thumbnail'): Promise<Uint8Array | undefined> {
    const { rows } = await this.s.query<{ bytes: Buffer | null }>(
      `SELECT ${variant === 'content' ? 'content' : 'thumbnail'} AS bytes FROM attachments WHERE id = $1`,
      [id],
    );
    return rows[0]?.bytes ?? undefined;
  }
}
