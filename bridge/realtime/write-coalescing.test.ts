import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { coalesceSocketWrites } from './write-coalescing.ts';

interface Rig {
  io: Server;
  http: HttpServer;
  client: ClientSocket;
  /** Socket writes (`_write` + `_writev` calls) of the server side of the connection, counted from now on. */
  writes: () => number;
}

const rigs: Rig[] = [];

async function start(coalesce: boolean): Promise<Rig> {
  const http = createServer();
  const io = new Server(http, { serveClient: false });
  if (coalesce) coalesceSocketWrites(io);
  let writes = 0;
  const tcpReady = new Promise<void>((resolve) => {
    io.engine.on('connection', (conn: { transport: { socket?: { _socket?: NetSocket } } }) => {
      const tcp = conn.transport.socket?._socket;
      if (!tcp) throw new Error('expected a websocket transport');
      const write = tcp._write.bind(tcp);
      const writev = tcp._writev?.bind(tcp);
      tcp._write = (...args: Parameters<NetSocket['_write']>) => {
        writes++;
        write(...args);
      };
      if (writev) {
        tcp._writev = (...args: Parameters<NonNullable<NetSocket['_writev']>>) => {
          writes++;
          writev(...args);
        };
      }
      resolve();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const client = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
  await Promise.all([tcpReady, new Promise<void>((resolve) => client.once('connect', () => resolve()))]);
  // Counting starts from here without waiting: the server wrote the whole handshake (engine.io open, then the
  // namespace CONNECT that fires the client's 'connect') before the client could read it, and writes nothing more
  // unprompted until the first ping, pingInterval (25 s) away.
  const base = writes;
  const rig = { io, http, client, writes: () => writes - base };
  rigs.push(rig);
  return rig;
}

function receive(client: ClientSocket, count: number): Promise<number[]> {
  const seen: number[] = [];
  return new Promise((resolve) => {
    client.on('n', (n: number) => {
      seen.push(n);
      if (seen.length === count) resolve(seen);
    });
  });
}

afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    rig.client.close();
    await new Promise<void>((resolve) => {
      void rig.io.close(() => resolve());
    });
  }
});

describe('coalesceSocketWrites', () => {
  it('sends the packets emitted to a connection in one turn with one socket write, in order', async () => {
    const rig = await start(true);
    const [socket] = await rig.io.fetchSockets();
    const got = receive(rig.client, 6);
    for (let n = 0; n < 6; n++) socket!.emit('n', n);
    expect(await got).toEqual([0, 1, 2, 3, 4, 5]);
    expect(rig.writes()).toBe(1);
  });

  it('is what makes the difference: without it the same packets take several writes', async () => {
    const rig = await start(false);
    const [socket] = await rig.io.fetchSockets();
    const got = receive(rig.client, 6);
    for (let n = 0; n < 6; n++) socket!.emit('n', n);
    expect(await got).toEqual([0, 1, 2, 3, 4, 5]);
    expect(rig.writes()).toBeGreaterThan(1);
  });

  it('sends packets still queued when the server closes the connection', async () => {
    const rig = await start(true);
    const [socket] = await rig.io.fetchSockets();
    const got = receive(rig.client, 2);
    socket!.emit('n', 1);
    socket!.emit('n', 2);
    // Closing the whole server closes connections with `discard`, which drops anything not yet written.
    const closed = new Promise<void>((resolve) => {
      void rig.io.close(() => resolve());
    });
    expect(await got).toEqual([1, 2]);
    await closed;
  });

  it('keeps long-polling and the polling-to-websocket upgrade working (socket.io-client defaults)', async () => {
    for (const transports of [['polling'], ['polling', 'websocket']]) {
      const http = createServer();
      const io = new Server(http, { serveClient: false });
      coalesceSocketWrites(io);
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const { port } = http.address() as AddressInfo;
      const client = connect(`http://127.0.0.1:${port}`, { transports, reconnection: false });
      try {
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        const [socket] = await io.fetchSockets();
        const got = receive(client, 6);
        for (let n = 0; n < 6; n++) socket!.emit('n', n);
        expect(await got).toEqual([0, 1, 2, 3, 4, 5]);
        // A round trip: the server's event out, the client's ack back.
        client.on('echo', (text: string, ack: (reply: string) => void) => ack(`${text}!`));
        expect(await socket!.timeout(5000).emitWithAck('echo', 'x')).toBe('x!');
      } finally {
        client.close();
        await new Promise<void>((resolve) => {
          void io.close(() => resolve());
        });
      }
    }
  });
});
