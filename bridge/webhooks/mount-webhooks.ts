/**
 * Wires the webhook part into a bridge: the thin HTTP routes (WhatsApp verification + inbound, the generic status
 * webhook, the deliveries REST API), the fan-out sinks (outbound event webhooks, WhatsApp delivery of agent
 * replies) with the outbound work they register with the store, and the queue workers, which start now and stop
 * when the bridge closes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import express, { Router, type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import { z } from 'zod';
import { StoreError, type QueueItem } from '../store/store.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { safeEqual } from '../auth/safe-equal.ts';
import { requireBearer } from '../http/bearer-auth.ts';
import { rateLimit } from '../http/request-guards.ts';
import { SharedRateLimiter } from '../rate-limiter.ts';
import { ExternalStatuses } from './external-statuses.ts';
import { MAIL_QUEUE, type NotificationMail } from '../notifications/notification-mail.ts';
import { recentItems, requeueItem } from './queue-worker.ts';
import { EVENT_WEBHOOK_QUEUE, EventWebhooks, type EventDelivery } from './event-webhooks.ts';
import { WHATSAPP_SEND_QUEUE, WhatsappDelivery, type WhatsappSendJob } from './whatsapp-delivery.ts';
import { applyWhatsappWebhook, type InboundMediaJob } from './whatsapp-inbound.ts';
import { WHATSAPP_MEDIA_QUEUE, WhatsappMedia } from './whatsapp-media.ts';
import { whatsappWebhookSchema } from './whatsapp-payload.ts';
import { verifyMetaSignature, verifyTimestampedSignature } from './signatures.ts';
import { parseJson, rawBodyOf } from './raw-json.ts';
import { createWebhookFastPath, type FastPathHandler } from './webhook-fast-path.ts';
import { InboundOutcomes, WebhookRefusal } from './inbound-outcomes.ts';
import { requestIdOf } from '../http/request-id.ts';
import type { InboundWebhook } from '../metrics.ts';
import {
  applyStatusWebhook,
  deliveryIdSchema,
  STATUS_DELIVERY_HEADER,
  STATUS_DELIVERY_NAMESPACE,
  STATUS_SIGNATURE_HEADER,
  STATUS_WINDOW_SECONDS,
  statusWebhookSchema,
} from './status-webhook.ts';

/** Largest WhatsApp webhook body (Meta's batches are far smaller). */
export const WHATSAPP_BODY_LIMIT = '1mb';
/** Largest status webhook body. */
export const STATUS_BODY_LIMIT = '64kb';
/** The same limits in bytes, as body-parser reads the strings above (1 kb = 1024 bytes). */
const WHATSAPP_BODY_LIMIT_BYTES = 1024 * 1024;
const STATUS_BODY_LIMIT_BYTES = 64 * 1024;

/** The running webhook part of one bridge. */
export interface Webhooks {
  statuses: ExternalStatuses;
  events: EventWebhooks;
  whatsapp: WhatsappDelivery;
  /** Downloads inbound WhatsApp media (its durable queue and worker). */
  media: WhatsappMedia;
  /**
   * Serves ordinary `POST /webhooks/whatsapp` and `/webhooks/status` requests without Express (see
   * webhook-fast-path.ts); the bridge calls it for every HTTP request before handing it to Express.
   */
  fastPath: FastPathHandler;
}

const deliveriesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  state: z.enum(['pending', 'delivered', 'dead']).optional(),
  queue: z.enum([EVENT_WEBHOOK_QUEUE, WHATSAPP_SEND_QUEUE, WHATSAPP_MEDIA_QUEUE, MAIL_QUEUE]).default(EVENT_WEBHOOK_QUEUE),
});

/** A raw body reader for one route: no inflation (the signature covers the bytes as sent), any content type. */
function rawBody(limit: string) {
  return express.raw({ type: () => true, limit, inflate: false });
}

function notConfigured(what: string): BridgeError {
  return new WebhookRefusal('not_configured', 'not_found', `${what} is not configured on this bridge.`);
}

/** Signature check results as refusal reasons. */
const SIGNATURE_REASONS = {
  missing: 'signature_missing',
  malformed: 'signature_malformed',
  expired: 'signature_expired',
  mismatch: 'bad_signature',
} as const;

