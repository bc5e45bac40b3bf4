/**
 * The WhatsApp Cloud API client: one send, media upload or media download per call, classified so the durable queue knows whether to retry
 * (network errors, timeouts, 429, 5xx, Meta's throttling codes) or give up with Meta's reason (other 4xx, e.g.
 * the 24-hour customer service window has closed). Retrying is the queue's job, not this function's.
 */
import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { parseRetryAfter } from './queue-worker.ts';
import { assertLiteralHostAllowed, findForbidden, type guardedLookup } from './ssrf-guard.ts';

/** Where and as whom to send. */
export interface GraphApiTarget {
  /** e.g. https://graph.facebook.com/v21.0 (no trailing slash). */
  apiBase: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs: number;
}

/** Result of one send. */
export type GraphSendResult = { kind: 'sent'; externalId: string; status: number } | GraphFailure;

/** A Graph API call that did not succeed: to retry later, or rejected for good (with Meta's code and reason). */
export type GraphFailure =
  | { kind: 'retry'; error: string; status?: number; retryAfterMs?: number }
  | { kind: 'rejected'; code: string; reason: string; status?: number };

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
export function sendWhatsappText(
  http: AxiosInstance,
  target: GraphApiTarget,
  to: string,
  text: string,
  signal?: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<GraphSendResult> {
  return sendWhatsappMessage(http, target, { to, type: 'text', text: { preview_url: false, body: text } }, signal, now);
}

/** Media uploaded to Meta (`uploadWhatsappMedia`) as WhatsApp sends it: an image or a document with its file name. */
export type WhatsappMediaMessage =
  | { type: 'image'; image: { id: string; caption?: string } }
  | { type: 'document'; document: { id: string; filename: string; caption?: string } };

/** Sends an uploaded image or document to `to`; classified like a text send. */
export function sendWhatsappMedia(
  http: AxiosInstance,
  target: GraphApiTarget,
  to: string,
  media: WhatsappMediaMessage,
  signal?: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<GraphSendResult> {
  return sendWhatsappMessage(http, target, { to, ...media }, signal, now);
}

/** `POST /<PHONE_NUMBER_ID>/messages` with `message` (to, type and its part). */
async function sendWhatsappMessage(
  http: AxiosInstance,
  target: GraphApiTarget,
  message: Record<string, unknown>,
  signal: AbortSignal | undefined,
  now: () => Date,
): Promise<GraphSendResult> {
  const answer = await postToPhoneNumber(
    http,
    target,
    'messages',
    {
      data: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', ...message }),
      headers: { 'Content-Type': 'application/json' },
    },
    signal,
    now,
  );
  if (answer.kind !== 'answered') return answer;
  const { status } = answer;
  const parsed = sendResponseSchema.safeParse(answer.data);
  const first = parsed.success ? parsed.data.messages[0] : undefined;
  // A 2xx without a message id means Meta's answer was garbled; sending again could duplicate, but losing the
  // reply silently is worse, so it counts as a failure to retry.
  if (!first) return { kind: 'retry', error: 'Graph API answered without a message id', status };
  return { kind: 'sent', externalId: first.id, status };
}

/**
 * `POST /<PHONE_NUMBER_ID>/<edge>` with the access token: Meta's 2xx answer, or the failure classified (network
 * errors and HTTP errors alike; never throws for them).
 */
async function postToPhoneNumber(
  http: AxiosInstance,
  target: GraphApiTarget,
  edge: 'messages' | 'media',
  body: { data: string | FormData; headers?: Record<string, string>; maxBodyLength?: number },
  signal: AbortSignal | undefined,
  now: () => Date,
): Promise<{ kind: 'answered'; status: number; data: unknown } | GraphFailure> {
  let response;
  try {
    response = await http.request({
      method: 'POST',
      url: `${target.apiBase}/${encodeURIComponent(target.phoneNumberId)}/${edge}`,
      data: body.data,
      headers: { Authorization: `Bearer ${target.accessToken}`, ...body.headers },
      timeout: target.timeoutMs,
      maxRedirects: 0,
      maxContentLength: 1024 * 1024,
      ...(body.maxBodyLength !== undefined ? { maxBodyLength: body.maxBodyLength } : {}),
      responseType: 'json',
      validateStatus: () => true,
      proxy: false,
      signal,
    });
  } catch (error) {
    return networkFailure(error);
  }
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: 'answered', status, data: response.data as unknown };
  return classifyError(status, response.data, response.headers['retry-after'], now);
}

function networkFailure(error: unknown): GraphFailure {
  const code = (error as { code?: unknown }).code;
  return { kind: 'retry', error: `network error${typeof code === 'string' ? ` (${code})` : ''}` };
}

/** Meta's error answer: retry (throttling, 5xx, Meta's temporary codes) or rejected with Meta's reason. */
function classifyError(status: number, data: unknown, retryAfter: unknown, now: () => Date): GraphFailure {
  const parsedError = errorResponseSchema.safeParse(data);
  const metaError = parsedError.success ? parsedError.data.error : undefined;
  const metaCode = metaError?.code !== undefined ? String(metaError.code) : undefined;
  const reason = describe(metaError) ?? `HTTP ${status}`;
  if (status === 429 || status >= 500 || status === 408 || (metaCode !== undefined && RETRYABLE_META_CODES.has(metaCode))) {
    return {
      kind: 'retry',
      error: `Graph API ${status}${metaCode ? ` (${metaCode})` : ''}: ${reason}`,
      status,
      retryAfterMs: parseRetryAfter(retryAfter, now()),
    };
  }
  return { kind: 'rejected', code: metaCode ?? `http_${status}`, reason, status };
}

const uploadResponseSchema = z.looseObject({ id: z.string().min(1).max(512) });

/** Result of a media upload: Meta's media id, to send in a message (valid at Meta for 30 days). */
export type GraphUploadResult = { kind: 'uploaded'; mediaId: string; status: number } | GraphFailure;

/**
 * `POST /<PHONE_NUMBER_ID>/media` (multipart: `messaging_product`, `type`, `file`). Never throws for HTTP or network
 * failures. Uploading twice only leaves an unused media id at Meta (it expires); nothing reaches the customer.
 */
export async function uploadWhatsappMedia(
  http: AxiosInstance,
  target: GraphApiTarget,
  file: { bytes: Uint8Array; type: string; name: string },
  signal?: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<GraphUploadResult> {
  const form = new FormData();
  form.append('messaging_product', 'whatsapp');
  form.append('type', file.type);
  form.append('file', new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
  const answer = await postToPhoneNumber(http, target, 'media', { data: form, maxBodyLength: Infinity }, signal, now);
  if (answer.kind !== 'answered') return answer;
  const { status } = answer;
  const parsed = uploadResponseSchema.safeParse(answer.data);
  if (!parsed.success) return { kind: 'retry', error: 'Graph API answered the upload without a media id', status };
  return { kind: 'uploaded', mediaId: parsed.data.id, status };
}

const mediaInfoSchema = z.looseObject({
  url: z.string().min(1).max(4096),
  mime_type: z.string().max(200).optional(),
  sha256: z.string().max(200).optional(),
  file_size: z.union([z.number(), z.string()]).optional(),
});

/**
 * Hosts Meta serves media from (`lookaside.fbsbx.com` today). The access token goes with the download, so a media
 * URL elsewhere is refused rather than fetched: the Graph API is trusted for its answers, not with the token.
 */
const META_MEDIA_DOMAINS = ['fbsbx.com', 'facebook.com', 'fbcdn.net', 'whatsapp.net'];

/**
 * How a media URL may be fetched: `trusted` on the configured Graph API's own origin (the operator chose it, as for
 * sends; the loopback fake in tests), `public` on a Meta media host over https (only to public addresses: the
 * SSRF guard runs in the lookup), or undefined: refused.
 */
export function mediaUrlAccess(url: URL, apiBase: string): 'trusted' | 'public' | undefined {
  if (url.origin === new URL(apiBase).origin) return 'trusted';
  if (url.protocol !== 'https:' || url.username || url.password) return undefined;
  const host = url.hostname.toLowerCase();
  return META_MEDIA_DOMAINS.some((domain) => host === domain || host.endsWith(`.${domain}`)) ? 'public' : undefined;
}

/** Result of a media download: the bytes, or why not. */
export type GraphDownloadResult = { kind: 'downloaded'; bytes: Uint8Array; mimeType?: string } | GraphFailure;

/** How one download runs. */
export interface MediaDownloadOptions {
  /** Larger media are refused (`too_large`): by Meta's declared size before a byte is read, else while reading. */
  maxBytes: number;
  signal?: AbortSignal;
  now?: () => Date;
  /** DNS lookup of Meta media hosts (the SSRF guard's `guardedLookup`). */
  lookup: ReturnType<typeof guardedLookup>;
}

/**
 * Meta's two-step media download: `GET /<MEDIA_ID>` for a short-lived URL, then `GET <url>`, both with the access
 * token. Never throws for HTTP or network failures; a SHA-256 that does not match Meta's is retried.
 */
export async function downloadWhatsappMedia(
  http: AxiosInstance,
  target: Pick<GraphApiTarget, 'apiBase' | 'accessToken' | 'timeoutMs'>,
  mediaId: string,
  options: MediaDownloadOptions,
): Promise<GraphDownloadResult> {
  const now = options.now ?? (() => new Date());
  const common = {
    headers: { Authorization: `Bearer ${target.accessToken}` },
    timeout: target.timeoutMs,
    maxRedirects: 0,
    validateStatus: () => true,
    proxy: false as const,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  let info;
  try {
    info = await http.request({ ...common, method: 'GET', url: `${target.apiBase}/${encodeURIComponent(mediaId)}`, responseType: 'json', maxContentLength: 64 * 1024 });
  } catch (error) {
    return networkFailure(error);
  }
  if (info.status < 200 || info.status >= 300) return classifyError(info.status, info.data, info.headers['retry-after'], now);
  const parsed = mediaInfoSchema.safeParse(info.data);
  if (!parsed.success) return { kind: 'retry', error: 'Graph API answered the media lookup without a URL', status: info.status };
  const declaredSize = Number(parsed.data.file_size);
  if (Number.isFinite(declaredSize) && declaredSize > options.maxBytes) {
    return { kind: 'rejected', code: 'too_large', reason: `The media has ${declaredSize} bytes (at most ${options.maxBytes} are kept).`, status: info.status };
  }
  let url: URL;
  try {
    url = new URL(parsed.data.url);
  } catch {
    return { kind: 'rejected', code: 'media_url_refused', reason: 'The media URL is not a URL.', status: info.status };
  }
  const access = mediaUrlAccess(url, target.apiBase);
  if (!access) return { kind: 'rejected', code: 'media_url_refused', reason: `Media is not fetched from ${url.host}.`, status: info.status };
  let bytes;
  try {
    if (access === 'public') assertLiteralHostAllowed(url);
    bytes = await http.request<ArrayBuffer>({
      ...common,
      method: 'GET',
      url: url.toString(),
      responseType: 'arraybuffer',
      maxContentLength: options.maxBytes,
      ...(access === 'public' ? { lookup: options.lookup } : {}),
    });
  } catch (error) {
    const forbidden = findForbidden(error);
    if (forbidden) return { kind: 'rejected', code: 'media_url_refused', reason: forbidden.message };
    if (/maxContentLength/.test((error as Error).message)) {
      return { kind: 'rejected', code: 'too_large', reason: `The media is larger than ${options.maxBytes} bytes.` };
    }
    return networkFailure(error);
  }
  if (bytes.status < 200 || bytes.status >= 300) return classifyError(bytes.status, undefined, bytes.headers['retry-after'], now);
  const content = new Uint8Array(bytes.data);
  const expected = parsed.data.sha256?.toLowerCase();
  if (expected && /^[0-9a-f]{64}$/.test(expected) && createHash('sha256').update(content).digest('hex') !== expected) {
    return { kind: 'retry', error: 'the downloaded media does not match its SHA-256', status: bytes.status };
  }
  return { kind: 'downloaded', bytes: content, ...(parsed.data.mime_type ? { mimeType: parsed.data.mime_type } : {}) };
}

function describe(error: z.infer<typeof errorResponseSchema>['error'] | undefined): string | undefined {
  if (!error) return undefined;
  const parts = [error.error_user_title, error.message, error.error_data?.details, error.error_user_msg]
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .map((p) => p.trim());
  const unique = [...new Set(parts)];
  return unique.length > 0 ? unique.join(' — ').slice(0, 500) : undefined;
}
