/**
 * The plain-http webhook path: which requests it serves and which it leaves, unread, to Express; and, against a
 * running bridge, that it answers every case exactly as the Express route does (the same request sent chunked
 * takes the Express route).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { BridgeError } from '../api-error.ts';
import { startTestBridge, type TestBridge } from '../testing/index.ts';
import { metaSignature, timestampedSignature } from './signatures.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { createWebhookFastPath } from './webhook-fast-path.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One POST over a fresh connection; `chunked` sends the body without a content-length. */
function send(
  url: string,
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
  options: { method?: string; chunked?: boolean } = {},
): Promise<Answer> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        method: options.method ?? 'POST',
        path,
        agent: false,
        headers: { ...(options.chunked ? {} : { 'content-length': String(bytes.length) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    if (options.chunked) {
      // Two writes without a length: Node sends `Transfer-Encoding: chunked`.
      req.write(bytes.subarray(0, 1));
      req.end(bytes.subarray(1));
    } else req.end(bytes);
  });
}

describe('createWebhookFastPath', () => {
  let server: Server;
  let url: string;
  let enabled = true;
  /** Requests the fast path left to the fallback, with the body bytes the fallback could still read. */
  let leftToFallback: { path: string; bytes: number }[] = [];
  const logLines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    }),
  );

  beforeAll(async () => {
    const fastPath = createWebhookFastPath(
      {
        '/hook': {
          limit: 100,
          enabled: () => enabled,
          accept: async (raw, headers) => {
            const text = raw.toString('utf8');
            if (text === '"deny"') throw new BridgeError('unauthorized', 'No.');
            if (text === '"crash"') throw new Error('secret detail');
            return { ok: true, bytes: raw.length, signature: headers['x-signature'] };
          },
        },
      },
      { logger, storageDegraded: () => false },
    );
    server = createServer((req, res) => {
      if (fastPath(req, res)) return;
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        leftToFallback.push({ path: req.url ?? '', bytes });
        res.end('fallback');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    enabled = true;
    leftToFallback = [];
    logLines.length = 0;
  });

  it('serves an ordinary JSON POST itself: 200, JSON, nosniff, the body and headers handed over, one request log line', async () => {
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8']) {
      const answer = await send(url, '/hook?x=1', '{"a":1}', { 'content-type': contentType, 'x-signature': 'sig' });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toEqual({ ok: true, bytes: 7, signature: 'sig' });
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
    const empty = await send(url, '/hook', '', { 'content-type': 'application/json' });
    expect(JSON.parse(empty.text)).toEqual({ ok: true, bytes: 0 });
    expect(leftToFallback).toEqual([]);
    expect(logLines.filter((l) => l.msg === 'http request')).toHaveLength(4);
    expect(logLines.at(-1)).toMatchObject({ method: 'POST', path: '/hook', status: 200 });
  });

  it('answers thrown errors with the JSON error shape: client errors keep their code, others are a logged 500 without their text', async () => {
    const denied = await send(url, '/hook', '"deny"', { 'content-type': 'application/json' });
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.text)).toEqual({ error: { code: 'unauthorized', message: 'No.' } });
    const crashed = await send(url, '/hook', '"crash"', { 'content-type': 'application/json' });
    expect(crashed.status).toBe(500);
    expect(crashed.text).not.toContain('secret detail');
    expect(JSON.parse(crashed.text)).toEqual({ error: { code: 'internal', message: 'Something went wrong on the server.' } });
    expect(logLines.some((l) => l.msg === 'unexpected failure' && l.path === '/hook')).toBe(true);
  });

  it('leaves every unusual request to the fallback with its body unread', async () => {
    const json = { 'content-type': 'application/json' };
    const body = '{"a":1}';
    await send(url, '/hook', body, json, { chunked: true });
    await send(url, '/hook', body, { ...json, 'content-encoding': 'gzip' });
    await send(url, '/hook', body, { 'content-type': 'text/plain' });
    await send(url, '/hook', body, { 'content-type': 'application/json; charset=latin1' });
    await send(url, '/hook', body, { 'content-type': 'application/vnd.api+json' });
    await send(url, '/hook', body, {});
    await send(url, '/hook', 'x'.repeat(101), json);
    await send(url, '/hook/', body, json);
    await send(url, '/other', body, json);
    await send(url, '/hook', body, json, { method: 'PUT' });
    enabled = false;
    await send(url, '/hook', body, json);
    expect(leftToFallback).toEqual([
      ...Array.from({ length: 6 }, () => ({ path: '/hook', bytes: 7 })),
      { path: '/hook', bytes: 101 },
      { path: '/hook/', bytes: 7 },
      { path: '/other', bytes: 7 },
      { path: '/hook', bytes: 7 },
      { path: '/hook', bytes: 7 },
    ]);
  });
});

