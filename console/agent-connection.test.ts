/** The console's agent connection: WebSocket first, long-polling behind a proxy that refuses WebSocket upgrades. */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, waitUntil, type TestBridge } from '../bridge/testing/index.ts';
import { AgentConnection } from './agent-connection.ts';

const callbacks = { onConnect: () => undefined, onState: () => undefined, onAuthError: () => undefined };

/** An HTTP proxy to `target` that passes plain requests and drops every WebSocket upgrade, counting both. */
async function upgradeRefusingProxy(target: string): Promise<{ url: string; polls: () => number; refusedUpgrades: () => number; close: () => Promise<void> }> {
  let polls = 0;
  let refusedUpgrades = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.includes('transport=polling')) polls++;
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (_req, socket) => {
    refusedUpgrades++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    polls: () => polls,
    refusedUpgrades: () => refusedUpgrades,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('AgentConnection transports', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge();
  });
  afterAll(async () => {
    await bridge.close();
  });

  it('connects over WebSocket from the start, without a long-polling phase', async () => {
    const connection = new AgentConnection(bridge.url, bridge.agent.token, callbacks);
    try {
      await waitUntil('the agent connection to be online', () => connection.state === 'online');
      expect(connection.socket.io.engine.transport.name).toBe('websocket');
    } finally {
      connection.close();
    }
  });

  it('falls back to long-polling behind a proxy that refuses WebSocket upgrades, and works over it', async () => {
    const proxy = await upgradeRefusingProxy(bridge.url);
    const connection = new AgentConnection(proxy.url, bridge.agent.token, callbacks);
    try {
      await waitUntil('the agent connection to be online through the proxy', () => connection.state === 'online');
      expect(connection.socket.io.engine.transport.name).toBe('polling');
      // The upgrade attempt may still be on its way when the connection is online over polling: wait for the refusal.
      await waitUntil('the proxy to refuse a WebSocket upgrade', () => proxy.refusedUpgrades() > 0);
      const list = await connection.socket.timeout(30_000).emitWithAck('conversations:list', { filter: 'all' });
      expect(list.ok).toBe(true);
      expect(proxy.polls()).toBeGreaterThan(0);
    } finally {
      connection.close();
      await proxy.close();
    }
  });
});
