import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent } from '../../bridge/testing/clients.ts';
import { START_DEADLINE_MS } from '../../bridge/testing/wait-until.ts';
import { startTestBridge, type TestBridge } from '../../bridge/testing/test-bridge.ts';
import { WireVisitor, catchUpLikeWidget, openWireVisitor } from './wire-visitor.ts';
import { boundedArrivals } from './bounded-arrivals.ts';

describe('wire visitor (the generator’s lean widget client) against a real bridge', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge();
  });
  afterAll(async () => {
    await bridge.close();
  });

  it('gets a session, catches up with history + sync, sends with an ack and receives the agent reply', async () => {
    const { visitor, conversationId, token } = await openWireVisitor(bridge.url, { catchUp: 'history+sync' });
    expect(conversationId).toMatch(/.+/);
    expect(token).toMatch(/.+/);
    expect(visitor.connected).toBe(true);
    const sent = await visitor.emitAck<{ ok: boolean; data: { clientId: string; rev: number } }>('message:send', { clientId: 'w-1', text: 'hi' });
    expect(sent).toMatchObject({ ok: true, data: { clientId: 'w-1' } });
    const agent = await connectAgent(bridge.url, bridge.agent.token);
    const reply = new Promise<unknown>((resolve) => {
      const other = new WireVisitor(bridge.url, () => ({ token, afterRev: 0 }), {
        onEvent: (name, payload) => {
          // The bridge joins the conversation's room before it sends `session`: from then on the reply reaches it.
          if (name === 'session') agent.emit('message:send', { conversationId, clientId: 'a-1', text: 'hello' }, () => {});
          if (name === 'message:new' && (payload as { clientId: string }).clientId === 'a-1') {
            other.close();
            resolve(payload);
          }
        },
      });
      // A second connection with the same token joins the same room, as a second tab would.
      other.connect();
    });
    await expect(reply).resolves.toMatchObject({ conversationId, clientId: 'a-1' });
    expect(await catchUpLikeWidget(visitor, 0)).toBeGreaterThanOrEqual(2);
    agent.close();
    visitor.close();
    expect(visitor.connected).toBe(false);
  });

  it('rejects with the server’s connect_error message for a forged token', async () => {
    await expect(openWireVisitor(bridge.url, { auth: { token: 'forged' }, timeoutMs: 5000 })).rejects.toThrow(/connect_error: invalid_token/);
  });

  it('reports a drop when the server is unreachable, and rejects requests while offline', async () => {
    const dropped = new Promise<string>((resolve) => new WireVisitor('http://127.0.0.1:1', () => ({}), { onDrop: resolve }).connect());
    await expect(dropped).resolves.toBe('transport close');
    await expect(new WireVisitor(bridge.url, () => ({})).emitAck('sync', { afterRev: 0 })).rejects.toThrow('offline');
  });

  it('bounded arrivals never exceed the in-flight cap and count every task once', async () => {
    let inFlight = 0;
    let peak = 0;
    // The first tasks are held until the cap is full, so it is reached whatever the machine's speed; every task then
    // takes a few ms, long enough for later arrivals to find the cap full and queue.
    let capFull!: () => void;
    const full = new Promise<void>((resolve) => (capFull = resolve));
    const result = await boundedArrivals(2000, 60, 5, START_DEADLINE_MS, async (i) => {
      peak = Math.max(peak, ++inFlight);
      if (inFlight === 5) capFull();
      if (i < 5) await full;
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (i % 10 === 0) throw new Error('refused');
    });
    expect(peak).toBe(5);
    expect(result).toMatchObject({ planned: 60, succeeded: 54, failed: 6, skipped: 0 });
    expect(result.latency.count).toBe(54);
  });
});