describe('fast path and Express route answer alike', () => {
  const APP_SECRET = 'meta-app-secret-fast-path';
  const STATUS_SECRET = 'status-secret-fast-path';
  let bridge: TestBridge;
  let deliveries = 0;

  beforeEach(async () => {
    bridge = await startTestBridge({
      config: { webhooks: webhookConfigFromEnv({ WHATSAPP_APP_SECRET: APP_SECRET, STATUS_WEBHOOK_SECRET: STATUS_SECRET }) },
    });
  });

  afterEach(async () => {
    await bridge.close();
  });

  /** Sends `body` once with a length (fast path) and once chunked (Express route); both answers must match. */
  async function bothWays(path: string, body: string, headers: () => Record<string, string>): Promise<Answer> {
    const fast = await send(bridge.url, path, body, headers());
    const viaExpress = await send(bridge.url, path, body, headers(), { chunked: true });
    // Express's res.json adds an ETag (meaningless on a POST answer); its presence shows which path answered.
    expect(fast.headers.etag).toBeUndefined();
    expect(viaExpress.headers.etag).toBeDefined();
    expect({ status: fast.status, body: JSON.parse(fast.text) as unknown }).toEqual({
      status: viaExpress.status,
      body: JSON.parse(viaExpress.text) as unknown,
    });
    for (const header of ['content-type', 'x-content-type-options']) expect(fast.headers[header]).toBe(viaExpress.headers[header]);
    return fast;
  }

  it('POST /webhooks/whatsapp: applied, bad signatures, bad JSON, deep nesting, invalid shape', async () => {
    const meta = (body: string, signature = metaSignature(body, APP_SECRET)) => () => ({
      'content-type': 'application/json',
      'x-hub-signature-256': signature,
    });
    const status = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ changes: [{ field: 'messages', value: { statuses: [{ id: 'wamid.FAST1', status: 'delivered', timestamp: '1750030073' }] } }] }],
    });
    expect((await bothWays('/webhooks/whatsapp', status, meta(status))).status).toBe(200);
    expect((await bothWays('/webhooks/whatsapp', status, meta(status, 'sha256='))).status).toBe(401);
    expect((await bothWays('/webhooks/whatsapp', status, meta(status, metaSignature(`${status} `, APP_SECRET)))).status).toBe(401);
    const malformed = '{"object":"whatsapp_business_account","entry":[';
    expect((await bothWays('/webhooks/whatsapp', malformed, meta(malformed))).status).toBe(400);
    const deep = `{"object":"x","entry":[],"d":${'['.repeat(100)}${']'.repeat(100)}}`;
    expect((await bothWays('/webhooks/whatsapp', deep, meta(deep))).status).toBe(400);
    const invalid = '{"entry":"nope"}';
    const answer = await bothWays('/webhooks/whatsapp', invalid, meta(invalid));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toHaveProperty('error.fields');
  });

  it('POST /webhooks/status: applied, replayed delivery, bad and expired signatures, missing delivery id, unknown message', async () => {
    const signed = (body: string, opts: { t?: number; delivery?: string } = {}) => () => {
      const t = opts.t ?? Math.floor(Date.now() / 1000);
      return {
        'content-type': 'application/json',
        'x-anonchat-signature': timestampedSignature(STATUS_SECRET, t, body),
        'x-anonchat-delivery': opts.delivery ?? `fast-${++deliveries}`,
      };
    };
    const pending = JSON.stringify({ externalId: 'ext-fast-1', status: 'delivered', timestamp: 1750030073 });
    const applied = await bothWays('/webhooks/status', pending, signed(pending));
    expect(JSON.parse(applied.text)).toEqual({ ok: true, result: 'pending' });
    expect((await send(bridge.url, '/webhooks/status', pending, signed(pending, { delivery: 'same-delivery' })())).status).toBe(200);
    expect((await bothWays('/webhooks/status', pending, signed(pending, { delivery: 'same-delivery' }))).status).toBe(409);
    expect((await bothWays('/webhooks/status', pending, signed(pending, { t: Math.floor(Date.now() / 1000) - 3600 }))).status).toBe(401);
    expect(
      (
        await bothWays('/webhooks/status', pending, () => ({
          'content-type': 'application/json',
          'x-anonchat-signature': timestampedSignature(STATUS_SECRET, Math.floor(Date.now() / 1000), pending),
        }))
      ).status,
    ).toBe(400);
    const unknown = JSON.stringify({ conversationId: 'c_nope', messageId: 'm_nope', status: 'read', timestamp: 1750030073 });
    expect((await bothWays('/webhooks/status', unknown, signed(unknown))).status).toBe(404);
    const invalid = JSON.stringify({ status: 'read', timestamp: 1 });
    expect((await bothWays('/webhooks/status', invalid, signed(invalid))).status).toBe(400);
  });
});
