/**
 * Issue #15 bug 4 over real HTTP: every refused inbound webhook leaves one warn line at the default level naming its
 * reason (never the secret, the presented token or signature, or the body) and the request id the sender got back,
 * on the fast path and on the Express path alike; accepted and refused requests are counted in /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBridge, type TestBridge } from '../testing/index.ts';
import { createLogger } from '../logger.ts';
import { webhookConfigFromEnv } from './webhook-config.ts';
import { metaSignature, timestampedSignature } from './signatures.ts';
import { STATUS_DELIVERY_HEADER, STATUS_SIGNATURE_HEADER } from './status-webhook.ts';

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const VERIFY_TOKEN = 'verify-token-5b1e0c7d';
const STATUS_SECRET = 'status-secret-0123456789abcdef';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
/** A text that must never reach the log. */
const BODY_NEEDLE = 'body-needle-4f1d2c9a';
const INBOUND = readFileSync(join(import.meta.dirname, 'fixtures', '04-meta-inbound-text.json'));

const lines: string[] = [];
let bridge: TestBridge;
let unconfigured: TestBridge;

beforeAll(async () => {
  // The production logger at the default level, writing into `lines`.
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const webhooks = webhookConfigFromEnv({
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    WHATSAPP_APP_SECRET: APP_SECRET,
    STATUS_WEBHOOK_SECRET: STATUS_SECRET,
  });
  bridge = await startTestBridge({ logger, config: { webhooks, metricsToken: METRICS_TOKEN } });
  unconfigured = await startTestBridge({ logger, config: { metricsToken: METRICS_TOKEN } });
});

afterAll(async () => {
  await bridge?.close();
  await unconfigured?.close();
});

interface Answer {
  status: number;
  requestId: string | undefined;
}

/** One raw HTTP request (so the body can be sent chunked: the Express path) */
function send(
  target: TestBridge,
  method: string,
  path: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
  chunked = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = { ...headers };
    if (body && !chunked) all['content-length'] = String(body.length);
    const req = request(`${target.url}${path}`, { method, headers: all }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: res.headers['x-request-id'] as string | undefined }));
    });
    req.on('error', reject);
    if (body && chunked) {
      req.write(body.subarray(0, 10));
      req.end(body.subarray(10));
    } else req.end(body);
  });
}

const needleBody = Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [], note: BODY_NEEDLE }));
const json = { 'content-type': 'application/json' };

function refusalLines(): { reqId?: string; webhook: string; reason: string; level: number; code: string }[] {
  return lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'webhooks: inbound request refused');
}

