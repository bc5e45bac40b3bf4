/**
 * Bridge configuration: every setting comes from environment variables, validated here with zod so a bad value
 * stops the start with a message naming the variable. `main.ts` is the only caller that passes `process.env`.
 */
import { z } from 'zod';
import { resolve } from 'node:path';
import { loadSecrets } from './auth/secrets.ts';
import { loadVapidKeys, vapidPrivateKey, vapidPublicKey } from './auth/vapid-keys.ts';
import { DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS } from './cluster/postgres-pool.ts';
import { FROZEN_NODE_AFTER_MS } from './store/postgres/change-feed.ts';
import { toWebhookConfig, webhookEnvShape, type WebhookConfig } from './webhooks/webhook-config.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const positiveInt = z.coerce.number().int().min(1).max(1_000_000_000);
/** Per-IP connection cap when unset: offices and mobile carriers put hundreds of visitors behind one NAT address, so it stops floods, not crowds. */
const DEFAULT_MAX_CONNECTIONS_PER_IP = 1024;
const secret = z.string().min(16, 'must be at least 16 characters');
/** A PostgreSQL URL naming a database; anything else is refused before a connection is tried. */
const databaseUrl = z.string().superRefine((value, ctx) => {
  const example = 'must be a URL like postgres://user:password@host:5432/database';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: example });
    return;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    ctx.addIssue({ code: 'custom', message: `has scheme "${url.protocol.replace(/:$/, '')}"; ${example}` });
  } else if (url.pathname.replace(/^\//, '') === '') {
    ctx.addIssue({ code: 'custom', message: `names no database; ${example}` });
  }
});

/**
 * The raw environment variables the bridge reads, each with its default. Add new settings here (one line each)
 * and map them in `toConfig` below; the webhook settings (WHATSAPP_*, STATUS_WEBHOOK_SECRET, WEBHOOK_*) go in the
 * marked section.
 */
