/**
 * `startTestBridge`: a real bridge for tests — real HTTP server on 127.0.0.1 (port 0 by default), Socket.IO, and a
 * LowdbStore in a temp directory — plus a logged-in test agent. Every engineer's tests build on this.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import { defaultOrigins, loadConfig, type BridgeConfig, type RateLimits } from '../config.ts';
import { createBridge, type Bridge, type BridgeDeps } from '../create-bridge.ts';
import { silentLogger } from '../logger.ts';
import { createAgentAccount, checkAgentLogin } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import type { StaticRoots } from '../http/static-routes.ts';
import { BridgeMetrics } from '../metrics.ts';

/** Login name, display name and password of the admin every test bridge has. */
export const TEST_AGENT = { name: 'test-agent', displayName: 'Tess Agent', password: 'test-agent-password' } as const;

/** Options of `startTestBridge`; everything is optional. */
export interface TestBridgeOptions {
  /** Reuse a data directory (a restart); default: a new temp dir, removed on close. */
  dataDir?: string;
  /** Port to listen on (reuse a port across restarts); default 0. */
  port?: number;
  /** Overrides of the test configuration; `rateLimits` may be partial. */
  config?: Partial<Omit<BridgeConfig, 'rateLimits'>> & { rateLimits?: Partial<RateLimits> };
  logger?: Logger;
  clock?: () => Date;
  http?: AxiosInstance;
  staticRoots?: StaticRoots;
  /** An opened store shared with other test bridges (several nodes of one cluster); the helper leaves it open. */
  store?: LowdbStore;
  /**
   * Makes the Socket.IO cluster adapter (e.g. bridge/cluster/socket-adapter.ts). Called right before createBridge: the
   * PostgreSQL adapter starts its LISTEN connection when made, and namespaces added after that connects are listened
   * to with overlapping queries.
   */
  adapter?: () => NonNullable<BridgeDeps['adapter']>;
}

/** A running test bridge. */
export interface TestBridge {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  dataDir: string;
  store: LowdbStore;
  bridge: Bridge;
  config: BridgeConfig;
  /** The test agent (an admin), with a fresh token of its own session. */
  agent: { id: string; name: string; displayName: string; password: string; token: string };
  /** Closes the bridge and the store; removes the data dir if the helper created it. */
  close(): Promise<void>;
}

/** Limits high enough that ordinary tests never hit them; rate-limit tests lower the one they test. */
const TEST_RATE_LIMITS: RateLimits = {
  messagesPerMinute: 1_000_000,
  eventsPerMinute: 1_000_000,
  typingPerMinute: 1_000_000,
  connectionsPerMinute: 1_000_000,
  httpPerMinute: 1_000_000,
  loginPerMinute: 1_000_000,
};

/** Starts a real bridge on 127.0.0.1 with a LowdbStore in a temp dir and a silent logger. */
export async function startTestBridge(options: TestBridgeOptions = {}): Promise<TestBridge> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'anon-chat-test-')));
  const base = loadConfig({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(options.port ?? 0), LOG_LEVEL: 'silent' });
  const { rateLimits, ...overrides } = options.config ?? {};
  const config: BridgeConfig = {
    ...base,
    ...overrides,
    rateLimits: { ...TEST_RATE_LIMITS, ...rateLimits },
  };
  const logger = options.logger ?? silentLogger();
  const ownsStore = options.store === undefined;
  const metrics = new BridgeMetrics();
  const store =
    options.store ??
    new LowdbStore({
      dataDir,
      logger,
      observeCommit: metrics.observeStoreCommit,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  if (ownsStore) await store.open();
  const clock = options.clock ?? (() => new Date());
  let bridge: Bridge | undefined;
  try {
    const agentRecord =
      (await checkAgentLogin(store, TEST_AGENT.name, TEST_AGENT.password)) ??
      (await createAgentAccount(store, { ...TEST_AGENT, role: 'admin' }, clock()));
    bridge = createBridge({
      config,
      store,
      logger,
      clock,
      metrics,
      ...(options.http ? { http: options.http } : {}),
      ...(options.staticRoots ? { staticRoots: options.staticRoots } : {}),
      ...(options.adapter ? { adapter: options.adapter() } : {}),
    });
    const server = bridge.httpServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('test bridge has no address');
    const url = `http://127.0.0.1:${address.port}`;
    // The config was built before the port was known: make the URL-derived settings match the real port.
    config.port = address.port;
    if (overrides.publicUrl === undefined) config.publicUrl = url;
    if (overrides.allowedOrigins === undefined) config.allowedOrigins = defaultOrigins(url, address.port);
    const { token } = await startAgentSession(store, config.secrets.agentToken, agentRecord, clock());
    const running = bridge;
    let closed: Promise<void> | undefined;
    return {
      url,
      port: address.port,
      dataDir,
      store,
      bridge: running,
      config,
      agent: {
        id: agentRecord.id,
        name: agentRecord.name,
        displayName: agentRecord.displayName,
        password: TEST_AGENT.password,
        token,
      },
      close: () =>
        (closed ??= (async () => {
          await running.close();
          if (ownsStore) await store.close();
          if (ownsDir) await rm(dataDir, { recursive: true, force: true });
        })()),
    };
  } catch (error) {
    await bridge?.close();
    if (ownsStore) await store.close();
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}
