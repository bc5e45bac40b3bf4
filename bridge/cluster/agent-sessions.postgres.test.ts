/**
 * Sessions across nodes: two bridges (two pools, two PostgresStores, the PostgreSQL Socket.IO adapter) on one database.
 * An agent signed out on node A is disconnected on node B at once and refused there; an admin deactivating an agent
 * on B cuts off the agent's console on A.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../protocol/agents.ts';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { loadConfig } from '../config.ts';
import { createBridge, type Bridge } from '../create-bridge.ts';
import { silentLogger } from '../logger.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { connectAgent, HandshakeError, nextEvent } from '../testing/clients.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { postgresSocketAdapter, prepareSocketAdapter } from './socket-adapter.ts';

const logger = silentLogger();
const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
const AGENT = { name: 'ana', displayName: 'Ana', role: 'agent', password: 'ana-password-12' } as const;
let admin: pg.Pool;
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];
const bridges: Bridge[] = [];
const urls: string[] = [];

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('agent_sessions');
  admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const config = loadConfig(
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
  for (let node = 0; node < 2; node++) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    pools.push(pool);
    if (node === 0) {
      await migrate(pool, logger);
      await prepareSocketAdapter(pool);
    }
    const store = new PostgresStore({ pool, logger });
    await store.open();
    stores.push(store);
    if (node === 0) {
      await createAgentAccount(store, ADMIN, new Date());
      await createAgentAccount(store, AGENT, new Date());
    }
    const bridge = createBridge({ config, store, logger, adapter: postgresSocketAdapter(pool, logger) });
    bridges.push(bridge);
    await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
    urls.push(`http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`);
  }
  // Broadcasts reach a node only once its adapter listens.
  await waitUntil('both nodes LISTENing on the adapter channel', async () => {
    const { rows } = await admin.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'");
    return rows.length >= 2;
  });
});

afterAll(async () => {
  for (const bridge of bridges) await bridge.close();
  for (const store of stores) await store.close();
  await Promise.all(pools.map((pool) => pool.end()));
  await admin?.end();
});

async function login(node: number, who: { name: string; password: string }): Promise<string> {
  const res = await fetch(`${urls[node]}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: who.name, password: who.password }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as LoginResult).token;
}

async function call(node: number, method: string, path: string, token: string, json?: unknown): Promise<number> {
  const res = await fetch(`${urls[node]}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('agent sessions on two nodes', () => {
  it('logout on node A disconnects the agent on node B at once; B then refuses the token', async () => {
    const token = await login(0, AGENT);
    const onB = await connectAgent(urls[1]!, token);
    const disconnected = nextEvent(onB, 'disconnect');
    expect(await call(0, 'POST', '/api/auth/logout', token, {})).toBe(204);
    // The server closed it (the client did not, and no network fault happened).
    expect(['io server disconnect', 'transport close']).toContain(await disconnected);
    expect(await call(1, 'GET', '/api/auth/me', token)).toBe(401);
    await expect(connectAgent(urls[1]!, token)).rejects.toBeInstanceOf(HandshakeError);
  });

  it('deactivating an agent on node B cuts off their console on node A', async () => {
    const agentId = (await stores[0]!.getAgentByName(AGENT.name))!.id;
    const token = await login(0, AGENT);
    const onA = await connectAgent(urls[0]!, token);
    const disconnected = nextEvent(onA, 'disconnect');
    const adminToken = await login(1, ADMIN);
    expect(await call(1, 'PATCH', `/api/agents/${agentId}`, adminToken, { active: false })).toBe(200);
    await disconnected;
    expect(await call(0, 'GET', '/api/auth/me', token)).toBe(401);
    await expect(connectAgent(urls[0]!, token)).rejects.toBeInstanceOf(HandshakeError);
  });
});
