/**
 * The bridge's JSON log (the production pino logger, captured): a request id on every HTTP log line and in the
 * response, socket connects and disconnects at debug, and — at trace, the most verbose level — no secret, token,
 * password or message text, whichever way it came in (socket, REST, webhooks, the metrics scrape).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAgent, connectVisitor, emitWithAck, startTestBridge, TEST_AGENT, waitUntil } from './testing/index.ts';
import { createLogger } from './logger.ts';
import { webhookConfigFromEnv } from './webhooks/webhook-config.ts';
import { metaSignature, timestampedSignature } from './webhooks/signatures.ts';
import { STATUS_DELIVERY_HEADER, STATUS_SIGNATURE_HEADER } from './webhooks/status-webhook.ts';
import { startScriptedServer } from './webhooks/test-servers.ts';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  namespace?: string;
  [key: string]: unknown;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A bridge logging through the production logger at `level` into the returned array. */
async function loggedBridge(level: string, config: Parameters<typeof startTestBridge>[0] = {}) {
  const raw: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void raw.push(line) });
  const bridge = await startTestBridge({ ...config, logger });
  cleanups.push(() => bridge.close());
  return { bridge, raw, lines: () => raw.map((line) => JSON.parse(line) as LogLine) };
}

/** Waits for log lines (the deadline of waitUntil, sized for a loaded machine; was 10 s). */
async function until(what: string, probe: () => boolean): Promise<void> {
  await waitUntil(what, probe, { intervalMs: 10 });
}

