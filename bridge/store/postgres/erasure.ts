/**
 * Erasure: a conversation's rows, files and related records and queue items deleted, and the record it remembers
 * written, in one transaction.
 */
import type { Conversation } from '../../../protocol/conversation.ts';
import type { ConversationErasure } from '../store.ts';
import { json } from './columns.ts';
import type { PostgresState, StoreCounts } from './postgres-state.ts';

/** `eraseConversation`. */
export class PostgresErasure {
  constructor(private readonly s: PostgresState) {}

  /**
   * Deletes the conversation's rows and the related ones, and writes `related.remember`, in one transaction.
   * PostgreSQL keeps deleted rows in its data files until VACUUM reuses the space, and in WAL until it is recycled
   * (see README, Limits).
   */
  async eraseConversation(id: string, related: ConversationErasure = {}): Promise<boolean> {
    const records = related.records ?? [];
    const prefixes = related.queueItemIdPrefixes ?? [];
    const erased = await this.s.counting(() => this.s.transaction(async (client) => {
      const { rows } = await client.query<{ doc: Conversation }>('SELECT doc FROM conversations WHERE id = $1 FOR UPDATE', [id]);
      const conversation = rows[0]?.doc;
      if (related.ifClosedBefore !== undefined && !(conversation && closedBefore(conversation, related.ifClosedBefore))) {
        return undefined;
      }
      let files = { attachments: 0, bytes: 0 };
      if (conversation) {
        const deleted = await client.query<{ attachments: number; bytes: string }>(
          `WITH gone AS (DELETE FROM attachments WHERE conversation_id = $1 RETURNING size + coalesce(thumbnail_size, 0) AS bytes)
           SELECT count(*)::int AS attachments, coalesce(sum(bytes), 0)::text AS bytes FROM gone`,
          [id],
        );
        files = { attachments: deleted.rows[0]!.attachments, bytes: Number(deleted.rows[0]!.bytes) };
        await client.query('DELETE FROM messages WHERE conversation_id = $1', [id]);
        await client.query('DELETE FROM conversations WHERE id = $1', [id]);
      }
      if (records.length > 0) {
        await client.query(
          `DELETE FROM records r USING unnest($1::text[], $2::text[]) AS k (namespace, key)
           WHERE r.namespace = k.namespace AND r.key = k.key`,
          [records.map((r) => r.namespace), records.map((r) => r.key)],
        );
      }
      if (prefixes.length > 0) {
        await client.query('DELETE FROM queue_items WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS p (prefix) WHERE starts_with(id, p.prefix))', [prefixes]);
      }
      const { remember } = related;
      if (conversation && remember) {
        await client.query(
          `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
           ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
          [remember.namespace, remember.key, json(remember.value) ?? null, remember.expiresAt ?? null],
        );
      }
      return conversation && { conversation, files };
    }), (erased): Partial<StoreCounts> => erased ? {
      conversations: -1,
      messages: -erased.conversation.lastSeq,
      attachments: -erased.files.attachments,
      attachmentBytes: -erased.files.bytes,
    } : {});
    return erased !== undefined;
  }
}

/** Closed with `closedAt` and last activity both before `before` (the embedded store's rule). */
function closedBefore(c: Conversation, before: string): boolean {
  return c.state === 'closed' && (c.closedAt ?? c.lastActivityAt) < before && c.lastActivityAt < before;
}
