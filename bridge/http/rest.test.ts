import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAgent, connectVisitor, emitWithAck, nextEvent, startTestBridge, type TestBridge } from '../testing/index.ts';

let tb: TestBridge;
let staticDir: string;
const API_KEY = 'integration-key-0123456789abcdef';

async function api(path: string, init: RequestInit & { token?: string | null; json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? tb.agent.token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(tb.url + path, { ...init, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are read loosely; expect() checks their shape.
  return { status: res.status, json: json as Record<string, any>, text, headers: res.headers };
}

async function conversationWithMessages(count: number) {
  const v = await connectVisitor(tb.url);
  for (let i = 1; i <= count; i++) await emitWithAck(v, 'message:send', { clientId: `m${i}`, text: `message ${i}` });
  return v;
}

beforeAll(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'anon-chat-static-'));
  for (const dir of ['widget', 'console', 'demo']) await mkdir(join(staticDir, dir));
  await writeFile(join(staticDir, 'widget', 'anon-chat.js'), 'export {};');
  await writeFile(join(staticDir, 'console', 'index.html'), '<!doctype html><title>console</title>');
  await writeFile(join(staticDir, 'demo', 'index.html'), '<!doctype html><title>demo</title>');
  tb = await startTestBridge({
    config: { apiKey: API_KEY },
    staticRoots: { widget: join(staticDir, 'widget'), console: join(staticDir, 'console'), demo: join(staticDir, 'demo') },
  });
});
afterAll(async () => {
  await tb.close();
  await rm(staticDir, { recursive: true, force: true });
});

describe('health', () => {
  it('reports storage state without auth and without the data path', async () => {
    const res = await api('/health', { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, storage: { ok: true, engine: expect.any(String) } });
    expect(res.text).not.toContain(tb.dataDir);
  });
});

