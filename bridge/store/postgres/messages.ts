/** Message reads: by id, a page of history, the changes since a rev, by a channel's id. */
import type { Message } from '../../../protocol/message.ts';
import type { PostgresState } from './postgres-state.ts';

/** The message reads of the Store. */
export class PostgresMessages {
  constructor(private readonly s: PostgresState) {}

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    const { rows } = await this.s.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE conversation_id = $1 AND id = $2',
      [conversationId, messageId],
    );
    return rows[0]?.doc;
  }

  async getMessages(conversationId: string, opts: { beforeSeq?: number; limit: number }): Promise<Message[]> {
    const limit = Math.max(0, Math.floor(opts.limit));
    const { rows } = await this.s.query<{ doc: Message }>(
      `SELECT doc FROM (
         SELECT seq, doc FROM messages WHERE conversation_id = $1 AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3) newest
       ORDER BY seq`,
      [conversationId, opts.beforeSeq ?? null, limit],
    );
    return rows.map((row) => row.doc);
  }

  async getChangesSince(conversationId: string, afterRev: number, limit: number): Promise<Message[]> {
    const { rows } = await this.s.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE conversation_id = $1 AND rev > $2 ORDER BY rev LIMIT $3',
      [conversationId, afterRev, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.doc);
  }

  private async messageByExternalId(externalId: string): Promise<Message | undefined> {
    const { rows } = await this.s.query<{ doc: Message }>(
      'SELECT doc FROM messages WHERE external_id = $1 LIMIT 1',
      [externalId],
    );
    return rows[0]?.doc;
  }

  async findMessageByExternalId(externalId: string): Promise<Message | undefined> {
    return this.messageByExternalId(externalId);
  }
}
