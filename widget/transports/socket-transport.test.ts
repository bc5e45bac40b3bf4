import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket, WebSocketServer, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';
import { waitUntil } from '../../bridge/testing/wait-until.ts';
import { createSocketTransport } from './socket-transport.ts';
import type { Transport } from './transport.ts';

/** A WebSocket frame's text (ws hands text frames over as Buffers). */
function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString();
  return Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data).toString();
}

const HANDSHAKE = '0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}';

describe('socket transport against a server sending malformed frames', () => {
  let server: WebSocketServer;
  let url: string;
  let transport: Transport | undefined;
  /** What the server sends on each new connection, in turn (the last one for every later connection). */
  let script: ((ws: NodeWebSocket) => void)[] = [];
  let connections = 0;
  const hadWebSocket = 'WebSocket' in globalThis;

  beforeAll(async () => {
    // The transport speaks to the browser's WebSocket API; ws implements it for Node.
    if (!hadWebSocket) Object.assign(globalThis, { WebSocket: NodeWebSocket });
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (ws) => {
      const step = script[Math.min(connections, script.length - 1)]!;
      connections++;
      step(ws);
    });
  });
  afterEach(() => {
    transport?.disconnect();
    connections = 0;
  });
  afterAll(async () => {
    if (!hadWebSocket) Reflect.deleteProperty(globalThis, 'WebSocket');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function open(): Transport {
    transport = createSocketTransport({ server: url, auth: () => ({}), getToken: () => undefined, setToken: () => undefined });
    return transport;
  }

  it('drops a connection whose open frame is not a handshake and connects again', async () => {
    const joined = (ws: NodeWebSocket) => {
      ws.send(HANDSHAKE);
      ws.on('message', (data) => {
        if (frameText(data).startsWith('40/visitor')) ws.send('40/visitor,{"sid":"v"}');
      });
    };
    script = [(ws) => ws.send('0{not json'), (ws) => ws.send('0{"sid":"s"}'), (ws) => ws.send('0null'), joined];
    const t = open();
    void t.connect();
    await waitUntil('the transport online after three malformed handshakes', () => t.state === 'online');
    expect(connections).toBe(4);
  });

  it('ignores events with a malformed name or session and passes the next good one on', async () => {
    let socket: NodeWebSocket | undefined;
    script = [
      (ws) => {
        socket = ws;
        ws.send(HANDSHAKE);
        ws.on('message', (data) => {
          if (frameText(data).startsWith('40/visitor')) ws.send('40/visitor,{"sid":"v"}');
        });
      },
    ];
    const t = open();
    const sessions: unknown[] = [];
    const presence: number[] = [];
    t.on('session', (session) => sessions.push(session));
    t.on('presence', (p) => presence.push(p.online));
    void t.connect();
    await waitUntil('the transport online', () => t.state === 'online');
    for (const frame of ['42/visitor,["session",null]', '42/visitor,["session",{}]', '42/visitor,["toString",1]', '42/visitor,[7]', '42/visitor,[]']) {
      socket!.send(frame);
    }
    socket!.send('42/visitor,["agents:presence",{"online":2}]');
    await waitUntil('the presence event after the malformed ones', () => presence.length > 0);
    expect(presence).toEqual([2]);
    expect(sessions).toEqual([]);
    expect(t.state).toBe('online');
    expect(connections).toBe(1);
  });
});