export const envSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(5001),
  DATA_DIR: z.string().min(1).default('./data'),
  // Set: PostgreSQL store and Socket.IO's PostgreSQL adapter (several bridges on one database); unset: lowdb in DATA_DIR.
  DATABASE_URL: databaseUrl.optional(),
  // With DATABASE_URL: PostgreSQL ends a connection that keeps a transaction open this long without a statement (a
  // frozen node's, whose row locks would stop every other node's appends); 0 leaves the server's setting.
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce
    .number('must be a whole number of milliseconds')
    .int('must be a whole number of milliseconds')
    .refine((ms) => ms === 0 || (ms >= 100 && ms <= 3_600_000), 'must be 0 (the server decides) or 100 – 3600000 (ms)')
    .default(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS),
  // With DATABASE_URL: a node whose change feed LISTEN connection has run nothing this long is frozen, and the other
  // nodes end its connections (its unread notifications would fill PostgreSQL's queue for every node); 0: never.
  DATABASE_FROZEN_NODE_AFTER_MS: z.coerce
    .number('must be a whole number of milliseconds')
    .int('must be a whole number of milliseconds')
    .refine((ms) => ms === 0 || (ms >= 1000 && ms <= 86_400_000), 'must be 0 (never) or 1000 – 86400000 (ms)')
    .default(FROZEN_NODE_AFTER_MS),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  ALLOWED_ORIGINS: z.string().optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  VISITOR_TOKEN_SECRET: secret.optional(),
  AGENT_TOKEN_SECRET: secret.optional(),
  SITE_SECRET: secret.optional(),
  API_KEY: z.string().min(24, 'must be at least 24 characters').optional(),
  // Bearer token for GET /metrics; unset, the endpoint answers 404.
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(1000).optional(),
  // E-mail (#13): set, the widget offers to leave an address while no agent is online and notifications are mailed.
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be smtp:// or smtps://user:pass@host:port' }).optional(),
  MAIL_FROM: z.email({ error: 'must be an e-mail address' }).max(254).optional(),
  // Notification mails (README "Notifications while away"): how long a visitor message waits for an answer, and an
  // agent reply for the visitor to read it, before a mail goes out.
  NOTIFY_UNANSWERED_AFTER_MS: z.coerce.number().int().min(1000).max(30 * 86_400_000).default(300_000),
  NOTIFY_VISITOR_AFTER_MS: z.coerce.number().int().min(1000).max(30 * 86_400_000).default(600_000),
  // Web Push to agents (README "Notifications while away"): the VAPID key pair (generated into DATA_DIR/vapid.json
  // when unset, except with DATABASE_URL) and the contact push services see in every request's JWT.
  VAPID_PUBLIC_KEY: vapidPublicKey.optional(),
  VAPID_PRIVATE_KEY: vapidPrivateKey.optional(),
  VAPID_SUBJECT: z
    .string()
    .refine((value) => /^mailto:[^\s@]+@[^\s@]+$/.test(value) || /^https:\/\/[^\s]+$/.test(value), 'must be a mailto: address or an https:// URL')
    .optional(),
  AGENT_BOOTSTRAP_NAME: z.string().min(1).max(100).default('admin'),
  AGENT_BOOTSTRAP_PASSWORD: z.string().min(8, 'must be at least 8 characters').max(1000).optional(),
  RATE_LIMIT_MESSAGES_PER_MINUTE: positiveInt.default(60),
  RATE_LIMIT_EVENTS_PER_MINUTE: positiveInt.default(600),
  RATE_LIMIT_TYPING_PER_MINUTE: positiveInt.default(60),
  RATE_LIMIT_CONNECTIONS_PER_MINUTE: positiveInt.default(60),
  RATE_LIMIT_HTTP_PER_MINUTE: positiveInt.default(600),
  RATE_LIMIT_LOGIN_PER_MINUTE: positiveInt.default(10),
  MAX_HTTP_BUFFER_SIZE: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(16 * 1024),
  CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  TRUST_PROXY: boolean.default(false),
  // Visitor context for agents (README "Visitor context"): the page, referrer, browser, OS, language and local time.
  VISITOR_CONTEXT: boolean.default(true),
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(120_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  HTTP_CONNECTIONS_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  // 0 turns the cap off. Unset: DEFAULT_MAX_CONNECTIONS_PER_IP, or off with TRUST_PROXY (every client then shares the proxy's address).
  MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).max(1_000_000).optional(),
  // Storage checkpoints (bridge/store/lowdb/README.md): how often, and past how many journal bytes, changed documents are written.
  CHECKPOINT_INTERVAL_MS: z.coerce
    .number('must be a whole number of milliseconds')
    .int('must be a whole number of milliseconds')
    .min(50, 'must be at least 50 (ms)')
    .max(86_400_000, 'must be at most 86400000 (one day)')
    .default(30_000),
  CHECKPOINT_BYTES: z.coerce
    .number('must be a whole number of bytes')
    .int('must be a whole number of bytes')
    .min(4096, 'must be at least 4096 (bytes)')
    .max(1024 * 1024 * 1024, 'must be at most 1073741824 (1 GiB)')
    .default(16 * 1024 * 1024),
  // Retention (README "Retention"): closed conversations are erased after RETENTION_DAYS (unset: kept), delivered and
  // dead queue items removed after QUEUE_RETENTION_DAYS.
  RETENTION_DAYS: z.coerce.number('must be a whole number of days').int('must be a whole number of days').min(1).max(36_500).optional(),
  QUEUE_RETENTION_DAYS: z.coerce.number('must be a whole number of days').int('must be a whole number of days').min(1).max(36_500).default(30),
  // Attachments (README "Attachments"): largest upload in bytes, and how long a signed read link lives.
  ATTACHMENT_MAX_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024 * 1024).default(10 * 1024 * 1024),
  ATTACHMENT_LINK_TTL_SECONDS: z.coerce.number().int().min(10).max(7 * 24 * 3600).default(600),
  // ---- webhook settings (owned by the webhook engineer): add WHATSAPP_*, STATUS_WEBHOOK_SECRET, WEBHOOK_* here ----
  ...webhookEnvShape,
});

/** The validated environment, before it is mapped to `BridgeConfig`. */
export type BridgeEnv = z.infer<typeof envSchema>;

/** Secrets the bridge signs and verifies with. */
export interface BridgeSecrets {
  visitorToken: string;
  agentToken: string;
  /** Site owners compute `HMAC-SHA256(site, userId)` with it to verify their users. */
  site: string;
}