describe('request ids', () => {
  it('echoes a sane X-Request-Id and replaces a missing or unsafe one with a fresh id', async () => {
    const { bridge } = await loggedBridge('info');
    const idOf = async (header?: string) =>
      (await fetch(`${bridge.url}/health`, { headers: header === undefined ? {} : { 'x-request-id': header } })).headers.get(
        'x-request-id',
      );
    expect(await idOf('lb-7f3a.42:b')).toBe('lb-7f3a.42:b');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const unsafe of [undefined, 'has space', 'x'.repeat(129), '"quoted"', '']) {
      const id = await idOf(unsafe);
      expect(id, `for ${JSON.stringify(unsafe)}`).toMatch(uuid);
    }
    expect(await idOf()).not.toBe(await idOf());
  });

  it('puts the id the client got on every HTTP log line, Express and webhook fast path alike', async () => {
    const { bridge, lines } = await loggedBridge('debug', {
      config: { webhooks: webhookConfigFromEnv({ STATUS_WEBHOOK_SECRET: 'status-secret-0123456789abcdef' }) },
    });
    const answered = new Set<string>();
    const call = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${bridge.url}${path}`, init);
      answered.add(res.headers.get('x-request-id') ?? 'missing');
      return res.status;
    };
    expect(await call('/health')).toBe(200);
    expect(await call('/api/conversations')).toBe(401);
    expect(await call('/no/such/page')).toBe(404);
    const login = JSON.stringify({ name: TEST_AGENT.name, password: TEST_AGENT.password });
    expect(await call('/api/auth/login', { method: 'POST', body: login, headers: { 'content-type': 'application/json' } })).toBe(200);
    // The fast path (plain JSON, declared length) refusing an unsigned status webhook.
    expect(await call('/webhooks/status', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).toBe(401);
    expect(await call('/webhooks/status', { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } })).toBe(401);

    await until('one http request line per call', () => lines().filter((l) => l.msg === 'http request').length >= 6);
    const http = lines().filter((l) => l.method !== undefined || l.msg === 'agent logged in' || l.msg.startsWith('webhooks: inbound'));
    expect(http.filter((l) => l.msg === 'http request')).toHaveLength(6);
    expect(http.some((l) => l.msg === 'agent logged in')).toBe(true);
    expect(http.filter((l) => l.msg === 'webhooks: inbound request refused')).toHaveLength(2);
    for (const line of http) expect(answered, JSON.stringify(line)).toContain(line.reqId);
  });
});

describe('socket logs', () => {
  it('logs connects and disconnects at debug, with ids and no tokens', async () => {
    const { bridge, lines, raw } = await loggedBridge('debug');
    const visitor = await connectVisitor(bridge.url);
    const agent = await connectAgent(bridge.url, bridge.agent.token);
    visitor.close();
    agent.close();
    await until('both disconnect lines', () => lines().filter((l) => l.msg === 'socket disconnected').length === 2);
    const socketLines = lines().filter((l) => l.msg.startsWith('socket '));
    for (const line of socketLines) expect(line.level).toBe(20);
    expect(socketLines.filter((l) => l.msg === 'socket connected').map((l) => l.namespace).sort()).toEqual(['/agent', '/visitor']);
    expect(socketLines.find((l) => l.namespace === '/visitor')).toMatchObject({ conversationId: visitor.session.conversationId });
    expect(raw.join('')).not.toContain(bridge.agent.token);
    expect(raw.join('')).not.toContain(visitor.session.token);
  });

  it('logs nothing for connects at the default level', async () => {
    const { bridge, raw } = await loggedBridge('info');
    const visitor = await connectVisitor(bridge.url);
    visitor.close();
    expect(raw.filter((line) => line.includes('socket '))).toEqual([]);
  });
});

describe('no secrets or message text in the log', () => {
  it('at trace, after a unique text and token went through sockets, REST, webhooks and the metrics scrape', async () => {
    const unique = `needle${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
    const secrets = {
      apiKey: `api-key-${unique}-0123456789`,
      metricsToken: `metrics-${unique}`,
      appSecret: `app-secret-${unique}`,
      verifyToken: `verify-${unique}`,
      accessToken: `access-${unique}`,
      statusSecret: `status-secret-${unique}`,
      eventSecret: `event-secret-${unique}`,
    };
    const receiver = await startScriptedServer(() => ({ status: 200 }));
    cleanups.push(() => receiver.close());
    const graph = await startScriptedServer(() => ({
      status: 200,
      body: { messaging_product: 'whatsapp', contacts: [{ input: '1', wa_id: '1' }], messages: [{ id: `wamid.${unique}` }] },
    }));
    cleanups.push(() => graph.close());
    const { bridge, raw } = await loggedBridge('trace', {
      config: {
        apiKey: secrets.apiKey,
        metricsToken: secrets.metricsToken,
        webhooks: webhookConfigFromEnv({
          WHATSAPP_VERIFY_TOKEN: secrets.verifyToken,
          WHATSAPP_APP_SECRET: secrets.appSecret,
          WHATSAPP_ACCESS_TOKEN: secrets.accessToken,
          WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
          WHATSAPP_API_BASE: `${graph.url}/v21.0`,
          STATUS_WEBHOOK_SECRET: secrets.statusSecret,
          WEBHOOK_URLS: `${receiver.url}/hook`,
          WEBHOOK_SECRET: secrets.eventSecret,
          WEBHOOK_ALLOW_PRIVATE: 'true',
          WEBHOOK_POLL_MS: '20',
        }),
      },
    });
    const texts = {
      visitor: `visitor says ${unique}`,
      agent: `agent says ${unique}`,
      rest: `rest says ${unique}`,
      whatsapp: `whatsapp says ${unique}`,
      refused: `refused says ${unique}`,
    };

    // Socket: a visitor (then again with its session token) and an agent.
    const first = await connectVisitor(bridge.url);
    cleanups.push(() => void first.close());
    const visitor = await connectVisitor(bridge.url, { token: first.session.token });
    cleanups.push(() => void visitor.close());
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'v-1', text: texts.visitor })).ok).toBe(true);
    const agent = await connectAgent(bridge.url, bridge.agent.token);
    cleanups.push(() => void agent.close());
    const conversationId = visitor.session.conversationId;
    expect((await emitWithAck(agent, 'message:send', { conversationId, clientId: 'a-1', text: texts.agent })).ok).toBe(true);

    // REST: login (password), a send with the agent token and one with the API key, a refused wrong token.
    const login = await fetch(`${bridge.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: TEST_AGENT.name, password: TEST_AGENT.password }),
    });
    const { token: loginToken } = (await login.json()) as { token: string };
    for (const bearer of [loginToken, secrets.apiKey]) {
      const res = await fetch(`${bridge.url}/api/conversations/${conversationId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: texts.rest }),
      });
      expect(res.status).toBe(201);
    }
    expect(
      (await fetch(`${bridge.url}/api/conversations`, { headers: { authorization: `Bearer wrong-${unique}` } })).status,
    ).toBe(401);

    // Webhooks: verification (right and wrong token), a signed inbound text, a badly signed one, a status update
    // (its ids are not secrets and may be logged).
    const verify = (token: string) =>
      fetch(`${bridge.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=${unique}`);
    expect((await verify(secrets.verifyToken)).status).toBe(200);
    expect((await verify(`wrong-${unique}`)).status).toBe(403);
    const inbound = readFileSync(join(import.meta.dirname, 'webhooks', 'fixtures', '04-meta-inbound-text.json'), 'utf8').replace(
      'Does it come in another color?',
      texts.whatsapp,
    );
    const postMeta = (body: string, signature: string) =>
      fetch(`${bridge.url}/webhooks/whatsapp`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
      });
    expect((await postMeta(inbound, metaSignature(inbound, secrets.appSecret))).status).toBe(200);
    const refused = inbound.replace(texts.whatsapp, texts.refused);
    expect((await postMeta(refused, metaSignature(refused, `wrong-${unique}`))).status).toBe(401);
    const status = JSON.stringify({ externalId: `wamid.unknown-${Date.now()}`, status: 'delivered', timestamp: Math.floor(Date.now() / 1000) });
    const statusRes = await fetch(`${bridge.url}/webhooks/status`, {
      method: 'POST',
      body: status,
      headers: {
        'content-type': 'application/json',
        [STATUS_SIGNATURE_HEADER]: timestampedSignature(secrets.statusSecret, Math.floor(Date.now() / 1000), status),
        [STATUS_DELIVERY_HEADER]: `d-${Date.now()}`,
      },
    });
    expect(statusRes.status).toBeLessThan(500);

    // The agent's reply to the WhatsApp conversation goes out through the Graph API with the access token.
    const whatsappConversation = await bridge.store.findConversationByExternalUser('whatsapp', '16505551234');
    expect(whatsappConversation).toBeDefined();
    const reply = { conversationId: whatsappConversation!.id, clientId: 'a-2', text: texts.agent };
    expect((await emitWithAck(agent, 'message:send', reply)).ok).toBe(true);
    await until('the WhatsApp send and the event webhooks', () => graph.requests.length >= 1 && receiver.requests.length >= 3);

    // Metrics: the right token and a wrong one.
    for (const token of [secrets.metricsToken, `wrong-${unique}`]) {
      await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    }
    visitor.close();
    agent.close();
    await until('the disconnect lines', () => raw.filter((line) => line.includes('"socket disconnected"')).length >= 2);

    const log = raw.join('');
    // The capture is real: trace shows the requests and sockets that happened.
    expect(raw.length).toBeGreaterThan(10);
    expect(log).toContain('"socket connected"');
    expect(log).toContain('"http request"');
    const forbidden = [
      unique,
      ...Object.values(secrets),
      TEST_AGENT.password,
      bridge.agent.token,
      loginToken,
      first.session.token,
      visitor.session.token,
      bridge.config.secrets.visitorToken,
      bridge.config.secrets.agentToken,
      bridge.config.secrets.site,
    ];
    for (const value of forbidden) expect(log.includes(value), `the log contains ${value.slice(0, 12)}…`).toBe(false);
  });
});
