/**
 * A page whose origin is not in ALLOWED_ORIGINS: its handshake is refused with `forbidden`, and the bridge logs the
 * origin at the default level at most once a minute per origin (injected clock), with the count it stands for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { createLogger } from '../logger.ts';
import { connectVisitor, startTestBridge, type TestBridge } from '../testing/index.ts';

const ALLOWED = 'https://shop.example';
const lines: string[] = [];
let now = Date.parse('2026-12-02T06:00:00Z');
let bridge: TestBridge;

beforeAll(async () => {
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  bridge = await startTestBridge({ logger, clock: () => new Date(now), config: { allowedOrigins: [ALLOWED] } });
});

afterAll(async () => {
  await bridge?.close();
});

/** Opens the visitor namespace from a page on `origin`; resolves with the connect_error code, or 'connected'. */
function handshakeFrom(origin: string): Promise<string> {
  const socket = io(`${bridge.url}/visitor`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { origin } });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.close();
      resolve('connected');
    });
    socket.once('connect_error', (error) => {
      socket.close();
      resolve(error.message);
    });
  });
}

function refusalLines(): { origin: string; refused: number; level: number }[] {
  return lines
    .map((line) => JSON.parse(line) as { msg: string; origin: string; refused: number; level: number })
    .filter((entry) => entry.msg.includes('origin not in ALLOWED_ORIGINS'));
}

describe('refused origins', () => {
  it('refuses the handshake and logs each origin once a minute at most, counting the refusals in between', async () => {
    for (let i = 0; i < 3; i++) expect(await handshakeFrom('https://elsewhere.example')).toBe('forbidden');
    expect(refusalLines()).toEqual([expect.objectContaining({ origin: 'https://elsewhere.example', refused: 1, level: 40 })]);

    now += 59_000;
    expect(await handshakeFrom('https://elsewhere.example')).toBe('forbidden');
    expect(await handshakeFrom('https://other.example')).toBe('forbidden');
    expect(refusalLines().map((l) => [l.origin, l.refused])).toEqual([
      ['https://elsewhere.example', 1],
      ['https://other.example', 1],
    ]);

    now += 1_000;
    expect(await handshakeFrom('https://elsewhere.example')).toBe('forbidden');
    expect(refusalLines().map((l) => [l.origin, l.refused])).toEqual([
      ['https://elsewhere.example', 1],
      ['https://other.example', 1],
      // The three refusals not logged on their own, and this one.
      ['https://elsewhere.example', 4],
    ]);

    // An allowed origin connects and logs no refusal.
    const visitor = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: ALLOWED } });
    visitor.close();
    expect(refusalLines()).toHaveLength(3);
  });
});
