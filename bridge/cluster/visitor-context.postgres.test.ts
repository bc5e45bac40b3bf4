/**
 * Visitor context on the PostgreSQL engine and across nodes (#13): the shared scenario
 * (bridge/testing/visitor-context-scenario.ts) with the visitor on node A and the agent consoles on node B.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../protocol/agents.ts';
import { startPostgresNodes, type PostgresNodes } from '../testing/postgres-nodes.ts';
import { visitorContextScenario } from '../testing/visitor-context-scenario.ts';

const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
let nodes: PostgresNodes;
const sockets: { close(): unknown }[] = [];

beforeAll(async () => {
  nodes = await startPostgresNodes({ database: 'visitor_context', agents: [ADMIN] });
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});
afterAll(() => nodes?.close());

describe('visitor context (PostgreSQL, two nodes)', () => {
  it('is validated, kept until the first message, stored, updated, pushed to agents on the other node, exported and erased', async () => {
    const res = await fetch(`${nodes.urls[1]}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: ADMIN.name, password: ADMIN.password }),
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as LoginResult;
    await visitorContextScenario({
      visitorUrl: nodes.urls[0]!,
      agentUrl: nodes.urls[1]!,
      adminToken: token,
      store: nodes.stores[1]!,
      track: (socket) => {
        sockets.push(socket);
        return socket;
      },
    });
  });
});
