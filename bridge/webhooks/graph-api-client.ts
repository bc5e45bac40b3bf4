/**
 * The WhatsApp Cloud API client: one text send per call, classified so the durable queue knows whether to retry
 * (network errors, timeouts, 429, 5xx, Meta's throttling codes) or give up with Meta's reason (other 4xx, e.g.
 * the 24-hour customer service window has closed). Retrying is the queue's job, not this function's.
 */
import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { parseRetryAfter } from './queue-worker.ts';

/** Where and as whom to send. */
export interface GraphApiTarget {
  /** e.g. https://graph.facebook.com/v21.0 (no trailing slash). */
  apiBase: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs: number;
}

/** Result of one send. */
export type GraphSendResult =
  | { kind: 'sent'; externalId: string; status: number }
  | { kind: 'retry'; error: string; status?: number; retryAfterMs?: number }
  | { kind: 'rejected'; code: string; reason: string; status: number };

const sendResponseSchema = z.looseObject({
  messages: z.array(z.looseObject({ id: z.string().min(1).max(512) })).min(1),
});

const errorResponseSchema = z.looseObject({
  error: z.looseObject({
    message: z.string().max(2000).optional(),
    code: z.union([z.number(), z.string()]).optional(),
    error_subcode: z.union([z.number(), z.string()]).optional(),
    error_user_title: z.string().max(2000).optional(),
    error_user_msg: z.string().max(2000).optional(),
    error_data: z.looseObject({ details: z.string().max(2000).optional() }).optional(),
  }),
});

/**
 * Meta error codes that mean "later", even when they arrive with a 4xx: rate and throughput limits, temporary
 * service errors (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
 */
const RETRYABLE_META_CODES = new Set(['1', '2', '4', '17', '341', '80007', '130429', '131000', '131016', '131056', '133004']);

/** Sends `text` to the WhatsApp user `to` (their wa_id). Never throws for HTTP or network failures. */
export async function sendWhatsappText(
  http: AxiosInstance,
  target: GraphApiTarget,
  to: string,
  text: string,
  signal?: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<GraphSendResult> {
  const url = `${target.apiBase}/${encodeURIComponent(target.phoneNumberId)}/messages`;
  let response;
  try {
    response = await http.request({
      method: 'POST',
      url,
      data: JSON.stringify({
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to,
        type: 'text',
        text: { preview_url: false, body: text },
      }),
      headers: { Authorization: `Bearer ${target.accessToken}`, 'Content-Type': 'application/json' },
      timeout: target.timeoutMs,
      maxRedirects: 0,
      maxContentLength: 1024 * 1024,
      responseType: 'json',
      validateStatus: () => true,
      proxy: false,
      signal,
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { kind: 'retry', error: `network error${typeof code === 'string' ? ` (${code})` : ''}` };
  }
  const { status } = response;
  if (status >= 200 && status < 300) {
    const parsed = sendResponseSchema.safeParse(response.data);
    const first = parsed.success ? parsed.data.messages[0] : undefined;
    // A 2xx without a message id means Meta's answer was garbled; sending again could duplicate, but losing the
    // reply silently is worse, so it counts as a failure to retry.
    if (!first) return { kind: 'retry', error: 'Graph API answered without a message id', status };
    return { kind: 'sent', externalId: first.id, status };
  }
  const parsedError = errorResponseSchema.safeParse(response.data);
  const metaError = parsedError.success ? parsedError.data.error : undefined;
  const metaCode = metaError?.code !== undefined ? String(metaError.code) : undefined;
  const reason = describe(metaError) ?? `HTTP ${status}`;
  if (status === 429 || status >= 500 || status === 408 || (metaCode !== undefined && RETRYABLE_META_CODES.has(metaCode))) {
    return {
      kind: 'retry',
      error: `Graph API ${status}${metaCode ? ` (${metaCode})` : ''}: ${reason}`,
      status,
      retryAfterMs: parseRetryAfter(response.headers['retry-after'], now()),
    };
  }
  return { kind: 'rejected', code: metaCode ?? `http_${status}`, reason, status };
}

function describe(error: z.infer<typeof errorResponseSchema>['error'] | undefined): string | undefined {
  if (!error) return undefined;
  const parts = [error.error_user_title, error.message, error.error_data?.details, error.error_user_msg]
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .map((p) => p.trim());
  const unique = [...new Set(parts)];
  return unique.length > 0 ? unique.join(' — ').slice(0, 500) : undefined;
}
