/**
 * Two (or more) bridge nodes on one throwaway PostgreSQL database, as a cluster runs them: a pool, a PostgresStore
 * and the PostgreSQL Socket.IO adapter each, listening on port 0. For the tests of what crosses nodes.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { AGENT_NAMESPACE } from '../../protocol/events.ts';
import type { NewAgentAccount } from '../auth/agent-accounts.ts';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { postgresSocketAdapter, prepareSocketAdapter } from '../cluster/socket-adapter.ts';
import { loadConfig, type BridgeConfig } from '../config.ts';
import { createBridge, type Bridge } from '../create-bridge.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';
import type { Logger } from 'pino';
import { silentLogger } from '../logger.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { createTestDatabase } from './test-database.ts';
import { waitUntil } from './wait-until.ts';

/** Bridge nodes sharing one database; index 0 is node A. */
export interface PostgresNodes {
  urls: string[];
  stores: PostgresStore[];
  bridges: Bridge[];
  /** A pool of its own on the database, for queries a test makes behind the bridges' backs. */
  admin: pg.Pool;
  close(): Promise<void>;
}

/** What `startPostgresNodes` starts. */
export interface PostgresNodesOptions {
  database: string;
  agents: readonly NewAgentAccount[];
  count?: number;
  /** Changes every node's configuration (the same for all, as a cluster's must be). */
  configure?: (config: BridgeConfig) => BridgeConfig;
}

/** Starts `count` nodes (default 2) on a fresh database named after `database`, with `agents` created first. */
export async function startPostgresNodes(options: PostgresNodesOptions): Promise<PostgresNodes> {
  const databaseUrl = await createTestDatabase(options.database);
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const pools: pg.Pool[] = [];
  const nodes: PostgresNodes = {
    urls: [],
    stores: [],
    bridges: [],
    admin,
    async close() {
      for (const bridge of nodes.bridges) await bridge.close();
      for (const store of nodes.stores) await store.close();
      await Promise.all(pools.map((pool) => pool.end()));
      await admin.end();
    },
  };
  try {
    await startNodes(nodes, pools, databaseUrl, options);
  } catch (error) {
    await nodes.close();
    throw error;
  }
  return nodes;
}

async function startNodes(nodes: PostgresNodes, pools: pg.Pool[], databaseUrl: string, options: PostgresNodesOptions): Promise<void> {
  const logger = silentLogger();
  const config = options.configure ? options.configure(postgresNodeConfig()) : postgresNodeConfig();
  for (let node = 0; node < (options.count ?? 2); node++) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    pools.push(pool);
    if (node === 0) {
      await migrate(pool, logger);
      await prepareSocketAdapter(pool);
    }
    const store = new PostgresStore({ pool, logger, changeFeed: true });
    await store.open();
    nodes.stores.push(store);
    if (node === 0) for (const agent of options.agents) await createAgentAccount(store, agent, new Date());
    const bridge = createBridge({ config, store, logger, adapter: postgresSocketAdapter(pool, logger) });
    nodes.bridges.push(bridge);
    await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
    nodes.urls.push(`http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`);
  }
  // Broadcasts reach a node only once its adapter listens (its change feed listens before the store opens). The
  // adapter LISTENs on its namespaces' channels one statement after another, in the order createBridge makes the
  // namespaces, the agents' last: a connection idle after that one listens on all of them (one that has only begun
  // its first LISTEN does not yet hear the visitors' and agents' broadcasts).
  await waitUntil('every node LISTENing on all of the adapter channels', async () => {
    const { rows } = await nodes.admin.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle' AND query = $1", [
      `LISTEN "socket.io#${AGENT_NAMESPACE}"`,
    ]);
    return rows.length >= nodes.bridges.length;
  });
}

/** The configuration of a test node: loopback, port 0, silent, fixed secrets every node of the test shares. */
export function postgresNodeConfig(): BridgeConfig {
  return loadConfig(
  {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    VISITOR_TOKEN_SECRET: 'v'.repeat(32),
    AGENT_TOKEN_SECRET: 'a'.repeat(32),
    SITE_SECRET: 's'.repeat(32),
  },
  { persistSecrets: false },
);
}

/** One bridge on PostgreSQL without the cluster adapter, with an admin (`boss`) signed in: a contract test's engine. */
export interface PostgresTestBridge {
  url: string;
  store: PostgresStore;
  /** The bridge's pool, for queries a test makes behind its back. */
  pool: pg.Pool;
  agentToken: string;
  close(): Promise<void>;
}

/** Starts one bridge on a fresh database named after `database`, its configuration changed by `configure`. */
export async function startPostgresTestBridge(
  database: string,
  configure: (config: BridgeConfig) => BridgeConfig,
  logger: Logger = silentLogger(),
): Promise<PostgresTestBridge> {
  const pool = new pg.Pool({ connectionString: await createTestDatabase(database), max: 4 });
  await migrate(pool, logger);
  const store = new PostgresStore({ pool, logger });
  await store.open();
  const config = configure(postgresNodeConfig());
  const agent = await createAgentAccount(store, { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' }, new Date());
  const { token } = await startAgentSession(store, config.secrets.agentToken, agent, new Date());
  const bridge = createBridge({ config, store, logger });
  await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`,
    store,
    pool,
    agentToken: token,
    async close() {
      await bridge.close();
      await store.close();
      await pool.end();
    },
  };
}