/** Per-client limits against abuse. */
export interface RateLimits {
  /** `message:send` (and REST sends) per socket per minute. */
  messagesPerMinute: number;
  /** Every other acked event per socket per minute. */
  eventsPerMinute: number;
  /** Typing events per socket per minute (beyond the TYPING_THROTTLE_MS drop). */
  typingPerMinute: number;
  /** Socket.IO namespace connections per IP per minute. */
  connectionsPerMinute: number;
  /** REST requests per IP per minute. */
  httpPerMinute: number;
  /** Login attempts per IP per minute. */
  loginPerMinute: number;
}

/** Guards of the HTTP server against slow, idle and piled-up connections. */
export interface HttpServerLimits {
  /** A request's headers must arrive within this long of the connection (or the previous request). */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this long. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** How often the server looks for connections past the two timeouts above (Node's default is 30 s). */
  connectionsCheckIntervalMs: number;
  /** Concurrent TCP connections per remote address; beyond it a connection is closed at once. 0 = no cap. */
  maxConnectionsPerIp: number;
}

/** When the lowdb store writes its changed documents and starts a new journal. */
export interface StorageSettings {
  /** A checkpoint runs this often when anything changed (CHECKPOINT_INTERVAL_MS). */
  checkpointIntervalMs: number;
  /** A checkpoint runs once the journal holds this many bytes (CHECKPOINT_BYTES). */
  checkpointBytes: number;
}

/** What the background retention sweep removes, and how often it looks. */
export interface RetentionSettings {
  /** Closed conversations are erased this many days after closing (RETENTION_DAYS); undefined keeps them. */
  conversationDays?: number;
  /** Delivered and dead queue items are removed this many days after their last update (QUEUE_RETENTION_DAYS). */
  queueDays: number;
  /** Time between sweeps (the first runs one interval after start). */
  sweepIntervalMs: number;
}

/** Uploads and reading of attachments. */
export interface AttachmentSettings {
  /** Largest upload in bytes (ATTACHMENT_MAX_BYTES); larger ones get 413 before their body is read. */
  maxBytes: number;
  /** Lifetime of a signed read link (ATTACHMENT_LINK_TTL_SECONDS). */
  linkTtlSeconds: number;
}

/** Everything the bridge needs to run, validated. */
export interface BridgeConfig {
  host: string;
  port: number;
  /** Absolute data directory. */
  dataDir: string;
  /** PostgreSQL database of a cluster (DATABASE_URL); undefined runs the embedded lowdb store in `dataDir`. */
  databaseUrl?: string;
  /** `idle_in_transaction_session_timeout` of the cluster's connections (ms; 0 leaves the server's setting). */
  databaseIdleInTransactionTimeoutMs: number;
  /** A node whose change feed connection ran nothing this long is cut off by the others (ms; 0: never). */
  databaseFrozenNodeAfterMs: number;
  /** The URL people open (printed in the banner); no trailing slash. */
  publicUrl: string;
  /** Origins allowed to open the visitor namespace; `'*'` allows any. */
  allowedOrigins: string[] | '*';
  logLevel: (typeof LOG_LEVELS)[number];
  secrets: BridgeSecrets;
  /** Server-to-server key for REST; undefined disables integrations. */
  apiKey?: string;
  /** Bearer token Prometheus presents at `GET /metrics`; undefined turns the endpoint off (404). */
  metricsToken?: string;
  agentBootstrap: { name: string; password?: string };
  /** SMTP server and sender (`SMTP_URL`, `MAIL_FROM`); undefined turns the e-mail features off. */
  mail?: MailSettings;
  /** VAPID keys and subject of Web Push to agents; undefined (a cluster without VAPID_* keys) turns Web Push off. */
  push?: PushSettings;
  rateLimits: RateLimits;
  /** Largest Socket.IO packet in bytes. */
  maxHttpBufferSize: number;
  /** A transport that has not joined a namespace this long after connecting is closed. */
  connectTimeoutMs: number;
  /** Honour X-Forwarded-For (only behind a reverse proxy). */
  trustProxy: boolean;
  /** Take and keep the visitor context (page, referrer, browser, OS, language, time zone); false: the widget sends none. */
  visitorContext: boolean;
  /** HTTP server timeouts and the per-IP connection cap. */
  http: HttpServerLimits;
  /** Checkpoint cadence of the lowdb store (passed to `LowdbStore`). */
  storage: StorageSettings;
  retention: RetentionSettings;
  attachments: AttachmentSettings;
  // ---- webhook settings (owned by the webhook engineer) ----
  /** WhatsApp Cloud API, status webhook and outbound event webhooks (bridge/webhooks/README.md). */
  webhooks: WebhookConfig;
}

/** Where mail goes out (nodemailer's URL form), whom it comes from, and when notifications are due. */
export interface MailSettings {
  smtpUrl: string;
  from: string;
  /** A visitor message unanswered this long is mailed to the assignee (or the admins). */
  unansweredAfterMs: number;
  /** An agent reply the visitor has not read this long is mailed to the visitor. */
  visitorAfterMs: number;
}

/** How the bridge signs Web Push requests (RFC 8292). */
export interface PushSettings {
  /** Uncompressed P-256 public key, base64url: the console subscribes with it as `applicationServerKey`. */
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact push services may use (the JWT's `sub`). */
  subject: string;
}

/** Thrown when the environment is invalid; the message names each bad variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Options for `loadConfig`. */
export interface LoadConfigOptions {
  /** Read/create `DATA_DIR/secrets.json` for secrets the environment lacks (default true). */
  persistSecrets?: boolean;
}

/**
 * Validates `env` and returns the bridge configuration. Secrets missing from the environment are read from
 * (or generated into) `DATA_DIR/secrets.json`, mode 0600.
 */
export function loadConfig(env: Record<string, string | undefined>, options: LoadConfigOptions = {}): BridgeConfig {
  // Empty strings count as unset, so `PORT= npm start` falls back to the default instead of failing.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return toConfig(parsed.data, options);
}

function toConfig(env: BridgeEnv, options: LoadConfigOptions): BridgeConfig {
  const dataDir = resolve(env.DATA_DIR);
  const urlHost = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  const publicUrl = (env.PUBLIC_URL ?? `http://${urlHost}:${env.PORT}`).replace(/\/+$/, '');
  // Cluster nodes must sign with the same secrets, so they come from the environment, never a per-node file.
  const secrets =
    options.persistSecrets === false || env.DATABASE_URL !== undefined
      ? requireSecrets(env)
      : loadSecrets(dataDir, {
          visitorToken: env.VISITOR_TOKEN_SECRET,
          agentToken: env.AGENT_TOKEN_SECRET,
          site: env.SITE_SECRET,
        });
  return {
    host: env.HOST,
    port: env.PORT,
    dataDir,
    ...(env.DATABASE_URL !== undefined ? { databaseUrl: env.DATABASE_URL } : {}),
    databaseIdleInTransactionTimeoutMs: env.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    databaseFrozenNodeAfterMs: env.DATABASE_FROZEN_NODE_AFTER_MS,
    publicUrl,
    allowedOrigins: parseOrigins(env.ALLOWED_ORIGINS, publicUrl, env.PORT),
    logLevel: env.LOG_LEVEL,
    secrets,
    apiKey: env.API_KEY,
    metricsToken: env.METRICS_TOKEN,
    agentBootstrap: { name: env.AGENT_BOOTSTRAP_NAME, password: env.AGENT_BOOTSTRAP_PASSWORD },
    ...(env.SMTP_URL !== undefined
      ? {
          mail: {
            smtpUrl: env.SMTP_URL,
            from: requireMailFrom(env),
            unansweredAfterMs: env.NOTIFY_UNANSWERED_AFTER_MS,
            visitorAfterMs: env.NOTIFY_VISITOR_AFTER_MS,
          },
        }
      : {}),
    ...pushSettings(env, dataDir, publicUrl, options),
    rateLimits: {
      messagesPerMinute: env.RATE_LIMIT_MESSAGES_PER_MINUTE,
      eventsPerMinute: env.RATE_LIMIT_EVENTS_PER_MINUTE,
      typingPerMinute: env.RATE_LIMIT_TYPING_PER_MINUTE,
      connectionsPerMinute: env.RATE_LIMIT_CONNECTIONS_PER_MINUTE,
      httpPerMinute: env.RATE_LIMIT_HTTP_PER_MINUTE,
      loginPerMinute: env.RATE_LIMIT_LOGIN_PER_MINUTE,
    },
    maxHttpBufferSize: env.MAX_HTTP_BUFFER_SIZE,
    connectTimeoutMs: env.CONNECT_TIMEOUT_MS,
    trustProxy: env.TRUST_PROXY,
    visitorContext: env.VISITOR_CONTEXT,
    http: {
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      // Node requires requestTimeout ≥ headersTimeout (or 0); a shorter setting is raised instead of refused.
      requestTimeoutMs: Math.max(env.HTTP_REQUEST_TIMEOUT_MS, env.HTTP_HEADERS_TIMEOUT_MS),
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckIntervalMs: env.HTTP_CONNECTIONS_CHECK_INTERVAL_MS,
      maxConnectionsPerIp: env.MAX_CONNECTIONS_PER_IP ?? (env.TRUST_PROXY ? 0 : DEFAULT_MAX_CONNECTIONS_PER_IP),
    },
    storage: { checkpointIntervalMs: env.CHECKPOINT_INTERVAL_MS, checkpointBytes: env.CHECKPOINT_BYTES },
    retention: {
      ...(env.RETENTION_DAYS !== undefined ? { conversationDays: env.RETENTION_DAYS } : {}),
      queueDays: env.QUEUE_RETENTION_DAYS,
      sweepIntervalMs: 3_600_000,
    },
    attachments: { maxBytes: env.ATTACHMENT_MAX_BYTES, linkTtlSeconds: env.ATTACHMENT_LINK_TTL_SECONDS },
    webhooks: toWebhookConfig(env, (message) => new ConfigError(message)),
  };
}

/**
 * The VAPID settings: both keys from the environment, else (one node on lowdb) the pair kept in the data directory.
 * A cluster needs the same pair on every node, so it never generates one: without VAPID_* keys Web Push is off there.
 */
function pushSettings(
  env: BridgeEnv,
  dataDir: string,
  publicUrl: string,
  options: LoadConfigOptions,
): { push?: PushSettings } {
  const { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey } = env;
  if ((publicKey === undefined) !== (privateKey === undefined)) {
    throw new ConfigError('invalid configuration:\n  VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: set both or neither');
  }
  const subject =
    env.VAPID_SUBJECT ??
    (env.MAIL_FROM !== undefined ? `mailto:${env.MAIL_FROM}` : publicUrl.startsWith('https://') ? publicUrl : 'mailto:admin@localhost');
  if (publicKey !== undefined && privateKey !== undefined) return { push: { publicKey, privateKey, subject } };
  if (options.persistSecrets === false || env.DATABASE_URL !== undefined) return {};
  return { push: { ...loadVapidKeys(dataDir), subject } };
}

function requireMailFrom(env: BridgeEnv): string {
  if (env.MAIL_FROM === undefined) throw new ConfigError('invalid configuration:\n  MAIL_FROM: required with SMTP_URL');
  return env.MAIL_FROM;
}

function requireSecrets(env: BridgeEnv): BridgeSecrets {
  const { VISITOR_TOKEN_SECRET: visitorToken, AGENT_TOKEN_SECRET: agentToken, SITE_SECRET: site } = env;
  if (!visitorToken || !agentToken || !site) {
    const why = env.DATABASE_URL !== undefined ? ' with DATABASE_URL (every node of a cluster must use the same ones)' : '';
    throw new ConfigError(`invalid configuration: VISITOR_TOKEN_SECRET, AGENT_TOKEN_SECRET and SITE_SECRET are required${why}`);
  }
  return { visitorToken, agentToken, site };
}

/** The bridge's own origins (the public URL plus localhost / 127.0.0.1 variants on the same port). */
export function defaultOrigins(publicUrl: string, port: number): string[] {
  const origins = new Set<string>([new URL(publicUrl).origin]);
  for (const host of ['localhost', '127.0.0.1', '[::1]']) origins.add(`http://${host}:${port}`);
  return [...origins];
}

function parseOrigins(raw: string | undefined, publicUrl: string, port: number): string[] | '*' {
  if (raw === undefined) return defaultOrigins(publicUrl, port);
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.includes('*')) return '*';
  return items.map((item) => {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new ConfigError(`invalid configuration:\n  ALLOWED_ORIGINS: "${item}" is not an origin like https://example.com`);
    }
    if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search) {
      throw new ConfigError(`invalid configuration:\n  ALLOWED_ORIGINS: "${item}" is not an origin like https://example.com`);
    }
    return url.origin;
  });
}
