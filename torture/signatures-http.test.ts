/**
 * Case 5 over HTTP: the same ≥ 20-row `X-Hub-Signature-256` table posted to `POST /webhooks/whatsapp` of a real
 * bridge, duplicated headers sent as two header lines: invalid → 401, valid → 2xx, never 5xx, and refused
 * bodies change nothing in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { loadConfig } from '../bridge/config.ts';
import { startTestBridge, type TestBridge } from '../bridge/testing/test-bridge.ts';
import { signatureCases, whatsappInboundBody, type SignatureCase } from './signature-cases.ts';
import { digestDir } from './wire-fuzz.ts';

const APP_SECRET = 'torture-app-secret-0123456789';
const PHONE_NUMBER_ID = '1234567890';

function post(url: string, c: SignatureCase): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL('/webhooks/whatsapp', url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        // An array value makes Node send the header once per element: a real duplicated header.
        headers: {
          'content-type': 'application/json',
          'content-length': String(c.body.length),
          ...(c.header.length === 0 ? {} : { 'x-hub-signature-256': c.header.length === 1 ? c.header[0]! : c.header }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(c.body);
  });
}

describe('X-Hub-Signature-256 table over HTTP', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    const webhooks = loadConfig(
      {
        DATA_DIR: '/nonexistent',
        VISITOR_TOKEN_SECRET: 'x'.repeat(32),
        AGENT_TOKEN_SECRET: 'y'.repeat(32),
        SITE_SECRET: 'z'.repeat(32),
        WHATSAPP_APP_SECRET: APP_SECRET,
        WHATSAPP_VERIFY_TOKEN: 'torture-verify-token',
      },
      { persistSecrets: false },
    ).webhooks;
    bridge = await startTestBridge({ config: { webhooks } });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('invalid → 401 and no state change, valid → 2xx, never 5xx', async () => {
    const cases = signatureCases(APP_SECRET, (n, text) =>
      whatsappInboundBody({ phoneNumberId: PHONE_NUMBER_ID, waId: `1555000${1000 + n}`, wamid: `wamid.HTTP${n}`, text }),
    );
    expect(cases.length).toBeGreaterThanOrEqual(20);
    const results: { name: string; valid: boolean; status: number }[] = [];
    for (const c of cases.filter((x) => !x.valid)) {
      await bridge.store.checkpoint();
      const before = digestDir(bridge.dataDir);
      results.push({ name: c.name, valid: c.valid, status: await post(bridge.url, c) });
      expect(digestDir(bridge.dataDir), c.name).toBe(before);
    }
    for (const c of cases.filter((x) => x.valid)) results.push({ name: c.name, valid: c.valid, status: await post(bridge.url, c) });
    const wrong = results.filter((r) => (r.valid ? r.status < 200 || r.status >= 300 : r.status !== 401));
    expect(wrong).toEqual([]);
    expect(results.every((r) => r.status < 500)).toBe(true);
  });
});
