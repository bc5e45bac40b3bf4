/**
 * `GET /metrics` over real HTTP: the token gate, every metric family the README lists moving with real traffic
 * (sockets, REST, webhooks, a loopback receiver for outbound deliveries), one registry per bridge, and the Grafana
 * dashboard using only names the endpoint serves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectAgent,
  connectVisitor,
  emitWithAck,
  startTestBridge,
  waitUntil,
  type TestBridge,
  type TestBridgeOptions,
} from './testing/index.ts';
import { webhookConfigFromEnv } from './webhooks/webhook-config.ts';
import { startScriptedServer } from './webhooks/test-servers.ts';
import { METRIC_PREFIX } from './metrics.ts';

const TOKEN = 'metrics-token-0123456789abcdef';
const DASHBOARD = join(import.meta.dirname, '..', 'docs', 'grafana', 'anon-chat-dashboard.json');
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function bridgeWith(options: TestBridgeOptions = {}, metricsToken: string | null = TOKEN): Promise<TestBridge> {
  const bridge = await startTestBridge({
    ...options,
    config: { ...options.config, ...(metricsToken ? { metricsToken } : {}) },
  });
  cleanups.push(() => bridge.close());
  return bridge;
}

async function scrape(bridge: TestBridge, token = TOKEN): Promise<string> {
  const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample (`name{labels}` exactly as exposed, labels in declaration order); undefined if absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Polls `/metrics` until `series` reaches at least `min` (counters that move after the answer, e.g. deliveries). */
async function scrapeUntil(bridge: TestBridge, series: string, min: number): Promise<string> {
  return waitUntil(
    `${series} >= ${min} in a scrape`,
    async () => {
      const text = await scrape(bridge);
      return (sample(text, series) ?? 0) >= min ? text : undefined;
    },
    { intervalMs: 50 },
  );
}

