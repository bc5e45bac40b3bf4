import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { HttpServerLimits } from '../config.ts';
import { createGuardedServer, type GuardedServer } from './connection-guard.ts';

const LIMITS: HttpServerLimits = {
  headersTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  keepAliveTimeoutMs: 500,
  connectionsCheckIntervalMs: 100,
  maxConnectionsPerIp: 3,
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function captureLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

async function start(limits: HttpServerLimits, now?: () => number): Promise<{ guarded: GuardedServer; port: number; lines: Record<string, unknown>[] }> {
  const { logger, lines } = captureLogger();
  const guarded = createGuardedServer((_req, res) => res.end('ok'), limits, logger, now);
  await new Promise<void>((resolve) => guarded.server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    guarded.server.closeAllConnections();
    guarded.server.close();
  });
  return { guarded, port: (guarded.server.address() as AddressInfo).port, lines };
}

function open(port: number): Socket {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  return socket;
}

/** Resolves with how long the server took to close `socket` (or `Infinity` after `withinMs`). */
function closedWithin(socket: Socket, withinMs: number): Promise<number> {
  const started = Date.now();
  // A paused socket never reads the server's FIN, so 'close' would never come.
  socket.resume();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

async function until(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function get(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('\r\n\r\nok')) resolve(text);
    });
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

describe('createGuardedServer', () => {
  it('closes a half-open connection (partial headers) within the header timeout plus one check interval', async () => {
    const { port } = await start({ ...LIMITS, maxConnectionsPerIp: 0 });
    const socket = open(port);
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // Node's defaults (20 s headers timeout, checked every 30 s) would keep it far beyond this bound.
    const ms = await closedWithin(socket, LIMITS.headersTimeoutMs + 2000);
    expect(ms).toBeLessThan(LIMITS.headersTimeoutMs + 2000);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 200);
  });

  it('refuses connections beyond the per-IP cap at once, serves the ones it holds, and accepts again when one closes', async () => {
    const { guarded, port } = await start(LIMITS);
    const held = [open(port), open(port), open(port)];
    await until(() => guarded.stats().refused === 0 && held.every((s) => !s.connecting));
    await new Promise((r) => setTimeout(r, 50));
    const extra = open(port);
    expect(await closedWithin(extra, 1000)).toBeLessThan(1000);
    expect(guarded.stats().refused).toBe(1);
    expect(await get(held[0]!)).toMatch(/^HTTP\/1\.1 200/);

    held[1]!.destroy();
    await until(() => guarded.stats().trackedAddresses === 1 && guarded.stats().refused === 1);
    await new Promise((r) => setTimeout(r, 50));
    const again = open(port);
    expect(await get(again)).toMatch(/^HTTP\/1\.1 200/);
    expect(guarded.stats().refused).toBe(1);
  });

  it('logs refusals once per address per minute, not once per connection', async () => {
    let clock = 1_000_000;
    const { guarded, port, lines } = await start({ ...LIMITS, maxConnectionsPerIp: 1 }, () => clock);
    const held = open(port);
    await until(() => !held.connecting);
    await new Promise((r) => setTimeout(r, 50));
    const refusedBatch = async (n: number): Promise<void> => {
      const sockets = Array.from({ length: n }, () => open(port));
      await Promise.all(sockets.map((s) => closedWithin(s, 2000)));
    };
    await refusedBatch(5);
    expect(guarded.stats().refused).toBe(5);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ ip: '127.0.0.1', limit: 1 });
    clock += 59_000;
    await refusedBatch(3);
    expect(lines.length).toBe(1);
    clock += 1_000;
    await refusedBatch(3);
    expect(guarded.stats().refused).toBe(11);
    expect(lines.length).toBe(2);
  });

  it('forgets an address once its connections are closed', async () => {
    const { guarded, port } = await start(LIMITS);
    const sockets = [open(port), open(port)];
    await until(() => guarded.stats().trackedAddresses === 1);
    for (const s of sockets) s.destroy();
    await until(() => guarded.stats().trackedAddresses === 0);
  });
});
