/** Conversations: creating, reading, listing and changing their state, assignee, external user and visitor email. */
import { type Channel, type Conversation, type ConversationState } from '../../../protocol/conversation.ts';
import { randomId } from '../../ids.ts';
import { newConversation, setVisitorEmailFields, StoreError, type ConversationQuery, type NewConversation } from '../store.ts';
import { json, searchable } from './columns.ts';
import type { PostgresState } from './postgres-state.ts';

/** The conversation calls of the Store. */
export class PostgresConversations {
  constructor(private readonly s: PostgresState) {}

  async createConversation(input: NewConversation): Promise<Conversation> {
    const now = this.s.now();
    const conversation = newConversation(input.id ?? randomId(), input, now);
    const { rows } = await this.s.counting(() => this.s.query<{ doc: Conversation; created: boolean }>(
      `WITH inserted AS (
         INSERT INTO conversations (id, doc, channel, external_user_id, state, last_seq, rev, last_activity_at, name_lower,
           external_user_link)
         VALUES ($1, $2::json, $3, $4, 'open', 0, 0, $5, $6,
           CASE WHEN $4::text IS NULL THEN 0 ELSE nextval('conversation_external_user_links') END)
         ON CONFLICT (id) DO NOTHING
         RETURNING doc)
       SELECT doc, true AS created FROM inserted
       UNION ALL SELECT doc, false FROM conversations WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)`,
      [conversation.id, json(conversation), conversation.channel, conversation.externalUserId ?? null, now, searchable(conversation.name)],
    ), ({ rows }) => ({ conversations: rows[0]?.created ? 1 : 0 }));
    if (rows[0]) {
      return rows[0].doc;
    }
    // Inserted by a concurrent creator after this statement's snapshot: read it now.
    const again = await this.getConversation(conversation.id);
    if (!again) throw new StoreError('storage_unavailable', `conversation ${conversation.id} vanished`);
    return again;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const { rows } = await this.s.query<{ doc: Conversation }>('SELECT doc FROM conversations WHERE id = $1', [id]);
    return rows[0]?.doc;
  }

  async findConversationByExternalUser(channel: Channel, externalUserId: string): Promise<Conversation | undefined> {
    const { rows } = await this.s.query<{ doc: Conversation }>(
      `SELECT doc FROM conversations WHERE channel = $1 AND external_user_id = $2
       ORDER BY external_user_link DESC LIMIT 1`,
      [channel, externalUserId],
    );
    return rows[0]?.doc;
  }

  async setConversationExternalUser(id: string, externalUserId: string): Promise<Conversation> {
    return this.s.transaction(async (client) => {
      const { doc } = await this.s.lockConversation(client, id);
      if (doc.externalUserId === externalUserId) return doc;
      doc.externalUserId = externalUserId;
      await client.query(
        `UPDATE conversations SET doc = $2::json, external_user_id = $3,
           external_user_link = nextval('conversation_external_user_links') WHERE id = $1`,
        [id, json(doc), externalUserId],
      );
      return doc;
    });
  }

  async setConversationState(id: string, state: ConversationState): Promise<Conversation> {
    return this.s.transaction(async (client) => {
      const { doc } = await this.s.lockConversation(client, id);
      if (doc.state === state) return doc;
      doc.state = state;
      if (state === 'closed') doc.closedAt = this.s.now();
      else delete doc.closedAt;
      await this.s.saveConversation(client, doc);
      return doc;
    });
  }

  async setConversationAssignee(
    id: string,
    assigneeId: string | null,
    options: { onlyIfUnassigned?: boolean } = {},
  ): Promise<Conversation> {
    return this.s.transaction(async (client) => {
      const { doc } = await this.s.lockConversation(client, id);
      if ((doc.assigneeId ?? null) === assigneeId) return doc;
      if (options.onlyIfUnassigned && doc.assigneeId !== undefined) return doc;
      if (assigneeId === null) delete doc.assigneeId;
      else doc.assigneeId = assigneeId;
      await this.s.saveConversation(client, doc);
      return doc;
    });
  }

  async setConversationVisitorEmail(id: string, email: string | null, page?: string): Promise<Conversation> {
    return this.s.transaction(async (client) => {
      const { doc } = await this.s.lockConversation(client, id);
      const next = email === null ? undefined : page;
      if ((doc.visitorEmail ?? null) === email && (next === undefined || doc.visitorPage === next)) return doc;
      setVisitorEmailFields(doc, email, next);
      await this.s.saveConversation(client, doc);
      return doc;
    });
  }

  async unassignAgentConversations(agentId: string): Promise<Conversation[]> {
    return this.s.transaction(async (client) => {
      const { rows } = await client.query<{ doc: Conversation }>(
        'SELECT doc FROM conversations WHERE assignee_id = $1 ORDER BY id COLLATE "C" FOR UPDATE',
        [agentId],
      );
      const changed = rows.map((row) => {
        delete row.doc.assigneeId;
        return row.doc;
      });
      if (changed.length > 0) {
        await client.query(
          `UPDATE conversations c SET doc = v.doc::json, assignee_id = NULL
           FROM unnest($1::text[], $2::text[]) AS v (id, doc) WHERE c.id = v.id`,
          [changed.map((c) => c.id), changed.map((c) => json(c))],
        );
      }
      return changed;
    });
  }

  async closedConversationsBefore(before: string, limit: number): Promise<string[]> {
    const { rows } = await this.s.query<{ id: string }>(
      `SELECT id FROM conversations
       WHERE state = 'closed' AND coalesce(closed_at, last_activity_at) < $1 AND last_activity_at < $1
       ORDER BY closed_at LIMIT $2`,
      [before, Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => row.id);
  }

  async listConversations(query: ConversationQuery): Promise<Conversation[]> {
    const needle = query.query?.trim() ? searchable(query.query.trim()) : null;
    const limit = query.limit === undefined ? null : Math.max(0, Math.floor(query.limit));
    const { rows } = await this.s.query<{ doc: Conversation }>(
      `SELECT doc FROM conversations c
       WHERE last_seq > 0 AND ($1::text IS NULL OR state = $1)
         AND (NOT $4::boolean OR assignee_id IS NOT DISTINCT FROM $5::text)
         AND ($2::text IS NULL OR strpos(name_lower, $2) > 0
              OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND strpos(m.text_lower, $2) > 0))
       ORDER BY last_activity_at DESC, id COLLATE "C" DESC
       LIMIT $3`,
      [query.filter === 'open' ? 'open' : null, needle, limit, query.assigneeId !== undefined, query.assigneeId ?? null],
    );
    return rows.map((row) => row.doc);
  }
}