/** Every metric family the endpoint exposes, with the sample names each may carry. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

describe('GET /metrics access', () => {
  it('is a 404 while METRICS_TOKEN is unset', async () => {
    const bridge = await bridgeWith({}, null);
    const res = await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain(METRIC_PREFIX);
  });

  it('refuses a missing, wrong or differently long token with 401 and serves the right one', async () => {
    const bridge = await bridgeWith();
    for (const authorization of [undefined, 'Bearer x', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.replace(/.$/, '!')}`, TOKEN]) {
      const res = await fetch(`${bridge.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, `authorization ${authorization}`).toBe(401);
      expect((await res.json()).error.code).toBe('unauthorized');
    }
    const ok = await fetch(`${bridge.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await ok.text();
    // Process metrics and event-loop lag, under the product prefix.
    expect(text).toMatch(/^anon_chat_process_cpu_seconds_total /m);
    expect(text).toMatch(/^anon_chat_nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^anon_chat_process_resident_memory_bytes /m);
    for (const line of text.split('\n')) {
      if (line && !line.startsWith('#')) expect(line.startsWith(METRIC_PREFIX), line).toBe(true);
    }
  });
});

describe('GET /metrics content', () => {
  it('counts sockets by namespace, messages by channel and role, send→ack and store commit latency', async () => {
    const bridge = await bridgeWith();
    const visitor = await connectVisitor(bridge.url);
    cleanups.push(() => void visitor.close());
    const agent = await connectAgent(bridge.url, bridge.agent.token);
    cleanups.push(() => void agent.close());
    const before = await scrape(bridge);
    expect(sample(before, 'anon_chat_connected_sockets{namespace="/visitor"}')).toBe(1);
    expect(sample(before, 'anon_chat_connected_sockets{namespace="/agent"}')).toBe(1);
    expect(sample(before, 'anon_chat_send_ack_seconds_count')).toBe(0);

    const ack = await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: 'hello' });
    expect(ack.ok).toBe(true);
    // A retry of the same clientId is deduplicated: acked again, not stored again.
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: 'hello' })).ok).toBe(true);
    const conversationId = visitor.session.conversationId;
    expect((await emitWithAck(agent, 'message:send', { conversationId, clientId: 'a-1', text: 'hi' })).ok).toBe(true);
    const rest = await fetch(`${bridge.url}/api/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bridge.agent.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'r-1', text: 'from REST' }),
    });
    expect(rest.status).toBeLessThan(300);

    const text = await scrape(bridge);
    expect(sample(text, 'anon_chat_messages_stored_total{channel="web",role="visitor"}')).toBe(1);
    expect(sample(text, 'anon_chat_messages_stored_total{channel="web",role="agent"}')).toBe(2);
    expect(sample(text, 'anon_chat_messages_stored_total{channel="whatsapp",role="visitor"}')).toBe(0);
    // Three socket sends acked (the retry too); the REST send has no socket ack.
    expect(sample(text, 'anon_chat_send_ack_seconds_count')).toBe(3);
    expect(sample(text, 'anon_chat_send_ack_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(sample(text, 'anon_chat_store_commit_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'anon_chat_queue_items{queue="webhook",state="pending"}')).toBe(0);
    expect(sample(text, 'anon_chat_queue_items{queue="whatsapp-send",state="dead"}')).toBe(0);

    visitor.close();
    await scrapeUntil(bridge, 'anon_chat_connected_sockets{namespace="/agent"}', 1);
    await waitUntil('the visitor socket to leave the gauge', async () => sample(await scrape(bridge), 'anon_chat_connected_sockets{namespace="/visitor"}') === 0, {
      intervalMs: 20,
    });
  });

  it('counts rate-limit refusals by scope', async () => {
    const bridge = await bridgeWith({ config: { rateLimits: { messagesPerMinute: 1, httpPerMinute: 1 } } });
    const visitor = await connectVisitor(bridge.url);
    cleanups.push(() => void visitor.close());
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: 'one' })).ok).toBe(true);
    const refused = await emitWithAck(visitor, 'message:send', { clientId: 'm-2', text: 'two' });
    expect(refused.ok ? 'ok' : refused.error.code).toBe('rate_limited');
    for (let i = 0; i < 2; i++) await fetch(`${bridge.url}/api/conversations`);
    const text = await scrape(bridge);
    expect(sample(text, 'anon_chat_rate_limit_refusals_total{scope="messages"}')).toBe(1);
    expect(sample(text, 'anon_chat_rate_limit_refusals_total{scope="http"}')).toBe(1);
  });

  it('counts outbound deliveries by result and queue items by state', async () => {
    let calls = 0;
    // The first attempt fails (a retry), the second is accepted.
    const receiver = await startScriptedServer(() => (++calls === 1 ? { status: 500 } : { status: 200 }));
    cleanups.push(() => receiver.close());
    const bridge = await bridgeWith({
      config: {
        webhooks: webhookConfigFromEnv({
          WEBHOOK_URLS: `${receiver.url}/hook`,
          WEBHOOK_SECRET: 'whsec-test-0123456789abcdef',
          WEBHOOK_ALLOW_PRIVATE: 'true',
          WEBHOOK_RETRY_BASE_MS: '20',
          WEBHOOK_POLL_MS: '20',
        }),
      },
    });
    const visitor = await connectVisitor(bridge.url);
    cleanups.push(() => void visitor.close());
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: 'hook me' })).ok).toBe(true);
    const text = await scrapeUntil(bridge, 'anon_chat_outbound_deliveries_total{queue="webhook",result="delivered"}', 1);
    expect(sample(text, 'anon_chat_outbound_deliveries_total{queue="webhook",result="retry"}')).toBe(1);
    expect(sample(text, 'anon_chat_queue_items{queue="webhook",state="delivered"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'anon_chat_queue_items{queue="webhook",state="dead"}')).toBe(0);
  });

  it('keeps one registry per bridge: two bridges in one process count their own traffic', async () => {
    const a = await bridgeWith();
    const b = await bridgeWith();
    const visitor = await connectVisitor(a.url);
    cleanups.push(() => void visitor.close());
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'm-1', text: 'only on a' })).ok).toBe(true);
    expect(sample(await scrape(a), 'anon_chat_messages_stored_total{channel="web",role="visitor"}')).toBe(1);
    const other = await scrape(b);
    expect(sample(other, 'anon_chat_messages_stored_total{channel="web",role="visitor"}')).toBe(0);
    expect(sample(other, 'anon_chat_connected_sockets{namespace="/visitor"}')).toBe(0);
  });
});

describe('Grafana dashboard', () => {
  it('uses only metric names that /metrics serves, and shows every family the bridge defines', async () => {
    const bridge = await bridgeWith();
    const exposed = exposedNames(await scrape(bridge));
    const dashboard = readFileSync(DASHBOARD, 'utf8');
    JSON.parse(dashboard);
    const used = new Set(dashboard.match(/anon_chat_[a-z0-9_]+/g) ?? []);
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(exposed, `dashboard metric ${name}`).toContain(name);
    for (const family of [
      'anon_chat_connected_sockets',
      'anon_chat_messages_stored_total',
      'anon_chat_send_ack_seconds_bucket',
      'anon_chat_store_commit_seconds_bucket',
      'anon_chat_queue_items',
      'anon_chat_inbound_webhooks_total',
      'anon_chat_outbound_deliveries_total',
      'anon_chat_rate_limit_refusals_total',
      'anon_chat_nodejs_eventloop_lag_seconds',
      'anon_chat_process_cpu_seconds_total',
    ]) {
      expect(used, `dashboard shows ${family}`).toContain(family);
    }
  });
});
