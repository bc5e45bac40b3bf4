/**
 * Sessions across nodes: two bridges on one database (testing/postgres-nodes.ts).
 * An agent signed out on node A is disconnected on node B at once and refused there; an admin deactivating an agent
 * on B cuts off the agent's console on A; so does the agent's own password change on B, whose new token works on A.
 * The server's password reset (npm run reset-password) runs beside live nodes: both refuse the old sessions at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../protocol/agents.ts';
import type { PostgresStore } from '../store/postgres/postgres-store.ts';
import { startPostgresNodes, type PostgresNodes } from '../testing/postgres-nodes.ts';
import { connectAgent, HandshakeError, nextEvent } from '../testing/clients.ts';
import { resetAgentPassword } from '../auth/agent-accounts.ts';

const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
const AGENT = { name: 'ana', displayName: 'Ana', role: 'agent', password: 'ana-password-12' } as const;
let nodes: PostgresNodes;
let urls: string[];
let stores: PostgresStore[];

beforeAll(async () => {
  nodes = await startPostgresNodes({ database: 'agent_sessions', agents: [ADMIN, AGENT] });
  ({ urls, stores } = nodes);
});

afterAll(() => nodes?.close());

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

  it("a password change on node B cuts off the (admin) agent's other console on node A; the new token works on A", async () => {
    const token = await login(0, ADMIN);
    const onA = await connectAgent(urls[0]!, token);
    const disconnected = nextEvent(onA, 'disconnect');
    const current = await login(1, ADMIN);
    const res = await fetch(`${urls[1]}/api/auth/password`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${current}` },
      body: JSON.stringify({ current: ADMIN.password, next: 'boss-password-99' }),
    });
    expect(res.status).toBe(200);
    const { token: next } = (await res.json()) as LoginResult;
    await disconnected;
    expect(await call(0, 'GET', '/api/auth/me', token)).toBe(401);
    await expect(connectAgent(urls[0]!, token)).rejects.toBeInstanceOf(HandshakeError);
    expect(await call(0, 'GET', '/api/auth/me', next)).toBe(200);
    (await connectAgent(urls[0]!, next)).close();
  });

  it('a password reset on the server, beside live nodes, ends the sessions on both, reactivates, and the new password signs in', async () => {
    const token = await login(0, { name: ADMIN.name, password: 'boss-password-99' });
    const { password } = await resetAgentPassword(stores[1]!, ADMIN.name);
    expect(await call(0, 'GET', '/api/auth/me', token)).toBe(401);
    expect(await call(1, 'GET', '/api/auth/me', token)).toBe(401);
    expect(await call(0, 'GET', '/api/auth/me', await login(0, { name: ADMIN.name, password }))).toBe(200);
    // Ana was deactivated above: the reset lets her in again.
    const reset = await resetAgentPassword(stores[0]!, AGENT.name);
    expect(reset.agent.active).toBe(true);
    await login(1, { name: AGENT.name, password: reset.password });
  });
});