async function scrape(target: TestBridge): Promise<string> {
  const res = await fetch(`${target.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  return res.text();
}

function count(text: string, webhook: string, result: string, reason: string): number {
  const series = `anon_chat_inbound_webhooks_total{webhook="${webhook}",result="${result}",reason="${reason}"} `;
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line ? Number(line.slice(series.length)) : 0;
}

const now = (): number => Math.floor(Date.now() / 1000);

/** [what, request, expected status, webhook label, reason] */
const REFUSALS: [string, () => Promise<Answer>, number, string, string][] = [
  [
    'an unknown verify token',
    () => send(bridge, 'GET', `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong-${BODY_NEEDLE}&hub.challenge=1`, undefined, {}),
    403,
    'whatsapp_verify',
    'bad_verify_token',
  ],
  [
    'a bad signature (fast path)',
    () => send(bridge, 'POST', '/webhooks/whatsapp', needleBody, { ...json, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }),
    401,
    'whatsapp',
    'bad_signature',
  ],
  [
    'a bad signature (Express path, chunked body)',
    () =>
      send(bridge, 'POST', '/webhooks/whatsapp', needleBody, { ...json, 'x-hub-signature-256': metaSignature(needleBody, 'not-the-secret') }, true),
    401,
    'whatsapp',
    'bad_signature',
  ],
  ['a missing signature', () => send(bridge, 'POST', '/webhooks/whatsapp', needleBody, json), 401, 'whatsapp', 'signature_missing'],
  [
    'a signed body that is not a WhatsApp update',
    () => send(bridge, 'POST', '/webhooks/whatsapp', Buffer.from(`{"x":"${BODY_NEEDLE}"}`), {
      ...json,
      'x-hub-signature-256': metaSignature(`{"x":"${BODY_NEEDLE}"}`, APP_SECRET),
    }),
    400,
    'whatsapp',
    'invalid_payload',
  ],
  [
    'an expired status signature',
    () => send(bridge, 'POST', '/webhooks/status', needleBody, {
      ...json,
      [STATUS_SIGNATURE_HEADER]: timestampedSignature(STATUS_SECRET, now() - 3600, needleBody),
      [STATUS_DELIVERY_HEADER]: 'd-1',
    }),
    401,
    'status',
    'signature_expired',
  ],
  [
    'a wrong status signature (Express path)',
    () =>
      send(bridge, 'POST', '/webhooks/status', needleBody, {
        ...json,
        [STATUS_SIGNATURE_HEADER]: timestampedSignature('not-the-secret-at-all', now(), needleBody),
        [STATUS_DELIVERY_HEADER]: 'd-2',
      }, true),
    401,
    'status',
    'bad_signature',
  ],
  [
    'a missing delivery id',
    () => send(bridge, 'POST', '/webhooks/status', needleBody, {
      ...json,
      [STATUS_SIGNATURE_HEADER]: timestampedSignature(STATUS_SECRET, now(), needleBody),
    }),
    400,
    'status',
    'bad_delivery_id',
  ],
  [
    'an oversized body (Express path: body-parser refuses it)',
    () => send(bridge, 'POST', '/webhooks/status', Buffer.alloc(100 * 1024, 0x20), json),
    413,
    'status',
    'payload_too_large',
  ],
  [
    'a webhook this bridge does not have configured',
    () => send(unconfigured, 'POST', '/webhooks/status', needleBody, json),
    404,
    'status',
    'not_configured',
  ],
];

describe('inbound webhook refusals', () => {
  for (const [what, attempt, status, webhook, reason] of REFUSALS) {
    it(`logs and counts ${what} as ${reason}`, async () => {
      const target = what.includes('not have configured') ? unconfigured : bridge;
      const before = count(await scrape(target), webhook, 'refused', reason);
      const seen = refusalLines().length;
      const answer = await attempt();
      expect(answer.status).toBe(status);
      expect(answer.requestId).toBeTruthy();
      const fresh = refusalLines().slice(seen);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]).toMatchObject({ level: 40, webhook, reason, reqId: answer.requestId });
      expect(count(await scrape(target), webhook, 'refused', reason)).toBe(before + 1);
    });
  }

  it('counts accepted requests on both paths and logs nothing for them at the default level', async () => {
    const before = await scrape(bridge);
    const seen = lines.length;
    const signed = { ...json, 'x-hub-signature-256': metaSignature(INBOUND, APP_SECRET) };
    expect((await send(bridge, 'POST', '/webhooks/whatsapp', INBOUND, signed)).status).toBe(200);
    expect((await send(bridge, 'POST', '/webhooks/whatsapp', INBOUND, signed, true)).status).toBe(200);
    const verify = `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=42`;
    expect((await send(bridge, 'GET', verify, undefined, {})).status).toBe(200);
    const after = await scrape(bridge);
    expect(count(after, 'whatsapp', 'accepted', 'ok')).toBe(count(before, 'whatsapp', 'accepted', 'ok') + 2);
    expect(count(after, 'whatsapp_verify', 'accepted', 'ok')).toBe(count(before, 'whatsapp_verify', 'accepted', 'ok') + 1);
    // The customer's message was stored once (the second delivery of the same wamid is deduplicated).
    expect(after).toMatch(/^anon_chat_messages_stored_total\{channel="whatsapp",role="visitor"\} 1$/m);
    expect(lines.slice(seen).filter((line) => JSON.parse(line).level >= 40)).toEqual([]);
  });

  it('never logs the secrets, the presented token or signature, or the body', () => {
    const log = lines.join('');
    expect(refusalLines().length).toBeGreaterThanOrEqual(REFUSALS.length);
    for (const secret of [APP_SECRET, VERIFY_TOKEN, STATUS_SECRET, BODY_NEEDLE, '0'.repeat(64), 'Does it come in another color']) {
      expect(log).not.toContain(secret);
    }
  });
});
