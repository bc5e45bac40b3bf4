/**
 * WhatsApp in the console, end to end: Meta's inbound webhook (the fixture's raw bytes, signed with the app secret)
 * makes a conversation appear live in the console; the agent's reply reaches a fake Graph API on loopback with the
 * right request; delivered/read status webhooks tick the reply live; a `failed` status shows Meta's reason and the
 * Retry button sends the reply again (`message:retry`); an inbound image (Meta's two-step media download) shows inline
 * and an image the agent attaches is uploaded to Meta's media endpoint and sent as an image message (one file per
 * message, its caption within WhatsApp's limit: the composer refuses a second file and a longer caption).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { WHATSAPP_CAPTION_LENGTH } from '../protocol/attachment.ts';
import { startBridgeProcess, PROCESS_ADMIN, type BridgeProcess } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { inboxItems, reply, signInToConsole, threadMessage } from './helpers/console-page.ts';

// Byte-exact copies of ../shared/fixtures/whatsapp kept in the repository, so a clean clone runs this test.
const FIXTURES = join(import.meta.dirname, '..', 'bridge', 'webhooks', 'fixtures');
const APP_SECRET = 'e2e-whatsapp-app-secret';
const ACCESS_TOKEN = 'e2e-whatsapp-access-token';
const PHONE_NUMBER_ID = '106540352242922';
const CUSTOMER = '16505551234';

interface GraphRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw text of a body that is not JSON (a multipart media upload). */
  body: unknown;
}

/** Inbound media the fake Graph API holds, by media id. */
const MEDIA = new Map<string, Buffer>();

/**
 * A fake Graph API: records each request and accepts each send with a new message id, or answers 503 while `down`
 * (between `hold()` and `release()` it keeps those 503s back, so a send is in flight for as long as the test needs);
 * serves MEDIA through Meta's two-step flow (`GET /<id>` → a URL on this server → the bytes) and takes uploads.
 */
async function startFakeGraph(): Promise<{
  url: string;
  requests: GraphRequest[];
  down: boolean;
  hold: () => void;
  release: () => void;
  close: () => Promise<void>;
}> {
  const requests: GraphRequest[] = [];
  const fake = { down: false, holding: false };
  const held: (() => void)[] = [];
  let port = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8') || 'null');
      } catch {
        // Multipart: kept as text.
        body = raw.toString('latin1');
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const mediaId = /^\/(?:media-bytes\/)?(MEDIA-[A-Z0-9-]+)$/.exec(req.url ?? '')?.[1];
      const media = mediaId ? MEDIA.get(mediaId) : undefined;
      if (media && req.url?.startsWith('/media-bytes/')) {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(media);
        return;
      }
      if (media) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ messaging_product: 'whatsapp', url: `http://127.0.0.1:${port}/media-bytes/${mediaId}`, mime_type: 'image/png', file_size: media.byteLength, id: mediaId }));
        return;
      }
      if (req.url === `/${PHONE_NUMBER_ID}/media`) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'media-e2e-upload' }));
        return;
      }
      if (fake.down) {
        const refuse = (): void => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'Service temporarily unavailable', code: 2 } }));
        };
        if (fake.holding) held.push(refuse);
        else refuse();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: CUSTOMER, wa_id: CUSTOMER }], messages: [{ id: `wamid.E2E${requests.length}` }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get down() {
      return fake.down;
    },
    set down(value: boolean) {
      fake.down = value;
    },
    hold: () => {
      fake.holding = true;
    },
    release: () => {
      fake.holding = false;
      for (const refuse of held.splice(0)) refuse();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** POSTs `raw` to the bridge's WhatsApp webhook, signed as Meta signs: HMAC-SHA256 of the raw bytes. */
async function postWebhook(bridgeUrl: string, raw: Buffer): Promise<number> {
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(raw).digest('hex')}`;
  const res = await fetch(`${bridgeUrl}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    body: new Uint8Array(raw),
  });
  return res.status;
}

/** A status webhook for `id`, shaped like Meta's (fixture 03's envelope with one status). */
async function statusBody(id: string, status: 'delivered' | 'read' | 'failed'): Promise<Buffer> {
  const envelope = JSON.parse(await readFile(join(FIXTURES, '03-meta-status-failed-131049.json'), 'utf8')) as {
    entry: { changes: { value: { statuses: Record<string, unknown>[] } }[] }[];
  };
  const value = envelope.entry[0]?.changes[0]?.value;
  if (!value) throw new Error('fixture 03 changed shape');
  const failed = value.statuses[0] ?? {};
  value.statuses = [
    {
      id,
      status,
      timestamp: String(Math.floor(Date.now() / 1000)),
      recipient_id: CUSTOMER,
      ...(status === 'failed' ? { errors: failed['errors'] } : {}),
    },
  ];
  return Buffer.from(JSON.stringify(envelope));
}

