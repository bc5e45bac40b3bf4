/**
 * The bridge under test: exactly what `bridge/main.ts` builds — `loadConfig(process.env)`, the real LowdbStore
 * (durable, in the bench's temp DATA_DIR), the bootstrap agent, `createBridge` — plus the bench probe that reports
 * event-loop delay and memory over IPC. The probe only answers the bench; it adds no work to requests.
 */
import { loadConfig } from '../../bridge/config.ts';
import { createLogger } from '../../bridge/logger.ts';
import { createBridge } from '../../bridge/create-bridge.ts';
import { bootstrapAgent } from '../../bridge/auth/agent-accounts.ts';
import { LowdbStore } from '../../bridge/store/lowdb/lowdb-store.ts';
import { installProbe } from './probe.ts';

const started = performance.now();
const config = loadConfig(process.env);
const logger = createLogger(config.logLevel);
const store = new LowdbStore({ dataDir: config.dataDir, logger, ...config.storage });
await store.open();
const storeOpenMs = performance.now() - started;
await bootstrapAgent(store, config.agentBootstrap, new Date());
const bridge = createBridge({ config, store, logger });
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
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
