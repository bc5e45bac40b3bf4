import { afterEach, describe, expect, it } from 'vitest';
import axios from 'axios';
import { downloadWhatsappMedia, mediaUrlAccess, sendWhatsappText, type GraphApiTarget } from './graph-api-client.ts';
import { guardedLookup } from './ssrf-guard.ts';
import { graphSendOk, startScriptedServer, type ScriptedServer } from './test-servers.ts';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/**
 * The request timeout of every call whose server answers: far beyond any answer, however slow a loaded machine makes
 * it, since one given up on would come back as a retry. Only the timeout test, whose server never answers, sets less.
 */
const ANSWERED_TIMEOUT_MS = 60_000;

async function target(): Promise<GraphApiTarget> {
  server = await startScriptedServer(() => ({ status: 200, body: graphSendOk('wamid.OK1') }));
  return { apiBase: `${server.url}/v21.0`, phoneNumberId: '106540352242922', accessToken: 'EAAG-test-token', timeoutMs: ANSWERED_TIMEOUT_MS };
}

describe('sendWhatsappText (against a loopback Graph API)', () => {
  it('posts the Cloud API text body with the bearer token and returns messages[0].id', async () => {
    const t = await target();
    const result = await sendWhatsappText(axios.create(), t, '16505551234', 'Héllo 😀');
    expect(result).toEqual({ kind: 'sent', externalId: 'wamid.OK1', status: 200 });
    const [request] = server!.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v21.0/106540352242922/messages');
    expect(request?.headers.authorization).toBe('Bearer EAAG-test-token');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request!.body.toString('utf8'))).toMatchObject({
      messaging_product: 'whatsapp',
      to: '16505551234',
      type: 'text',
      text: { body: 'Héllo 😀' },
    });
  });

  it('classifies 5xx, 429 (with Retry-After), resets and Meta throttling codes as retryable', async () => {
    const t = await target();
    server!.script.push(
      { status: 503, body: { error: { message: 'Service unavailable', code: 2 } } },
      { status: 429, headers: { 'Retry-After': '7' }, body: { error: { message: 'Too many', code: 130429 } } },
      'reset',
      { status: 400, body: { error: { message: 'Rate limit hit', code: 131056 } } },
    );
    const http = axios.create();
    expect(await sendWhatsappText(http, t, '1', 'x')).toMatchObject({ kind: 'retry', status: 503 });
    expect(await sendWhatsappText(http, t, '1', 'x')).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 7000 });
    expect(await sendWhatsappText(http, t, '1', 'x')).toMatchObject({ kind: 'retry' });
    expect(await sendWhatsappText(http, t, '1', 'x')).toMatchObject({ kind: 'retry', status: 400 });
  });

  it('returns a permanent rejection with Meta code and reason for other 4xx', async () => {
    const t = await target();
    server!.script.push({
      status: 400,
      body: {
        error: {
          message: '(#131047) Re-engagement message',
          type: 'OAuthException',
          code: 131047,
          error_data: { messaging_product: 'whatsapp', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
          fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
        },
      },
    });
    const result = await sendWhatsappText(axios.create(), t, '1', 'x');
    expect(result.kind).toBe('rejected');
    if (result.kind !== 'rejected') return;
    expect(result.code).toBe('131047');
    expect(result.status).toBe(400);
    expect(result.reason).toContain('Re-engagement message');
    expect(result.reason).toContain('more than 24 hours');
  });

  it('times out a Graph API that never answers and calls it retryable', async () => {
    const t = await target();
    const { createServer } = await import('node:http');
    const hang = createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const port = (hang.address() as { port: number }).port;
    try {
      const result = await sendWhatsappText(axios.create(), { ...t, apiBase: `http://127.0.0.1:${port}`, timeoutMs: 200 }, '1', 'x');
      expect(result.kind).toBe('retry');
    } finally {
      hang.closeAllConnections();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    }
  });
});

describe('downloadWhatsappMedia: where a media URL may point', () => {
  it("trusts the Graph API's own origin and Meta's media hosts over https only; everything else is refused", () => {
    const base = 'https://graph.facebook.com/v21.0';
    expect(mediaUrlAccess(new URL('https://graph.facebook.com/media/1'), base)).toBe('trusted');
    expect(mediaUrlAccess(new URL('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1'), base)).toBe('public');
    expect(mediaUrlAccess(new URL('http://lookaside.fbsbx.com/x'), base)).toBeUndefined();
    expect(mediaUrlAccess(new URL('https://fbsbx.com.evil.example/x'), base)).toBeUndefined();
    expect(mediaUrlAccess(new URL('https://user:pw@lookaside.fbsbx.com/x'), base)).toBeUndefined();
    expect(mediaUrlAccess(new URL('http://127.0.0.1:9/x'), 'http://127.0.0.1:8/v21.0')).toBeUndefined();
  });

  it('does not send the token to a URL on another origin the Graph API names (another loopback port)', async () => {
    const elsewhere = await startScriptedServer(() => ({ status: 200, raw: Buffer.from('secret') }));
    try {
      server = await startScriptedServer(() => ({ status: 200, body: { url: `${elsewhere.url}/file`, mime_type: 'image/png', id: 'M1' } }));
      const result = await downloadWhatsappMedia(
        axios.create(),
        { apiBase: `${server.url}/v21.0`, accessToken: 'EAAG-test-token', timeoutMs: ANSWERED_TIMEOUT_MS },
        'M1',
        { maxBytes: 1024, lookup: guardedLookup() },
      );
      expect(result).toMatchObject({ kind: 'rejected', code: 'media_url_refused' });
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await elsewhere.close();
    }
  });
});
