/**
 * How values become column values: JSON documents, lower-cased search text, the one bulk message insert and the one
 * attachment row.
 */
import type { Message } from '../../../protocol/message.ts';
import { STATUS_RANK } from '../../../protocol/status.ts';
import type { StoredAttachment } from '../store.ts';

/**
 * Inserts messages given as `messageColumns` ($1..$10, one array per column, the documents as one JSON array): one
 * statement for any number of them (the append batch, the lowdb import).
 */
export const INSERT_MESSAGES = `INSERT INTO messages (conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc)
  SELECT conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc
  FROM ROWS FROM (unnest($1::text[]), unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]), unnest($5::bigint[]),
                  unnest($6::text[]), unnest($7::smallint[]), unnest($8::text[]), unnest($9::text[]),
                  json_array_elements($10::json))
    AS v (conversation_id, seq, id, client_id, rev, role, status_rank, external_id, text_lower, doc)`;

/** The parameters of INSERT_MESSAGES for `messages`: what the indexed columns hold, and the whole messages as JSON. */
export function messageColumns(messages: readonly Message[], docs = messages.map((m) => json(m))): unknown[] {
  return [
    messages.map((m) => m.conversationId),
    messages.map((m) => m.seq),
    messages.map((m) => m.id),
    messages.map((m) => m.clientId),
    messages.map((m) => m.rev),
    messages.map((m) => m.author.role),
    messages.map((m) => STATUS_RANK[m.status]),
    messages.map((m) => m.externalId ?? null),
    messages.map((m) => searchable(m.text)),
    jsonArray(docs),
  ];
}

/**
 * Documents (each `json`'s text) as one JSON array parameter, read back with `json_array_elements`. As a `text[]`
 * parameter every quote in every document is escaped by the client and unescaped by the server's array parser, a
 * cost per byte on both sides; inside a JSON array the text goes as it is.
 */
export function jsonArray(docs: readonly string[]): string {
  return `[${docs.join(',')}]`;
}

/**
 * Inserts one attachment given as `attachmentColumns` ($1..$9); the caller ends it with its own `ON CONFLICT` (an
 * upload stands back for the same upload key, the lowdb import for any row already there).
 */
export const INSERT_ATTACHMENT = `INSERT INTO attachments (id, conversation_id, uploader, upload_key, size, thumbnail_size, doc, content, thumbnail)
  VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9)`;

/** The parameters of INSERT_ATTACHMENT: what the indexed columns hold, the description as JSON, and the bytes. */
export function attachmentColumns(attachment: StoredAttachment, content: Uint8Array, thumbnail: Uint8Array | undefined): unknown[] {
  const bytes = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return [
    attachment.id,
    attachment.conversationId,
    attachment.uploader,
    attachment.uploadKey,
    attachment.size,
    attachment.thumbnailSize ?? null,
    json(attachment),
    bytes(content),
    thumbnail ? bytes(thumbnail) : null,
  ];
}

/** Lower-cased for `strpos` search as the embedded store compares (`toLowerCase`); `text` cannot hold NUL. */
export function searchable(text: string): string {
  return text.toLowerCase().replaceAll('\u0000', '');
}

/**
 * JSON for a `json` column. PostgreSQL refuses the escape JSON.stringify writes for a lone UTF-16 surrogate (which
 * UTF-8 cannot encode either), so such strings are stored with U+FFFD in its place, as any UTF-8 system would.
 */
export function json(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined || !text.includes('\\ud')) return text;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replace(LONE_SURROGATE, '\ufffd') : v));
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
