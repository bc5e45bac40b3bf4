/**
 * The generic status webhook (`POST /webhooks/status`) for any service that delivers messages for the bridge:
 * a signed JSON body naming a message (by bridge ids or external id) and its new status. Same ranking rules
 * and live pushes as WhatsApp statuses. Format: bridge/webhooks/README.md.
 */
import { z } from 'zod';
import { entityId } from '../../protocol/schemas.ts';
import type { OnceRecord, StatusUpdate } from '../store/store.ts';
import type { ExternalStatuses, ExternalStatusOutcome } from './external-statuses.ts';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${rawBody}`)>`. */
export const STATUS_SIGNATURE_HEADER = 'x-anonchat-signature';
/** Header carrying the sender's unique delivery id; a repeat is refused as a replay. */
export const STATUS_DELIVERY_HEADER = 'x-anonchat-delivery';
/** Store namespace of status webhook delivery ids already seen. */
export const STATUS_DELIVERY_NAMESPACE = 'status-webhook-delivery';
/** Signatures older or newer than this are refused. */
export const STATUS_WINDOW_SECONDS = 300;

/** A delivery id: what a sender can put in a header without ambiguity. */
export const deliveryIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/);

/** The status webhook body. */
export const statusWebhookSchema = z
  .strictObject({
    conversationId: entityId.optional(),
    messageId: entityId.optional(),
    externalId: z.string().min(1).max(512).optional(),
    status: z.enum(['sent', 'delivered', 'read', 'failed']),
    /** When the status happened: ISO 8601, or Unix seconds. */
    timestamp: z.union([z.iso.datetime({ offset: true }), z.number().int().min(0).max(1e11)]),
    error: z.strictObject({ code: z.string().min(1).max(100), reason: z.string().min(1).max(500) }).optional(),
  })
  .refine((b) => (b.messageId !== undefined && b.conversationId !== undefined) || b.externalId !== undefined, {
    message: 'give conversationId + messageId, or externalId',
    path: ['messageId'],
  })
  .refine((b) => b.error === undefined || b.status === 'failed', { message: 'only a failed status carries an error', path: ['error'] });

export type StatusWebhookBody = z.infer<typeof statusWebhookSchema>;

/** Applies one status webhook body; `pending` when its external id is not known yet. */
export async function applyStatusWebhook(
  statuses: ExternalStatuses,
  body: StatusWebhookBody,
  /** The delivery id's replay record, added in the status's own atomic step. */
  once?: OnceRecord,
): Promise<ExternalStatusOutcome> {
  const at = typeof body.timestamp === 'number' ? new Date(body.timestamp * 1000) : new Date(body.timestamp);
  const update: StatusUpdate = { status: body.status, at: at.toISOString() };
  if (body.status === 'failed') update.failure = body.error ?? { code: 'failed', reason: 'The delivery service reported a failure.' };
  if (body.conversationId !== undefined && body.messageId !== undefined) {
    return statuses.applyToMessage(body.conversationId, body.messageId, update, once);
  }
  return statuses.applyByExternalId(body.externalId as string, update, once);
}
