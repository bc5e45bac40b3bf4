import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { HttpServerLimits } from '../config.ts';
import { createGuardedServer, type GuardedServer } from './connection-guard.ts';
import { waitUntil, WAIT_DEADLINE_MS } from '../testing/wait-until.ts';

/**
 * Timeouts far beyond any step of these tests, however slow a loaded machine makes it: the connections they hold open
 * idle must stay open until the test closes them (one a timeout closed would free a place under the per-IP cap, or
 * drop a connection the test still counts or sends on). Only the timeout test sets a short one.
 */
const LIMITS: HttpServerLimits = {
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 60_000,
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

/**
 * Resolves with what the server sent before it closed `socket`: nothing when it was refused at accept, a 408 when a
 * timeout closed it. Rejects, naming `what`, if the server has not closed it within WAIT_DEADLINE_MS.
 */
function closedByServer(socket: Socket, what: string): Promise<string> {
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  // A paused socket never reads the server's FIN, so 'close' would never come.
  socket.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited ${WAIT_DEADLINE_MS} ms for the server to close ${what}`)), WAIT_DEADLINE_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/** Connections the server holds open right now. */
function connections(guarded: GuardedServer): Promise<number> {
  return new Promise((resolve, reject) => guarded.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
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
  it('closes a half-open connection (partial headers) with a 408 from the configured header timeout', async () => {
    // The half-open connection is the only one here, so only it can reach the short header timeout.
    const limits = { ...LIMITS, headersTimeoutMs: 1000, requestTimeoutMs: 2000, maxConnectionsPerIp: 0 };
    const { guarded, port } = await start(limits);
    // Node's defaults (20 s headers timeout, checked every 30 s) would hold it far longer: the limits are the server's.
    expect(guarded.server.headersTimeout).toBe(limits.headersTimeoutMs);
    expect(guarded.server.requestTimeout).toBe(limits.requestTimeoutMs);
    const socket = open(port);
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    expect(await closedByServer(socket, 'a connection that sent partial headers')).toMatch(/^HTTP\/1\.1 408/);
  });

  it('refuses connections beyond the per-IP cap at once, serves the ones it holds, and accepts again when one closes', async () => {
    const { guarded, port } = await start(LIMITS);
    const held = [open(port), open(port), open(port)];
    await waitUntil('the server to hold 3 connections', async () => (await connections(guarded)) === 3);
    expect(guarded.stats().refused).toBe(0);
    const extra = open(port);
    // Refused at accept: closed with nothing said (a timeout would have answered 408).
    expect(await closedByServer(extra, 'a connection beyond the per-IP cap')).toBe('');
    expect(guarded.stats().refused).toBe(1);
    expect(await get(held[0]!)).toMatch(/^HTTP\/1\.1 200/);

    held[1]!.destroy();
    await waitUntil('the server to hold 2 connections after one closed', async () => (await connections(guarded)) === 2);
    const again = open(port);
    expect(await get(again)).toMatch(/^HTTP\/1\.1 200/);
    expect(guarded.stats().refused).toBe(1);
  });

  it('logs refusals once per address per minute, not once per connection', async () => {
    let clock = 1_000_000;
    const { guarded, port, lines } = await start({ ...LIMITS, maxConnectionsPerIp: 1 }, () => clock);
    open(port);
    await waitUntil('the server to hold the first connection', async () => (await connections(guarded)) === 1);
    const refusedBatch = async (n: number): Promise<void> => {
      const sockets = Array.from({ length: n }, () => open(port));
      await Promise.all(sockets.map((s) => closedByServer(s, 'a connection beyond the per-IP cap of 1')));
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
    await waitUntil('the address tracked', () => guarded.stats().trackedAddresses === 1);
    for (const s of sockets) s.destroy();
    await waitUntil('the address forgotten', () => guarded.stats().trackedAddresses === 0);
  });
});