describe('WhatsApp conversation in the console (real bridge, fake Graph API, Chromium)', () => {
  let dataDir: string;
  let bridge: BridgeProcess | undefined;
  let graph: Awaited<ReturnType<typeof startFakeGraph>>;
  let browser: Browser;
  let agent: Page;
  let problems: PageProblems;

  beforeAll(async () => {
    ensureBuilt();
    graph = await startFakeGraph();
    dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-e2e-whatsapp-'));
    bridge = await startBridgeProcess({
      dataDir,
      env: {
        WHATSAPP_APP_SECRET: APP_SECRET,
        WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
        WHATSAPP_API_BASE: graph.url,
        // A failing send is retried for about 3 s: short for the test (it holds an attempt unanswered to see "sending").
        WHATSAPP_RETRY_BASE_MS: '1000',
        WHATSAPP_MAX_ATTEMPTS: '3',
        // ...and the held attempt does not time out while the test looks, however slow a loaded machine makes it.
        WHATSAPP_TIMEOUT_MS: '600000',
        QUEUE_LEASE_MS: '1200000',
        WEBHOOK_POLL_MS: '100',
      },
    });
    browser = await launchChromium();
    const opened = await openPage(await browser.newContext({ viewport: { width: 1280, height: 800 } }));
    agent = opened.page;
    problems = opened.problems;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bridge?.stop();
    await graph?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('shows the inbound message live, sends the reply to the Graph API and ticks it from status webhooks', async () => {
    if (!bridge) throw new Error('no bridge');
    await signInToConsole(agent, bridge.url, PROCESS_ADMIN.name, PROCESS_ADMIN.password);

    expect(await postWebhook(bridge.url, await readFile(join(FIXTURES, '04-meta-inbound-text.json')))).toBe(200);

    const item = inboxItems(agent).first();
    await expect.poll(() => item.locator('.item__name').textContent()).toBe('Sheena Nelson');
    expect(await item.locator('.badge').textContent()).toBe('WhatsApp');
    expect(await item.locator('.item__preview').textContent()).toBe('Does it come in another color?');
    expect(await item.locator('.unread').textContent()).toBe('1');

    await item.click();
    await threadMessage(agent, 'Does it come in another color?').waitFor();
    expect(await agent.locator('console-thread .head__presence').textContent()).toContain(`+${CUSTOMER}`);
    await reply(agent, 'Yes — it also comes in forest green.');

    await expect.poll(() => graph.requests.length).toBe(1);
    const [send] = graph.requests;
    expect(send?.method).toBe('POST');
    expect(send?.path).toBe(`/${PHONE_NUMBER_ID}/messages`);
    expect(send?.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(send?.body).toMatchObject({
      messaging_product: 'whatsapp',
      to: CUSTOMER,
      type: 'text',
      text: { body: 'Yes — it also comes in forest green.' },
    });

    // Meta's status webhooks move the ticks live.
    const first = threadMessage(agent, 'Yes — it also comes in forest green.');
    await first.locator('.ticks--sent').waitFor();
    expect(await postWebhook(bridge.url, await statusBody('wamid.E2E1', 'delivered'))).toBe(200);
    await first.locator('.ticks--delivered').waitFor();
    expect(await postWebhook(bridge.url, await statusBody('wamid.E2E1', 'read'))).toBe(200);
    await first.locator('.ticks--read').waitFor();

    // A failed delivery shows Meta's reason and a Retry that sends the reply again.
    await reply(agent, 'Here is the green one: northwind.example/green');
    await expect.poll(() => graph.requests.length).toBe(2);
    const second = threadMessage(agent, 'Here is the green one: northwind.example/green');
    await second.locator('.ticks--sent').waitFor();
    expect(await postWebhook(bridge.url, await statusBody('wamid.E2E2', 'failed'))).toBe(200);
    await second.locator('.ticks--failed').waitFor();
    expect(await second.locator('.msg__failure').textContent()).toContain('healthy ecosystem engagement');
    await saveScreenshot(agent, 'console-whatsapp');

    await second.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => graph.requests.length).toBe(3);
    expect(graph.requests[2]?.body).toMatchObject({ to: CUSTOMER, text: { body: 'Here is the green one: northwind.example/green' } });
    await second.locator('.msg__failure').waitFor({ state: 'detached' });
    expect(await postWebhook(bridge.url, await statusBody('wamid.E2E3', 'delivered'))).toBe(200);
    await second.locator('.ticks--delivered').waitFor();

    // Each reply reached the Graph API once per send attempt: no duplicate sends.
    expect(graph.requests.map((r) => (r.body as { text: { body: string } }).text.body)).toEqual([
      'Yes — it also comes in forest green.',
      'Here is the green one: northwind.example/green',
      'Here is the green one: northwind.example/green',
    ]);
    expect(problems.errors).toEqual([]);
  }, 120_000);

  it('shows a reply as sending until Meta accepts it, a failed one in the inbox, and a failed Retry as failed again, live', async () => {
    if (!bridge) throw new Error('no bridge');
    await inboxItems(agent).first().click();
    graph.down = true;
    // WhatsApp's answer to the first attempt is held back: the reply is in flight for as long as the test looks.
    graph.hold();
    const text = 'Are you still there?';
    const before = graph.requests.length;
    await reply(agent, text);
    const message = threadMessage(agent, text);
    // Stored by the bridge, its send to WhatsApp unanswered so far: sending, not "Sent".
    await expect.poll(() => graph.requests.length).toBeGreaterThan(before);
    await message.locator('.ticks--sending').waitFor();
    expect(await message.locator('.ticks').getAttribute('class')).not.toContain('ticks--sent');
    graph.release();
    await message.locator('.ticks--failed').waitFor();
    expect(await message.locator('.msg__failure').textContent()).toContain('could not be reached');
    const preview = inboxItems(agent).first().locator('.item__preview');
    await expect.poll(() => preview.textContent()).toBe(`Not delivered: ${text}`);
    expect(await preview.getAttribute('class')).toContain('item__preview--failed');

    // Retry while WhatsApp is still down: sending, then "Not delivered" with the reason again, without a reload.
    const beforeRetry = graph.requests.length;
    graph.hold();
    await message.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => graph.requests.length).toBeGreaterThan(beforeRetry);
    await message.locator('.ticks--sending').waitFor();
    graph.release();
    await message.locator('.ticks--failed').waitFor();
    expect(await message.locator('.msg__failure').textContent()).toContain('could not be reached');

    // WhatsApp is back: the next Retry is accepted by Meta, and only then the reply reads "Sent".
    graph.down = false;
    await message.getByRole('button', { name: 'Retry' }).click();
    await message.locator('.ticks--sent').waitFor();
    await message.locator('.msg__failure').waitFor({ state: 'detached' });
    await expect.poll(() => preview.textContent()).toBe(`Agent: ${text}`);
    expect(problems.errors).toEqual([]);
  }, 120_000);

  it('shows an inbound WhatsApp image inline with its caption, refuses a second file and a long caption, and sends an attached image as an image message', async () => {
    if (!bridge) throw new Error('no bridge');
    const photo = await sharp({ create: { width: 200, height: 120, channels: 3, background: '#1b998b' } }).png().toBuffer();
    MEDIA.set('MEDIA-E2E-1', photo);
    const inbound = {
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { phone_number_id: PHONE_NUMBER_ID },
        contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: CUSTOMER }],
        messages: [{ from: CUSTOMER, id: 'wamid.E2E-IMG', timestamp: String(Math.floor(Date.now() / 1000)), type: 'image', image: { id: 'MEDIA-E2E-1', mime_type: 'image/png', caption: 'This colour?' } }],
      } }] }],
    };
    expect(await postWebhook(bridge.url, Buffer.from(JSON.stringify(inbound)))).toBe(200);
    await inboxItems(agent).first().click();
    const image = threadMessage(agent, 'This colour?').locator('.att-image img[alt="whatsapp-image.png"]');
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);

    // Two files picked: WhatsApp sends one per message, so the second is refused with the widget's notice.
    const before = graph.requests.length;
    await agent.locator('console-composer .att-input').setInputFiles([
      { name: 'green.png', mimeType: 'image/png', buffer: photo },
      { name: 'blue.png', mimeType: 'image/png', buffer: photo },
    ]);
    await agent.locator('console-composer .att-draft__item--done').waitFor();
    expect(await agent.locator('console-composer .att-draft__notice').textContent()).toBe('At most 1 file per message');
    expect(await agent.locator('console-composer .att-draft__item').count()).toBe(1);
    // A caption over WhatsApp's limit is refused before sending: Send stays disabled and says why.
    const box = agent.locator('console-composer textarea');
    await box.fill('x'.repeat(WHATSAPP_CAPTION_LENGTH + 1));
    await box.press('Enter');
    expect(await agent.locator('console-composer .caption-over').textContent()).toMatch(/caption: at most 1\D?024 characters$/);
    expect(await agent.locator('console-composer button.send').isDisabled()).toBe(true);
    await reply(agent, 'Yes, this one.');
    await threadMessage(agent, 'Yes, this one.').locator('.ticks--sent').waitFor();
    const sent = graph.requests.slice(before);
    expect(sent.map((r) => r.path)).toEqual([`/${PHONE_NUMBER_ID}/media`, `/${PHONE_NUMBER_ID}/messages`]);
    expect(sent[1]?.body).toMatchObject({ to: CUSTOMER, type: 'image', image: { id: 'media-e2e-upload', caption: 'Yes, this one.' } });
    expect(problems.errors).toEqual([]);
  }, 120_000);
});