describe('auth', () => {
  it('logs an agent in, and refuses wrong passwords, bad bodies and missing tokens', async () => {
    const login = await api('/api/auth/login', { method: 'POST', token: null, json: { name: tb.agent.name, password: tb.agent.password } });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ token: expect.any(String), agent: { id: tb.agent.id, name: tb.agent.name } });
    const me = await api('/api/auth/me', { token: login.json.token as string });
    expect(me.json).toEqual({
      kind: 'agent',
      agent: { id: tb.agent.id, name: tb.agent.name, displayName: tb.agent.displayName, role: 'admin', active: true, hasPassword: true, availability: 'online', createdAt: expect.any(String) },
      // The console refuses a file over ATTACHMENT_MAX_BYTES without uploading it, as the widget does.
      attachments: { maxBytes: tb.config.attachments.maxBytes },
    });
    const socket = await connectAgent(tb.url, login.json.token as string);
    socket.close();

    const wrong = await api('/api/auth/login', { method: 'POST', token: null, json: { name: tb.agent.name, password: 'nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    const unknown = await api('/api/auth/login', { method: 'POST', token: null, json: { name: 'nobody', password: 'nope' } });
    expect(unknown.json).toEqual(wrong.json);
    expect((await api('/api/auth/login', { method: 'POST', token: null, json: { name: 'x' } })).json).toMatchObject({
      error: { code: 'bad_request', fields: { password: expect.any(String) } },
    });
    expect((await api('/api/auth/me', { token: null })).status).toBe(401);
    expect((await api('/api/auth/me', { token: 'garbage' })).status).toBe(401);
    expect((await api('/api/conversations', { token: 'wrong-api-key-0123456789abcdef' })).status).toBe(401);
    expect((await api('/api/auth/me', { token: API_KEY })).json).toEqual({ kind: 'api_key', attachments: { maxBytes: expect.any(Number) } });
  });
});

describe('conversations', () => {
  it('lists, pages history, replies idempotently with fan-out and marks read', async () => {
    const v = await conversationWithMessages(5);
    const id = v.session.conversationId;
    const list = await api('/api/conversations?filter=all&limit=10');
    expect(list.status).toBe(200);
    expect(list.json.conversations[0]).toMatchObject({ id, unread: 5, visitorOnline: true, channel: 'web' });

    const page = await api(`/api/conversations/${id}/messages?limit=2`);
    expect(page.json.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 5]);
    expect(page.json.hasMore).toBe(true);
    const older = await api(`/api/conversations/${id}/messages?before=4&limit=100`);
    expect(older.json.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
    expect(older.json.hasMore).toBe(false);
    expect((await api(`/api/conversations/${id}/messages?limit=101`)).json.error.code).toBe('bad_request');
    expect((await api(`/api/conversations/${id}/messages?limit=abc`)).status).toBe(400);

    const visitorGot = nextEvent(v, 'message:new');
    const reply = await api(`/api/conversations/${id}/messages`, { method: 'POST', json: { text: 'From REST', clientId: 'rest-1' } });
    expect(reply.status).toBe(201);
    expect(reply.json.message).toMatchObject({ clientId: 'rest-1', seq: 6, author: { role: 'agent', name: tb.agent.displayName } });
    expect((await visitorGot).id).toBe(reply.json.message.id);
    const again = await api(`/api/conversations/${id}/messages`, { method: 'POST', json: { text: 'From REST', clientId: 'rest-1' } });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ message: reply.json.message, created: false });
    const viaKey = await api(`/api/conversations/${id}/messages`, { method: 'POST', token: API_KEY, json: { text: 'bot' } });
    expect(viaKey.json.message.author).toEqual({ role: 'agent', name: 'API' });

    const read = await api(`/api/conversations/${id}/read`, { method: 'POST' });
    expect(read.json).toEqual({ changed: 5 });
    const after = await api('/api/conversations?filter=all');
    expect(after.json.conversations.find((c: { id: string }) => c.id === id)).toMatchObject({ unread: 0 });
    v.close();
  });

  it('answers bad input with JSON errors and the fitting status, never a 500 or a stack', async () => {
    const v = await conversationWithMessages(1);
    const id = v.session.conversationId;
    const path = `/api/conversations/${id}/messages`;
    const cases: [RequestInit & { json?: unknown; token?: string | null }, number, string][] = [
      [{ method: 'POST', body: '{"text": "x"', headers: { 'Content-Type': 'application/json' } }, 400, 'bad_request'],
      [{ method: 'POST', body: 'text=hi', headers: { 'Content-Type': 'text/plain' } }, 415, 'unsupported_media_type'],
      [{ method: 'POST', json: { text: '' } }, 400, 'text_empty'],
      [{ method: 'POST', json: { text: '\u0000\u200b\u200c' } }, 400, 'text_empty'],
      [{ method: 'POST', body: '{"text":"\\ud800"}', headers: { 'Content-Type': 'application/json' } }, 400, 'text_invalid'],
      [{ method: 'POST', json: { text: 'x'.repeat(4001) } }, 400, 'text_too_long'],
      [{ method: 'POST', json: { text: 'x', admin: true } }, 400, 'bad_request'],
      [{ method: 'POST', body: '{"__proto__":{"x":1},"text":"hi"}', headers: { 'Content-Type': 'application/json' } }, 400, 'bad_request'],
      [{ method: 'POST', body: JSON.stringify({ text: 'x'.repeat(40_000) }), headers: { 'Content-Type': 'application/json' } }, 413, 'payload_too_large'],
      [{ method: 'POST', json: { text: 'x' }, token: null }, 401, 'unauthorized'],
    ];
    for (const [init, status, code] of cases) {
      const res = await api(path, init);
      expect([res.status, res.json?.error?.code], JSON.stringify(init).slice(0, 80)).toEqual([status, code]);
      expect(res.text).not.toMatch(/at .*\.ts|Error:/);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
    }
    expect((await api('/api/conversations/AAAAAAAAAAAAAAAAAAAAAA/messages')).status).toBe(404);
    expect((await api('/api/conversations/..%2f..%2fetc/messages')).status).toBe(404);
    expect((await api('/api/conversations/%E0%A4%A/messages')).status).toBe(400);
    expect((await api('/api/nothing-here')).json).toMatchObject({ error: { code: 'not_found' } });
    expect((await api('/api/conversations?limit=0')).status).toBe(400);
    expect((await api('/api/conversations?unknown=1')).status).toBe(400);
    const history = await api(`/api/conversations/${id}/messages`);
    expect(history.json.messages).toHaveLength(1);
    v.close();
  });
});

