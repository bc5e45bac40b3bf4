/**
 * Wires one bridge: Express app, HTTP server, Socket.IO namespaces, fan-out and routes around an injected store.
 * It never listens — `main.ts` and the test helpers do — so any number can run in one process.
 */
import type { Server as HttpServer } from 'node:http';
import express, { type Express } from 'express';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import axios, { type AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import { AGENT_NAMESPACE, VISITOR_NAMESPACE } from '../protocol/events.ts';
import type { BridgeConfig } from './config.ts';
import type { Store } from './store/store.ts';
import type { BridgeContext } from './context.ts';
import type { AgentNamespace, AgentSocket, VisitorNamespace, VisitorSocket } from './realtime/namespaces.ts';
import { Fanout } from './fanout.ts';
import { SharedRateLimiter } from './rate-limiter.ts';
import { agentHandshake, isOriginAllowed, visitorHandshake } from './realtime/handshake.ts';
import { createSocketLimiters } from './realtime/socket-limits.ts';
import { isClustered } from './realtime/presence.ts';
import { registerVisitorHandlers } from './realtime/visitor-handlers.ts';
import { registerAgentHandlers } from './realtime/agent-handlers.ts';
import { coalesceSocketWrites } from './realtime/write-coalescing.ts';
import { healthRouter } from './http/health-routes.ts';
import { authRouter } from './http/auth-routes.ts';
import { accountRouter } from './http/account-routes.ts';
import { teamRouter } from './http/team-routes.ts';
import { agentRouter } from './http/agent-routes.ts';
import { settingsRouter } from './http/settings-routes.ts';
import { conversationRouter } from './http/conversation-routes.ts';
import { attachmentRouter } from './http/attachment-routes.ts';
import { staticRouter, type StaticRoots } from './http/static-routes.ts';
import { errorMiddleware, notFound } from './http/error-middleware.ts';
import { rateLimit } from './http/request-guards.ts';
import { createGuardedServer } from './http/connection-guard.ts';
import { mountWebhooks } from './webhooks/mount-webhooks.ts';
import type { FastPathHandler } from './webhooks/webhook-fast-path.ts';
import { Retention } from './retention.ts';
import { TeamAvailability } from './team-availability.ts';
import { BridgeMetrics } from './metrics.ts';
import { metricsRouter } from './http/metrics-routes.ts';
import { assignRequestId } from './http/request-id.ts';
import { logRequest } from './http/request-log.ts';
import { EVENT_WEBHOOK_QUEUE } from './webhooks/event-webhooks.ts';
import { WHATSAPP_SEND_QUEUE } from './webhooks/whatsapp-delivery.ts';
import { WHATSAPP_MEDIA_QUEUE } from './webhooks/whatsapp-media.ts';
import { Notifications } from './notifications/notifications.ts';
import { MAIL_QUEUE } from './notifications/notification-mail.ts';
import { unsubscribeRouter } from './notifications/unsubscribe.ts';
import { PUSH_EVENT_QUEUE, PUSH_QUEUE, WebPush } from './push/web-push.ts';
import { pushRouter } from './http/push-routes.ts';

export type { BridgeContext } from './context.ts';
export type { VisitorNamespace, AgentNamespace, VisitorSocket, AgentSocket } from './realtime/namespaces.ts';
export type { FanoutSink } from './fanout.ts';

/** What a bridge is built from. */
export interface BridgeDeps {
  config: BridgeConfig;
  /** An opened store; the bridge does not open or close it. */
  store: Store;
  logger: Logger;
  clock?: () => Date;
  /** Outbound HTTP client (defaults to axios with a 10 s timeout). */
  http?: AxiosInstance;
  /** Static folders (defaults to dist/widget, dist/console and demo/ of this repository). */
  staticRoots?: StaticRoots;
  /**
   * Socket.IO adapter for a cluster (bridge/cluster/socket-adapter.ts); default socket.io's in-memory one, where every
   * socket lives in this process.
   */
  adapter?: ServerOptions['adapter'];
  /**
   * This bridge's metrics (defaults to a new registry). Built by the caller when the store must report into it too
   * (`new LowdbStore({ observeCommit: metrics.observeStoreCommit })`).
   */
  metrics?: BridgeMetrics;
  /**
   * The three optimisations that patch library internals, all on by default. Only the bench switches one off, to
   * measure what it buys (STYLE.md "Patching libraries").
   */
  patches?: Partial<Record<LibraryPatch, boolean>>;
}

/** What `BridgeDeps.patches` can switch off. */
export type LibraryPatch = 'writeCoalescing' | 'webhookFastPath';

/** A wired, not yet listening bridge. */
export interface Bridge {
  app: Express;
  httpServer: HttpServer;
  io: Server;
  context: BridgeContext;
  /** The background retention sweep (started; `sweep()` runs a pass now). */
  retention: Retention;
  /** Notification mails (started; `scan()` queues what is due now); undefined without `SMTP_URL`. */
  notifications?: Notifications;
  /** Web Push to agents (started); undefined without VAPID keys. */
  push?: WebPush;
  /** Runs close hooks, disconnects every socket and closes the HTTP server (the store stays open). */
  close(): Promise<void>;
}

/** Largest REST JSON body. Message text is at most 4000 UTF-16 units, i.e. ≤ 12 KB of UTF-8 plus JSON. */
const JSON_BODY_LIMIT = '32kb';
/** How long a closing cluster node waits for the presence announcements of the visitors and agents it disconnects. */
const CLOSE_ANNOUNCEMENTS_MS = 5_000;

/** Builds a bridge around `deps`; call `httpServer.listen()` to serve it. */
export function createBridge(deps: BridgeDeps): Bridge {
  const { config, store, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const metrics = deps.metrics ?? new BridgeMetrics();
  const app = express();
  const patchOn = (patch: LibraryPatch): boolean => deps.patches?.[patch] !== false;
  // Slow-loris, idle-connection and per-IP connection guards for plain HTTP; Socket.IO has its own ping/pong timeouts.
  const { server: httpServer } = createGuardedServer(
    (req, res) => {
      // Before either path, so both log and answer with the same request id.
      assignRequestId(req, res);
      // Ordinary webhook POSTs are answered ahead of Express (mounted below with the webhooks; see webhook-fast-path.ts).
      if (!(patchOn('webhookFastPath') && webhookFastPath(req, res))) app(req, res);
    },
    config.http,
    logger,
  );

  const io = new Server(httpServer, {
    serveClient: false,
    ...(deps.adapter ? { adapter: deps.adapter } : {}),
    // socket.io-parser's wire format and Decoder; a payload sent in several packets is stringified once.
    maxHttpBufferSize: config.maxHttpBufferSize,
    // A client must finish the namespace handshake this quickly after the transport connects.
    connectTimeout: config.connectTimeoutMs,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    cors: {
      origin: (origin, callback) => callback(null, isOriginAllowed(config, origin)),
      credentials: false,
    },
  });
  // One socket write per connection per event-loop turn instead of one per packet (see write-coalescing.ts).
  if (patchOn('writeCoalescing')) coalesceSocketWrites(io);
  const visitorNs = io.of(VISITOR_NAMESPACE) as unknown as VisitorNamespace;
  const agentNs = io.of(AGENT_NAMESPACE) as unknown as AgentNamespace;
  metrics.watchNamespace(VISITOR_NAMESPACE, visitorNs);
  metrics.watchNamespace(AGENT_NAMESPACE, agentNs);
  metrics.watchQueues(store, [EVENT_WEBHOOK_QUEUE, WHATSAPP_SEND_QUEUE, WHATSAPP_MEDIA_QUEUE, ...(config.mail ? [MAIL_QUEUE] : []), ...(config.push ? [PUSH_EVENT_QUEUE, PUSH_QUEUE] : [])]);
  const fanout = new Fanout({ visitorNs, agentNs, logger, ...(store.changeFeed ? { changeFeed: store.changeFeed } : {}) });
  // Registered first, so (hooks run in reverse) it runs last: held-back conversation updates go out before io closes.
  const closeHooks: (() => void | Promise<void>)[] = [() => fanout.close()];
  const tracked = new Set<Promise<unknown>>();

  const availability = new TeamAvailability({ store, clock, io, visitorNs, agentNs, logger });
  const context: BridgeContext = {
    config,
    store,
    logger,
    clock,
    io,
    visitorNs,
    agentNs,
    fanout,
    availability,
    metrics,
    http: deps.http ?? axios.create({ timeout: 10_000, maxRedirects: 0 }),
    onClose: (hook) => void closeHooks.push(hook),
    track: (work) => {
      tracked.add(work);
      void work.finally(() => tracked.delete(work));
    },
  };

  availability.start();
  context.onClose(() => availability.stop());
  const retention = new Retention(context, config.retention);
  retention.start();
  context.onClose(() => retention.stop());
  const notifications = config.mail
    ? new Notifications({
        store,
        logger,
        clock,
        mail: config.mail,
        publicUrl: () => config.publicUrl,
        secret: config.secrets.visitorToken,
        pollMs: config.webhooks.pollMs,
        leaseMs: config.webhooks.leaseMs,
        metrics,
      })
    : undefined;
  if (notifications) {
    notifications.start();
    context.onClose(() => notifications.stop());
  }
  const push = config.push
    ? new WebPush({
        store,
        logger,
        clock,
        agentNs,
        http: context.http,
        settings: config.push,
        publicUrl: () => config.publicUrl,
        allowPrivate: config.webhooks.events.allowPrivate,
        pollMs: config.webhooks.pollMs,
        leaseMs: config.webhooks.leaseMs,
        metrics,
      })
    : undefined;
  if (push) {
    // Each visitor message's push event is queued by the store step that stores it; the sink only wakes the worker.
    const removeWork = store.addOutboundWork(push.outbound());
    const removeSink = fanout.addSink(push.sink());
    push.start();
    context.onClose(async () => {
      removeSink();
      removeWork();
      await push.stop();
    });
  }

  const limiters = createSocketLimiters(config.rateLimits, store, () => clock().getTime(), metrics);
  // Each handshake answers every path, its failures included, through next(): nothing is left to await.
  const visitorGate = visitorHandshake(context, limiters);
  const agentGate = agentHandshake(context, limiters);
  visitorNs.use((socket, next) => void visitorGate(socket, next));
  agentNs.use((socket, next) => void agentGate(socket, next));
  visitorNs.on('connection', (socket: VisitorSocket) => {
    logConnection(logger, VISITOR_NAMESPACE, socket);
    registerVisitorHandlers(context, socket, limiters).catch((error: unknown) =>
      logger.error({ err: error }, 'visitor connection setup failed'),
    );
  });
  agentNs.on('connection', (socket: AgentSocket) => {
    logConnection(logger, AGENT_NAMESPACE, socket);
    registerAgentHandlers(context, socket, limiters).catch((error: unknown) =>
      logger.error({ err: error }, 'agent connection setup failed'),
    );
  });

  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    logRequest(logger, req, res, () => req.path);
    next();
  });
  app.use(healthRouter(context));
  app.use(metricsRouter(context));

  // ---- webhooks (owned by the webhook engineer): mount here, e.g. `mountWebhooks(app, context);` ----
  // Mounted before any JSON parser on purpose: signature checks need the raw body bytes.
  const webhookFastPath: FastPathHandler = mountWebhooks(app, context).fastPath;
  // ---- end webhooks ----

  const api = express.Router();
  api.use(rateLimit(new SharedRateLimiter(store, 'http', config.rateLimits.httpPerMinute, () => metrics.rateLimitRefused('http'))));
  // Before the JSON parser: an upload's body is the file, whatever its declared type, read and counted by the route.
  api.use(attachmentRouter(context));
  api.use(express.json({ limit: JSON_BODY_LIMIT, strict: true }));
  if (config.mail) api.use(unsubscribeRouter(context));
  api.use(authRouter(context));
  api.use(accountRouter(context));
  api.use(pushRouter(context));
  api.use(agentRouter(context));
  api.use(settingsRouter(context));
  api.use(teamRouter(context));
  api.use(conversationRouter(context));
  api.use(notFound);
  app.use('/api', api);
  app.use(staticRouter(deps.staticRoots));
  app.use(notFound);
  app.use(errorMiddleware(logger, store));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (isClustered(visitorNs)) {
        // The other nodes' agents are told that this node's visitors left, and their visitors (and agents) that its agents
        // left, while its adapter and store still work (a widget or console that reconnects to another node is announced
        // online there); a lookup that hangs cannot hold the close.
        visitorNs.local.disconnectSockets(true);
        agentNs.local.disconnectSockets(true);
        await Promise.race([Promise.allSettled([...tracked]), new Promise((resolve) => setTimeout(resolve, CLOSE_ANNOUNCEMENTS_MS).unref())]);
      }
      for (const hook of closeHooks.reverse()) {
        try {
          await hook();
        } catch (error) {
          logger.error({ err: error }, 'close hook failed');
        }
      }
      // io.close() disconnects every socket and closes the HTTP server it is attached to.
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
        httpServer.closeAllConnections();
      });
    })();
    return closing;
  };

  return { app, httpServer, io, context, retention, ...(notifications ? { notifications } : {}), ...(push ? { push } : {}), close };
}

/** Connects and disconnects at debug: ids and the namespace only (the handshake carries tokens). */
function logConnection(logger: Logger, namespace: string, socket: Socket): void {
  if (!logger.isLevelEnabled('debug')) return;
  const data = socket.data as { conversationId?: string; agentId?: string };
  const ids = { namespace, socket: socket.id, conversationId: data.conversationId, agentId: data.agentId };
  logger.debug(ids, 'socket connected');
  socket.once('disconnect', (reason: string) => logger.debug({ ...ids, reason }, 'socket disconnected'));
}
