/**
 * The bridge process: the only place that reads the environment. Loads the config, opens the store — lowdb (one
 * process per data directory) or, with DATABASE_URL, PostgreSQL plus Socket.IO's PostgreSQL adapter on one pool (any
 * number of nodes) — creates the first agent if there is none, serves, and shuts down cleanly.
 * With `--check-config` it only validates the configuration and exits.
 */
import { defaultOrigins, loadConfig, ConfigError, type BridgeConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { createBridge, type Bridge } from './create-bridge.ts';
import { bootstrapAgentWhenWritable } from './auth/agent-accounts.ts';
import { LowdbStore } from './store/lowdb/lowdb-store.ts';
import { BridgeMetrics } from './metrics.ts';
import { PostgresStore } from './store/postgres/postgres-store.ts';
import { migrate } from './store/postgres/migrations.ts';
import type { Store } from './store/store.ts';
import type pg from 'pg';
import { DatabaseStartError, describeDatabase, openPostgresPool } from './cluster/postgres-pool.ts';
import { postgresSocketAdapter, prepareSocketAdapter } from './cluster/socket-adapter.ts';
import { checkSharedSecrets, checkSharedVapidKey, SecretsMismatchError } from './cluster/shared-secrets.ts';
import type { Logger } from './logger.ts';

function fail(message: string): never {
  process.stderr.write(`anon-chat: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: BridgeConfig;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    fail(`cannot prepare ${process.env.DATA_DIR ?? './data'}: ${(error as Error).message}`);
  }
  // `npm start -- --rebuild` checks the settings this way before it spends time building.
  if (process.argv.includes('--check-config')) return;
  const logger = createLogger(config.logLevel);

  const metrics = new BridgeMetrics();
  let store: Store;
  let pool: pg.Pool | undefined;
  if (config.databaseUrl) {
    ({ store, pool } = await openCluster(config, config.databaseUrl, logger, metrics));
  } else {
    store = new LowdbStore({ dataDir: config.dataDir, logger, observeCommit: metrics.observeStoreCommit, ...config.storage });
    try {
      await store.open();
    } catch (error) {
      fail(`cannot open storage: ${(error as Error).message}`);
    }
  }

  // Signal handlers go in before anything is announced: a supervisor (or a test) may signal the moment the
  // listening line appears.
  // eslint-disable-next-line prefer-const -- assigned once below, but a signal may stop the process before that.
  let bridge: Bridge | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A stuck close (a hung socket, a full disk) must not keep the process alive forever.
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 10_000).unref();
    void (async () => {
      try {
        await bridge?.close();
        await store.close();
        await pool?.end();
        logger.info('stopped');
        process.exit(0);
      } catch (error) {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  // The adapter starts its LISTEN connection when made: made right before the namespaces it listens for.
  bridge = createBridge({ config, store, logger, metrics, ...(pool ? { adapter: postgresSocketAdapter(pool, logger) } : {}) });
  const server = bridge.httpServer;
  await new Promise<void>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? ' (already in use; set PORT to another port)' : '';
      void store.close().then(() => pool?.end()).finally(() => fail(`cannot listen on ${config.host}:${config.port}${hint}: ${error.message}`));
    });
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const listening = `http://${host}:${port}`;
  // With PORT=0 the config was built before the port was known: derive the URL-based defaults from the real one,
  // or browsers on the bridge's own pages would be refused by the origin allowlist.
  if (!process.env.PUBLIC_URL) config.publicUrl = listening;
  if (!process.env.ALLOWED_ORIGINS) config.allowedOrigins = defaultOrigins(config.publicUrl, port);
  const base = config.publicUrl;
  // The name this node's connections carry in pg_stat_activity (an operator looking for its backends); pg lets an
  // application_name in DATABASE_URL replace the pool's.
  const connectionName = config.databaseUrl && (new URL(config.databaseUrl).searchParams.get('application_name') ?? pool?.options.application_name);
  const storage = config.databaseUrl ? `${describeDatabase(config.databaseUrl)} as ${connectionName}` : config.dataDir;
  logger.info({ url: listening, publicUrl: base, storage }, 'bridge listening');
  if (!config.push) logger.warn('Web Push is off: a cluster needs VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY on every node');
  // The webhook URLs are what an operator pastes into Meta's app dashboard or a delivery service; listed only when
  // their endpoint is on (the routes answer 404 otherwise).
  const { whatsapp, statusWebhookSecret } = config.webhooks;
  // Only now that the bridge serves: a start that fails earlier (a busy port) must not have created the admin whose
  // password nobody will see again.
  // Unavailable storage (a full disk, a database restarting) is waited out: the bridge serves and /health says why.
  let created: Awaited<ReturnType<typeof bootstrapAgentWhenWritable>>;
  let bootstrapFailures = 0;
  try {
    created = await bootstrapAgentWhenWritable(store, config.agentBootstrap, () => new Date(), async (error) => {
      bootstrapFailures++;
      if (!stopping && bootstrapFailures % 60 === 1) {
        logger.error({ err: error, attempts: bootstrapFailures }, 'cannot check or create the first admin while storage is unavailable; retrying every second');
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    });
  } catch (error) {
    // Any other store error: one sentence and a non-zero exit (a supervisor restarts the node), not a stack; nothing
    // was created, so the next start tries again.
    fail(`cannot check or create the first admin: ${(error as Error).message}`);
  }
  if (bootstrapFailures > 0) logger.warn({ attempts: bootstrapFailures + 1 }, 'first admin checked after storage came back');
  const bootstrapLines = created
    ? [
        `Created admin "${created.agent.name}" (visitors see "${created.agent.displayName}").`,
        ...(created.generated
          ? [`  password: ${created.password}`, '  (shown only this once — keep it; set AGENT_BOOTSTRAP_PASSWORD to choose one)']
          : []),
        '',
      ]
    : [];
  const webhookLines = [
    ...(whatsapp.verifyToken || whatsapp.appSecret ? [`  whatsapp:      ${base}/webhooks/whatsapp`] : []),
    ...(statusWebhookSecret ? [`  status hook:   ${base}/webhooks/status`] : []),
  ];
  process.stdout.write(
    [
      '',
      ...bootstrapLines,
      'anon-chat bridge is running',
      `  demo:          ${base}/demo/`,
      `  theming demo:  ${base}/demo/theming.html`,
      `  agent console: ${base}/console/`,
      `  health:        ${base}/health`,
      ...webhookLines,
      config.databaseUrl ? `  database:      ${storage}` : `  data:          ${config.dataDir}`,
      '',
      // Last on purpose: supervisors and tests wait for this line.
      `anon-chat listening on ${listening}`,
      '',
    ].join('\n'),
  );

  process.on('unhandledRejection', (error) => logger.error({ err: error }, 'unhandled rejection'));
}

/**
 * A cluster node's storage: the pool (shared by store and adapter), migrations (advisory-locked, so nodes starting
 * together wait for one another), the adapter's table, the store, and the check that this node's secrets are the
 * cluster's. Every failure ends the process with one sentence naming the server, never a stack.
 */
async function openCluster(
  config: BridgeConfig,
  url: string,
  logger: Logger,
  metrics: BridgeMetrics,
): Promise<{ store: Store; pool: pg.Pool }> {
  const where = describeDatabase(url);
  let pool: pg.Pool;
  try {
    pool = await openPostgresPool(url, logger, { idleInTransactionTimeoutMs: config.databaseIdleInTransactionTimeoutMs });
  } catch (error) {
    fail(error instanceof DatabaseStartError ? error.message : `cannot connect to PostgreSQL at ${where}: ${(error as Error).message}`);
  }
  const store = new PostgresStore({
    pool,
    logger,
    observeCommit: metrics.observeStoreCommit,
    changeFeed: { frozenNodeAfterMs: config.databaseFrozenNodeAfterMs },
  });
  try {
    await migrate(pool, logger);
    await prepareSocketAdapter(pool);
    await store.open();
    await checkSharedSecrets(store, config.secrets, config.apiKey);
    await checkSharedVapidKey(store, config.push?.publicKey);
  } catch (error) {
    await store.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    if (error instanceof SecretsMismatchError) fail(error.message);
    fail(`cannot open storage on PostgreSQL at ${where}: ${(error as Error).message}`);
  }
  return { store, pool };
}

await main();