describe('login throttling', () => {
  // One bridge behind a trusted proxy, so each request names its client IP; the clock moves only when told.
  let limited: TestBridge;
  let now = Date.parse('2026-12-02T08:00:00.000Z');
  beforeAll(async () => {
    limited = await startTestBridge({ config: { rateLimits: { loginPerMinute: 2 }, trustProxy: true }, clock: () => new Date(now) });
  });
  afterAll(async () => {
    await limited?.close();
  });
  const login = (ip: string, name: string, password: string) =>
    fetch(`${limited.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip },
      body: JSON.stringify({ name, password }),
    });

  it('rate limits logins per IP with 429; no login answer is cached', async () => {
    const first = await login('10.0.0.1', 'x', 'y');
    expect(first.status).toBe(401);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect((await login('10.0.0.1', 'x', 'y')).status).toBe(401);
    const third = await login('10.0.0.1', 'x', 'y');
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(third.headers.get('cache-control')).toBe('no-store');
    expect(await third.json()).toMatchObject({ error: { code: 'rate_limited' } });
  });

  it('delays an account after 5 failures from any IPs, doubling; the right password gets in once the delay ends', async () => {
    const { name, password } = limited.agent;
    for (let i = 1; i <= 5; i++) expect((await login(`10.0.1.${i}`, name, 'guess')).status).toBe(401);
    // The owner, from an IP that never failed, waits out the first delay (1 s) and no longer.
    const early = await login('10.0.2.1', name, password);
    expect(early.status).toBe(429);
    expect(early.headers.get('retry-after')).toBe('1');
    expect(await early.json()).toMatchObject({ error: { code: 'rate_limited' } });
    now += 1_000;
    const ok = await login('10.0.2.1', name, password);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(await ok.json()).toMatchObject({ agent: { name } });

    // The success cleared the failures: five more before a delay, then 1 s, then 2 s (case does not make a new account).
    for (let i = 1; i <= 5; i++) expect((await login(`10.0.3.${i}`, name.toUpperCase(), 'guess')).status).toBe(401);
    now += 1_000;
    expect((await login('10.0.3.6', name, 'guess')).status).toBe(401);
    const doubled = await login('10.0.2.2', name, password);
    expect([doubled.status, doubled.headers.get('retry-after')]).toEqual([429, '2']);
    now += 2_000;
    expect((await login('10.0.2.2', name, password)).status).toBe(200);
  });
});

describe('static files', () => {
  it('serves the widget with CORS, the console with SPA fallback and the demo with security headers', async () => {
    const root = await fetch(tb.url + '/', { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/demo/']);
    const widget = await fetch(tb.url + '/widget/anon-chat.js');
    expect(widget.status).toBe(200);
    expect(widget.headers.get('access-control-allow-origin')).toBe('*');
    expect(widget.headers.get('cache-control')).toMatch(/max-age/);
    const deepLink = await fetch(tb.url + '/console/conversations/abc');
    expect(deepLink.status).toBe(200);
    expect(await deepLink.text()).toContain('<title>console</title>');
    expect(deepLink.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect((await fetch(tb.url + '/console/missing.js')).status).toBe(404);
    const demo = await fetch(tb.url + '/demo/');
    expect(demo.status).toBe(200);
    expect(demo.headers.get('x-frame-options')).toBe('DENY');
    expect(demo.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
