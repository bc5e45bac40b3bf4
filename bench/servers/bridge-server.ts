/**
 * The bridge under test: what `bridge/main.ts` builds — `loadConfig(process.env)`, the store (the durable LowdbStore in
 * the bench's temp DATA_DIR, or with DATABASE_URL the PostgresStore, migrations and Socket.IO's PostgreSQL adapter on
 * one pool, as a cluster node runs), the bootstrap agent, `createBridge` — plus the bench probe that reports
 * event-loop delay and memory over IPC. The probe only answers the bench; it adds no work to requests.
 * `BENCH_PATCHES_OFF` (comma-separated `writeCoalescing`, `webhookFastPath`) switches library
 * patches off for the A/B scenario.
 */
import type pg from 'pg';
import { loadConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/logger.ts';
import { createBridge, type LibraryPatch } from '../../bridge/create-bridge.ts';
import { bootstrapAgent } from '../../bridge/auth/agent-accounts.ts';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';
import { PostgresStore } from '../../bridge/store/postgres/postgres-store.ts';
import { migrate } from '../../bridge/store/postgres/migrations.ts';
import { openPostgresPool } from '../../bridge/cluster/postgres-pool.ts';
import { postgresSocketAdapter, prepareSocketAdapter } from '../../bridge/cluster/socket-adapter.ts';
import type { Store } from '../../bridge/store/store.ts';
import { installProbe } from './probe.ts';

const started = performance.now();
const config = loadConfig(process.env);
const logger = createLogger(config.logLevel);
let store: Store;
let pool: pg.Pool | undefined;
if (config.databaseUrl) {
  pool = await openPostgresPool(config.databaseUrl, logger);
  await migrate(pool, logger);
  await prepareSocketAdapter(pool);
  store = new PostgresStore({ pool, logger, changeFeed: true });
} else {
  store = new LowdbStore({ dataDir: config.dataDir, logger, ...config.storage });
}
await store.open();
const storeOpenMs = performance.now() - started;
await bootstrapAgent(store, config.agentBootstrap, new Date());
const off = new Set((process.env.BENCH_PATCHES_OFF ?? '').split(',').filter(Boolean));
const patches = Object.fromEntries([...off].map((name) => [name, false])) as Partial<Record<LibraryPatch, boolean>>;
const bridge = createBridge({ config, store, logger, patches, ...(pool ? { adapter: postgresSocketAdapter(pool, logger) } : {}) });
await new Promise<void>((resolve) => bridge.httpServer.listen(config.port, config.host, () => resolve()));
const address = bridge.httpServer.address();
const port = typeof address === 'object' && address ? address.port : config.port;

installProbe(
  port,
  () => ({
    visitorSockets: bridge.context.visitorNs.sockets.size,
    agentSockets: bridge.context.agentNs.sockets.size,
    storedMessages: store.health().messages,
  }),
  { storeOpenMs: Math.round(storeOpenMs), readyMs: Math.round(performance.now() - started) },
);

const stop = (): void => {
  void bridge
    .close()
    .then(() => store.close())
    .then(() => pool?.end())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
