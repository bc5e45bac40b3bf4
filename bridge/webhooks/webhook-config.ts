/**
 * The webhook settings: WhatsApp Cloud API, the generic status webhook and outbound event webhooks. `config.ts`
 * spreads `webhookEnvShape` into its env schema and stores `toWebhookConfig(env)` as `config.webhooks`.
 */
import { z } from 'zod';

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const ms = z.coerce.number().int().min(1).max(7 * 24 * 3600 * 1000);
const attempts = z.coerce.number().int().min(1).max(1000);

/** Meta's Graph API with the version this bridge was written against. */
export const DEFAULT_WHATSAPP_API_BASE = 'https://graph.facebook.com/v21.0';

/** The environment variables of the webhook part, each with its default (spread into `envSchema`). */
export const webhookEnvShape = {
  WHATSAPP_VERIFY_TOKEN: z.string().min(8, 'must be at least 8 characters').max(200).optional(),
  WHATSAPP_APP_SECRET: z.string().min(8, 'must be at least 8 characters').max(200).optional(),
  WHATSAPP_ACCESS_TOKEN: z.string().min(8, 'must be at least 8 characters').max(4096).optional(),
  WHATSAPP_PHONE_NUMBER_ID: z.string().regex(/^[0-9]{1,30}$/, 'must be the numeric phone number id').optional(),
  WHATSAPP_API_BASE: z.url({ protocol: /^https?$/ }).default(DEFAULT_WHATSAPP_API_BASE),
  WHATSAPP_TIMEOUT_MS: ms.default(15_000),
  WHATSAPP_MAX_ATTEMPTS: attempts.default(8),
  WHATSAPP_RETRY_BASE_MS: ms.default(2_000),
  STATUS_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').max(500).optional(),
  WEBHOOK_URLS: z.string().max(10_000).optional(),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').max(500).optional(),
  WEBHOOK_ALLOW_PRIVATE: boolean.default(false),
  WEBHOOK_TIMEOUT_MS: ms.default(10_000),
  WEBHOOK_MAX_ATTEMPTS: attempts.default(12),
  WEBHOOK_RETRY_BASE_MS: ms.default(5_000),
  WEBHOOK_RETRY_MAX_MS: ms.default(6 * 3600 * 1000),
  WEBHOOK_POLL_MS: ms.default(1_000),
  QUEUE_LEASE_MS: ms.default(60_000),
};

const webhookEnvSchema = z.object(webhookEnvShape);
type WebhookEnv = z.infer<typeof webhookEnvSchema>;

/** Retry policy of one durable queue. */
export interface RetryPolicy {
  /** Attempts before an item is marked dead. */
  maxAttempts: number;
  /** Ceiling of the delay before the second attempt; doubles each time (equal jitter: protocol/backoff.ts). */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** WhatsApp Cloud API settings; each part is undefined when its variables are unset (that endpoint is off). */
export interface WhatsappConfig {
  /** GET handshake; unset → GET /webhooks/whatsapp answers 404. */
  verifyToken?: string;
  /** POST signature key; unset → POST /webhooks/whatsapp answers 404. */
  appSecret?: string;
  /** Outbound sends; unset → agent replies in WhatsApp conversations are marked failed (`whatsapp_not_configured`). */
  send?: { accessToken: string; phoneNumberId: string };
  apiBase: string;
  timeoutMs: number;
  retry: RetryPolicy;
}

/** Everything the webhook part needs, validated. */
export interface WebhookConfig {
  whatsapp: WhatsappConfig;
  /** Shared secret of `POST /webhooks/status`; unset → that endpoint answers 404. */
  statusWebhookSecret?: string;
  /** Outbound event webhooks. */
  events: {
    urls: string[];
    secret?: string;
    /** Allow receivers on loopback / private / link-local addresses. */
    allowPrivate: boolean;
    timeoutMs: number;
    retry: RetryPolicy;
  };
  /** How often the queue workers look for due items (they are also woken on every enqueue). */
  pollMs: number;
  /**
   * How long a node's claim on a queue item lasts (QUEUE_LEASE_MS): the items a dead node had claimed wait this long
   * before another node takes them. Longer than both send timeouts, so a live attempt never outlasts its claim.
   */
  leaseMs: number;
}

/**
 * Maps the validated variables to `WebhookConfig`. A setting that is valid alone but not with the others is
 * reported through `configError` (config.ts passes its own ConfigError), naming the variable.
 */
export function toWebhookConfig(env: WebhookEnv, configError: (message: string) => Error): WebhookConfig {
  const urls = (env.WEBHOOK_URLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw configError(`invalid configuration:\n  WEBHOOK_URLS: "${url}" is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw configError(`invalid configuration:\n  WEBHOOK_URLS: "${url}" must be http(s)`);
    }
    if (parsed.username || parsed.password) {
      throw configError(`invalid configuration:\n  WEBHOOK_URLS: "${url}" must not carry credentials`);
    }
  }
  if (urls.length > 0 && !env.WEBHOOK_SECRET) {
    throw configError('invalid configuration:\n  WEBHOOK_SECRET: required when WEBHOOK_URLS is set');
  }
  const longestAttempt = Math.max(env.WHATSAPP_TIMEOUT_MS, env.WEBHOOK_TIMEOUT_MS);
  if (env.QUEUE_LEASE_MS <= longestAttempt) {
    throw configError(
      `invalid configuration:\n  QUEUE_LEASE_MS: must be longer than WHATSAPP_TIMEOUT_MS and WEBHOOK_TIMEOUT_MS (${longestAttempt} ms), or an attempt could outlast its claim`,
    );
  }
  const send =
    env.WHATSAPP_ACCESS_TOKEN && env.WHATSAPP_PHONE_NUMBER_ID
      ? { accessToken: env.WHATSAPP_ACCESS_TOKEN, phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID }
      : undefined;
  return {
    whatsapp: {
      verifyToken: env.WHATSAPP_VERIFY_TOKEN,
      appSecret: env.WHATSAPP_APP_SECRET,
      send,
      apiBase: env.WHATSAPP_API_BASE.replace(/\/+$/, ''),
      timeoutMs: env.WHATSAPP_TIMEOUT_MS,
      retry: {
        maxAttempts: env.WHATSAPP_MAX_ATTEMPTS,
        baseDelayMs: env.WHATSAPP_RETRY_BASE_MS,
        maxDelayMs: Math.max(env.WHATSAPP_RETRY_BASE_MS, 10 * 60 * 1000),
      },
    },
    statusWebhookSecret: env.STATUS_WEBHOOK_SECRET,
    events: {
      urls,
      secret: env.WEBHOOK_SECRET,
      allowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      retry: {
        maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
        baseDelayMs: env.WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: Math.max(env.WEBHOOK_RETRY_BASE_MS, env.WEBHOOK_RETRY_MAX_MS),
      },
    },
    pollMs: env.WEBHOOK_POLL_MS,
    leaseMs: env.QUEUE_LEASE_MS,
  };
}

/** `WebhookConfig` from raw variables alone (tests, tools); throws on invalid values. */
export function webhookConfigFromEnv(env: Record<string, string>): WebhookConfig {
  return toWebhookConfig(webhookEnvSchema.parse(env), (message) => new Error(message));
}