/** Mounts routes, registers sinks and starts the workers of the webhook part; stops them on bridge close. */
export function mountWebhooks(app: Express, ctx: BridgeContext): Webhooks {
  const { config, store, logger, clock, fanout, http } = ctx;
  const settings = config.webhooks;
  const statuses = new ExternalStatuses({ store, fanout, logger, clock });
  const events = new EventWebhooks({
    store,
    logger,
    clock,
    http,
    config: settings.events,
    pollMs: settings.pollMs,
    leaseMs: settings.leaseMs,
    metrics: ctx.metrics,
  });
  const whatsapp = new WhatsappDelivery({
    store,
    fanout,
    logger,
    clock,
    http,
    config: settings.whatsapp,
    statuses,
    pollMs: settings.pollMs,
    leaseMs: settings.leaseMs,
    metrics: ctx.metrics,
  });
  const media = new WhatsappMedia({
    store,
    fanout,
    metrics: ctx.metrics,
    availability: ctx.availability,
    logger,
    clock,
    http,
    config: settings.whatsapp,
    maxBytes: config.attachments.maxBytes,
    pollMs: settings.pollMs,
    leaseMs: settings.leaseMs,
  });

  const outcomes = new InboundOutcomes(logger, ctx.metrics);
  /** Counts and logs what body-parser refused on the Express path before a route ran (oversized, aborted bodies). */
  const parserRefusals =
    (webhook: InboundWebhook): ErrorRequestHandler =>
    (error: unknown, req, _res, next) => {
      const type = (error as { type?: unknown } | undefined)?.type;
      if (type === 'entity.too.large') outcomes.refused(webhook, 'payload_too_large', 'payload_too_large', requestIdOf(req));
      else if (typeof type === 'string') outcomes.refused(webhook, 'bad_request', 'bad_request', requestIdOf(req));
      next(error);
    };
  /**
   * The Express route of an inbound webhook (what the fast path leaves to Express): the raw body up to `limit`,
   * answered 200 with `accept`'s answer once it is durably stored; parser refusals counted as this webhook's.
   */
  const postInbound = (
    path: string,
    limit: string,
    webhook: InboundWebhook,
    accept: (raw: Buffer, headers: IncomingHttpHeaders, isJson: boolean, reqId: string | undefined) => Promise<unknown>,
  ) =>
    app.post(
      path,
      rawBody(limit),
      async (req: Request, res: Response) => {
        const isJson = Boolean(req.is('application/json'));
        res.status(200).json(await accept(rawBodyOf(req), req.headers, isJson, requestIdOf(req)));
      },
      parserRefusals(webhook),
    );

  // The store queues the deliveries and sends with each change (one atomic step); the sinks only wake the workers.
  const removeSinks = [
    store.addOutboundWork(events.outbound()),
    store.addOutboundWork(whatsapp.outbound()),
    fanout.addSink(events.sink()),
    fanout.addSink(whatsapp.sink()),
  ];
  events.worker.start();
  whatsapp.worker.start();
  media.worker.start();
  ctx.onClose(async () => {
    for (const remove of removeSinks) remove();
    await Promise.all([events.worker.stop(), whatsapp.worker.stop(), media.worker.stop()]);
  });

  // ---- WhatsApp Cloud API ----
  /** The challenge to echo for a verification request, or a refusal. */
  const verifyWhatsapp = (query: Request['query']): string => {
    const { verifyToken } = settings.whatsapp;
    if (!verifyToken) throw notConfigured('WhatsApp webhook verification (WHATSAPP_VERIFY_TOKEN)');
    const mode = query['hub.mode'];
    const token = query['hub.verify_token'];
    const challenge = query['hub.challenge'];
    if (mode !== 'subscribe') throw new WebhookRefusal('bad_mode', 'forbidden', 'The verify token does not match.');
    if (typeof token !== 'string' || !safeEqual(token, verifyToken)) {
      throw new WebhookRefusal('bad_verify_token', 'forbidden', 'The verify token does not match.');
    }
    if (typeof challenge !== 'string' || challenge.length === 0 || challenge.length > 1000) {
      throw new WebhookRefusal('missing_challenge', 'bad_request', 'hub.challenge is missing.');
    }
    return challenge;
  };
  app.get('/webhooks/whatsapp', (req, res) => {
    let challenge: string;
    try {
      challenge = verifyWhatsapp(req.query);
    } catch (error) {
      outcomes.ended('whatsapp_verify', error, requestIdOf(req));
      throw error;
    }
    outcomes.accepted('whatsapp_verify');
    // Meta expects the challenge echoed verbatim as the whole body.
    res.status(200).type('text/plain').send(challenge);
  });

  /** Verifies and applies one WhatsApp POST body; resolves with the 200 answer once it is durably stored. */
  const acceptWhatsapp = (raw: Buffer, headers: IncomingHttpHeaders, isJson: boolean, reqId: string | undefined) =>
    outcomes.record('whatsapp', reqId, () => applyWhatsapp(raw, headers, isJson));
  const applyWhatsapp = async (raw: Buffer, headers: IncomingHttpHeaders, isJson: boolean) => {
    const { appSecret } = settings.whatsapp;
    if (!appSecret) throw notConfigured('The WhatsApp webhook (WHATSAPP_APP_SECRET)');
    if (!verifyMetaSignature(raw, headers['x-hub-signature-256'], appSecret)) {
      const reason = headers['x-hub-signature-256'] === undefined ? 'signature_missing' : 'bad_signature';
      throw new WebhookRefusal(reason, 'unauthorized', 'The X-Hub-Signature-256 signature is missing or wrong.');
    }
    const parsed = whatsappWebhookSchema.safeParse(parseJson(raw, isJson));
    if (!parsed.success) throw validationError(parsed.error);
    const result = await applyWhatsappWebhook(
      { store, fanout, metrics: ctx.metrics, availability: ctx.availability, logger, clock, statuses, ...(media.enabled ? { media } : {}) },
      parsed.data,
    );
    logger.debug({ result }, 'webhooks: WhatsApp update applied');
    // Only now, with everything durably stored, does Meta get its 200 (a failure above makes it retry).
    return { ok: true };
  };
  postInbound('/webhooks/whatsapp', WHATSAPP_BODY_LIMIT, 'whatsapp', acceptWhatsapp);

  // ---- generic status webhook ----
  /** Verifies and applies one status webhook body; resolves with the 200 answer once it is durably stored. */
  const acceptStatus = (raw: Buffer, headers: IncomingHttpHeaders, isJson: boolean, reqId: string | undefined) =>
    outcomes.record('status', reqId, () => applyStatus(raw, headers, isJson));
  const applyStatus = async (raw: Buffer, headers: IncomingHttpHeaders, isJson: boolean) => {
    const secret = settings.statusWebhookSecret;
    if (!secret) throw notConfigured('The status webhook (STATUS_WEBHOOK_SECRET)');
    const now = clock();
    const signature = verifyTimestampedSignature(raw, headers[STATUS_SIGNATURE_HEADER], secret, now, STATUS_WINDOW_SECONDS);
    if (!signature.ok) {
      const why = signature.reason === 'expired' ? 'outside the 5-minute window' : signature.reason;
      throw new WebhookRefusal(
        SIGNATURE_REASONS[signature.reason],
        'unauthorized',
        `The X-AnonChat-Signature signature is ${why}.`,
      );
    }
    const deliveryId = deliveryIdSchema.safeParse(headers[STATUS_DELIVERY_HEADER]);
    if (!deliveryId.success) {
      throw new WebhookRefusal('bad_delivery_id', 'bad_request', 'X-AnonChat-Delivery is missing or not a valid id.');
    }
    const body = statusWebhookSchema.safeParse(parseJson(raw, isJson));
    if (!body.success) throw validationError(body.error);
    // Kept for twice the window: a replay of an older delivery fails the signature window anyway.
    const expiresAt = new Date(now.getTime() + 2 * STATUS_WINDOW_SECONDS * 1000 + 60_000).toISOString();
    // The delivery id is recorded in the status's own atomic step: a status not applied (unknown message, a failure)
    // leaves no record, so the sender's retry of that delivery is not refused as a replay.
    const once = { namespace: STATUS_DELIVERY_NAMESPACE, key: deliveryId.data, value: { at: now.toISOString() }, expiresAt };
    let outcome;
    try {
      outcome = await applyStatusWebhook(statuses, body.data, once);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'conflict') {
        throw new WebhookRefusal('duplicate_delivery', 'conflict', 'This delivery id was already received.');
      }
      throw error;
    }
    if (outcome === 'unknown_message') throw new WebhookRefusal('unknown_message', 'not_found', 'No such message.');
    return { ok: true, result: outcome };
  };
  postInbound('/webhooks/status', STATUS_BODY_LIMIT, 'status', acceptStatus);

  // The same two routes for ordinary requests, ahead of Express; the fast path checked the content type is JSON.
  const fastPath = createWebhookFastPath(
    {
      '/webhooks/whatsapp': {
        limit: WHATSAPP_BODY_LIMIT_BYTES,
        enabled: () => Boolean(settings.whatsapp.appSecret),
        accept: (raw, headers, reqId) => acceptWhatsapp(raw, headers, true, reqId),
      },
      '/webhooks/status': {
        limit: STATUS_BODY_LIMIT_BYTES,
        enabled: () => Boolean(settings.statusWebhookSecret),
        accept: (raw, headers, reqId) => acceptStatus(raw, headers, true, reqId),
      },
    },
    { logger, storageDegraded: () => !store.health().ok },
  );

  // ---- deliveries REST (agent token or API key) ----
  const api = Router();
  api.use(
    rateLimit(
      new SharedRateLimiter(store, 'deliveries', config.rateLimits.httpPerMinute, () => ctx.metrics.rateLimitRefused('http')),
    ),
  );
  api.use(requireBearer(ctx));
  api.get('/deliveries', async (req, res) => {
    const query = deliveriesQuerySchema.safeParse({ ...req.query });
    if (!query.success) throw validationError(query.error);
    const { limit, state, queue } = query.data;
    const items = await recentItems(store, queue, state ? Math.max(limit, 500) : limit);
    const deliveries = items.filter((item) => !state || item.state === state).slice(0, limit).map(deliveryView);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ deliveries, receivers: queue === EVENT_WEBHOOK_QUEUE ? await events.receivers() : [] });
  });
  api.post('/deliveries/:id/redeliver', async (req: Request, res) => {
    const id = deliveryIdSchema.safeParse(req.params.id);
    if (!id.success) throw new BridgeError('not_found', 'No such delivery.');
    for (const [queue, worker] of [
      [EVENT_WEBHOOK_QUEUE, events.worker],
      [WHATSAPP_SEND_QUEUE, whatsapp.worker],
    ] as const) {
      // Event receivers dedupe on the delivery id; a customer's phone does not, so only a dead send goes again.
      const allowed = (item: QueueItem) => queue === EVENT_WEBHOOK_QUEUE || item.state === 'dead';
      const result = await requeueItem(store, queue, id.data, clock(), allowed);
      if (!result) continue;
      // Judged on the item as the requeue read it: a requeued send is pending, so `allowed` would refuse it now.
      if (!result.requeued) throw new BridgeError('conflict', 'Only a dead WhatsApp send can be sent again.');
      worker.kick();
      res.status(202).json({ delivery: deliveryView(result.item) });
      return;
    }
    throw new BridgeError('not_found', 'No such delivery.');
  });
  app.use('/api/webhooks', api);

  return { statuses, events, whatsapp, media, fastPath };
}

/** A queue item as the deliveries API shows it: its target and attempts, not its body. */
function deliveryView(item: QueueItem) {
  const base = {
    id: item.id,
    queue: item.queue,
    state: item.state,
    attempts: item.attempts,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    dueAt: item.dueAt,
    lastError: item.lastError,
    log: item.log,
  };
  if (item.queue === EVENT_WEBHOOK_QUEUE) {
    const payload = item.payload as EventDelivery;
    return { ...base, url: payload.url, event: payload.type, eventId: payload.eventId };
  }
  if (item.queue === MAIL_QUEUE) {
    // Which notification, not to whom: the log is for every agent, recipients' addresses are not.
    const payload = item.payload as NotificationMail;
    return { ...base, conversationId: payload.conversationId, kind: payload.kind };
  }
  if (item.queue === WHATSAPP_MEDIA_QUEUE) {
    // Which message, not the customer's number or caption.
    const payload = item.payload as InboundMediaJob;
    return { ...base, wamid: payload.wamid, kind: payload.kind };
  }
  const payload = item.payload as WhatsappSendJob;
  return { ...base, conversationId: payload.conversationId, messageId: payload.messageId };
}
