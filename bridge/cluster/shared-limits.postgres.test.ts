/**
 * Two bridges (two pools: two nodes) on one PostgreSQL database share their limits through the store: a per-IP login
 * rate, an account's login delay, the per-IP REST rate and the per-IP connection rate used up on node A are refused on
 * node B as well.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import type { BridgeConfig } from '../config.ts';
import { createBridge, type Bridge } from '../create-bridge.ts';
import { silentLogger } from '../logger.ts';
import { migrate } from '../store/postgres/migrations.ts';
import { PostgresStore } from '../store/postgres/postgres-store.ts';
import { connectVisitor, HandshakeError } from '../testing/clients.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { postgresNodeConfig } from '../testing/postgres-nodes.ts';

const logger = silentLogger();
const AGENT = { name: 'limits-agent', password: 'limits-agent-password' };
const pools: pg.Pool[] = [];
const stores: PostgresStore[] = [];
const bridges: Bridge[] = [];
const urls: string[] = [];

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('shared_limits');
  const base = postgresNodeConfig();
  // Behind a trusted proxy, so each request names its client IP.
  const config: BridgeConfig = {
    ...base,
    trustProxy: true,
    rateLimits: { ...base.rateLimits, loginPerMinute: 3, httpPerMinute: 4, connectionsPerMinute: 2 },
  };
  for (let node = 0; node < 2; node++) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    pools.push(pool);
    if (node === 0) await migrate(pool, logger);
    const store = new PostgresStore({ pool, logger });
    await store.open();
    stores.push(store);
    if (node === 0) await createAgentAccount(store, { ...AGENT, displayName: 'Limits', role: 'agent' }, new Date());
    const bridge = createBridge({ config, store, logger });
    bridges.push(bridge);
    await new Promise<void>((resolve) => bridge.httpServer.listen(0, '127.0.0.1', resolve));
    urls.push(`http://127.0.0.1:${(bridge.httpServer.address() as AddressInfo).port}`);
  }
});

afterAll(async () => {
  for (const bridge of bridges) await bridge.close();
  for (const store of stores) await store.close();
  await Promise.all(pools.map((pool) => pool.end()));
});

const login = (node: number, ip: string, name: string, password: string) =>
  fetch(`${urls[node]}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip },
    body: JSON.stringify({ name, password }),
  });

describe('limits shared by two nodes on one database', () => {
  it('refuses on B a login rate an IP used up on A', async () => {
    for (let i = 0; i < 3; i++) expect((await login(0, '10.1.0.1', 'nobody', 'guess')).status).toBe(401);
    const onB = await login(1, '10.1.0.1', 'nobody', 'guess');
    expect(onB.status).toBe(429);
    expect(onB.headers.get('retry-after')).toMatch(/^\d+$/);
    // Another IP is not affected.
    expect((await login(1, '10.1.0.2', 'nobody', 'guess')).status).toBe(401);
  });

  it('delays on B an account that failed 5 times on A and B, from other IPs', async () => {
    for (let i = 1; i <= 5; i++) expect((await login(i % 2, `10.2.0.${i}`, AGENT.name, 'guess')).status).toBe(401);
    const owner = await login(1, '10.2.1.1', AGENT.name, AGENT.password);
    expect(owner.status).toBe(429);
    expect(await owner.json()).toMatchObject({ error: { code: 'rate_limited' } });
  });

  it('refuses on B the REST rate an IP used up on A', async () => {
    const health = (node: number) =>
      fetch(`${urls[node]}/api/auth/me`, { headers: { 'X-Forwarded-For': '10.3.0.1' } }).then((res) => res.status);
    for (let i = 0; i < 4; i++) expect(await health(i % 2)).toBe(401);
    expect(await health(1)).toBe(429);
    expect(await health(0)).toBe(429);
  });

  it('refuses on B a connection rate an IP used up on A', async () => {
    const headers = { 'X-Forwarded-For': '10.4.0.1' };
    const first = await connectVisitor(urls[0]!, {}, { extraHeaders: headers, transports: ['websocket'] });
    const second = await connectVisitor(urls[0]!, {}, { extraHeaders: headers, transports: ['websocket'] });
    try {
      const third = connectVisitor(urls[1]!, {}, { extraHeaders: headers, transports: ['websocket'] });
      await expect(third).rejects.toThrow(HandshakeError);
      await expect(third).rejects.toMatchObject({ code: 'rate_limited' });
    } finally {
      first.close();
      second.close();
    }
  });
});
