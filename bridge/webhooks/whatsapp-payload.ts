/**
 * Schemas of the WhatsApp Cloud API webhook body. Deliberately tolerant: Meta adds and drops fields between API
 * versions (`recipient_user_id`, a missing `recipient_id`, ids not starting with `wamid.`), so unknown keys pass
 * and only what the bridge uses is checked. Loose objects keep unknown keys as data; nothing here merges them
 * into other objects, so `__proto__` keys are inert.
 */
import { z } from 'zod';

const id = z.string().min(1).max(512);
/** Unix seconds as Meta sends them (a string), tolerated as a number too. */
const unixSeconds = z.union([z.string().regex(/^[0-9]{1,12}$/), z.number().int().min(0)]).transform(Number);

/** One entry of `statuses[].errors[]`. */
export const whatsappErrorSchema = z.looseObject({
  code: z.union([z.number(), z.string()]).optional(),
  title: z.string().max(2000).optional(),
  message: z.string().max(2000).optional(),
  error_data: z.looseObject({ details: z.string().max(2000).optional() }).optional(),
});

/** One delivery status of a message the business sent. */
export const whatsappStatusSchema = z.looseObject({
  id,
  /** sent | delivered | read | failed; newer values (e.g. `deleted`, `warning`) are kept and ignored. */
  status: z.string().min(1).max(50),
  timestamp: unixSeconds.optional(),
  recipient_id: z.string().max(100).optional(),
  errors: z.array(whatsappErrorSchema).max(100).optional(),
});

/** One message a WhatsApp user sent; only the fields used for the text or placeholder are checked. */
export const whatsappMessageSchema = z.looseObject({
  id,
  from: z.string().min(1).max(100),
  timestamp: unixSeconds.optional(),
  type: z.string().min(1).max(50),
  text: z.looseObject({ body: z.string() }).optional(),
});

/** Message types whose file Meta keeps for download (`<type>.id`); the others are text or placeholders. */
export const WHATSAPP_MEDIA_TYPES: ReadonlySet<string> = new Set(['image', 'document', 'audio', 'video', 'sticker']);

/** The media part of an image, document, audio, video or sticker message (`message[message.type]`). */
export const whatsappMediaSchema = z.looseObject({
  id,
  mime_type: z.string().max(200).optional(),
  caption: z.string().optional(),
  filename: z.string().max(1000).optional(),
});

/** The media part of `message` when it is a media message Meta gave an id, else undefined. */
export function mediaOf(message: WhatsappMessage): z.infer<typeof whatsappMediaSchema> | undefined {
  if (!WHATSAPP_MEDIA_TYPES.has(message.type)) return undefined;
  const parsed = whatsappMediaSchema.safeParse((message as Record<string, unknown>)[message.type]);
  return parsed.success ? parsed.data : undefined;
}

/** `contacts[]`: the sender's profile name keyed by wa_id. */
export const whatsappContactSchema = z.looseObject({
  wa_id: z.string().min(1).max(100).optional(),
  profile: z.looseObject({ name: z.string().max(500).optional() }).optional(),
});

/** `entry[].changes[].value`. */
export const whatsappValueSchema = z.looseObject({
  metadata: z.looseObject({ phone_number_id: z.string().max(100).optional() }).optional(),
  contacts: z.array(whatsappContactSchema).max(1000).optional(),
  messages: z.array(whatsappMessageSchema).max(1000).optional(),
  statuses: z.array(whatsappStatusSchema).max(1000).optional(),
});

/** The whole POST body. `field` is usually `messages`; other fields are accepted and ignored. */
export const whatsappWebhookSchema = z.looseObject({
  object: z.string().max(100),
  entry: z
    .array(
      z.looseObject({
        id: z.string().max(100).optional(),
        changes: z
          .array(z.looseObject({ field: z.string().max(100).optional(), value: z.unknown() }))
          .max(1000)
          .default([]),
      }),
    )
    .max(1000),
});

export type WhatsappWebhook = z.infer<typeof whatsappWebhookSchema>;
export type WhatsappValue = z.infer<typeof whatsappValueSchema>;
export type WhatsappStatus = z.infer<typeof whatsappStatusSchema>;
export type WhatsappMessage = z.infer<typeof whatsappMessageSchema>;
export type WhatsappContact = z.infer<typeof whatsappContactSchema>;

/** The `messages` values of a webhook body that this bridge handles (WhatsApp Business Account, field `messages`). */
export function messageValues(body: WhatsappWebhook): { values: WhatsappValue[]; invalid: number } {
  const values: WhatsappValue[] = [];
  let invalid = 0;
  if (body.object !== 'whatsapp_business_account') return { values, invalid };
  for (const entry of body.entry) {
    for (const change of entry.changes) {
      if (change.field !== undefined && change.field !== 'messages') continue;
      const parsed = whatsappValueSchema.safeParse(change.value);
      if (parsed.success) values.push(parsed.data);
      else invalid++;
    }
  }
  return { values, invalid };
}

/** A readable stand-in for a non-text message: `[image] caption`, `[location] name`, `[reaction 👍]`. */
export function placeholderFor(message: WhatsappMessage): string {
  const type = message.type.replace(/[^a-z_]/gi, '').slice(0, 30) || 'message';
  const part = (message as Record<string, unknown>)[message.type];
  const field = (key: string): string | undefined => {
    if (typeof part !== 'object' || part === null) return undefined;
    const value = (part as Record<string, unknown>)[key];
    return typeof value === 'string' && value.trim() ? value.trim() : undefined;
  };
  if (type === 'reaction') return `[reaction${field('emoji') ? ` ${field('emoji')}` : ''}]`;
  if (type === 'button') return field('text') ?? '[button]';
  if (type === 'interactive' && typeof part === 'object' && part !== null) {
    const reply = (part as Record<string, unknown>).button_reply ?? (part as Record<string, unknown>).list_reply;
    const title = typeof reply === 'object' && reply !== null ? (reply as Record<string, unknown>).title : undefined;
    if (typeof title === 'string' && title.trim()) return title.trim();
  }
  const detail = field('caption') ?? field('filename') ?? field('name') ?? field('address');
  return detail ? `[${type}] ${detail}` : `[${type}]`;
}
