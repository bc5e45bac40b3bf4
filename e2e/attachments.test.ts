/**
 * Attachments in real Chromium against a real bridge: the demo page's widget as the visitor and the agent console.
 * Picking, pasting and dropping files in both, previews, upload progress and Cancel, errors, the size limit both know,
 * ten files to a message, an attachment-only message, each side seeing the other's images (lazy thumbnails through
 * signed links, a viewer dialog) and files (download chips), links in text clickable while `javascript:` stays text;
 * files in the outbox across a closed tab, files queued before any session that the widget or the bridge (413)
 * refuses, and hostile files opened in the browser without running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import sharp from 'sharp';
import { crc32 as zlibCrc32, deflateSync } from 'node:zlib';
import { startTestBridge, type TestBridge } from '../bridge/testing/index.ts';
import { ensureBuilt, launchChromium, openPage, saveScreenshot, type PageProblems } from './helpers/browser.ts';
import { inboxItems, reply, signInToConsole } from './helpers/console-page.ts';
import { openWidget, sendFromWidget, widgetMessage } from './helpers/widget-page.ts';

const VIEWPORT = { width: 1280, height: 800 };
/** The bridge's ATTACHMENT_MAX_BYTES here: above the 3 MB upload the progress case cancels, small enough to exceed cheaply. */
const MAX_BYTES = 4 * 1024 * 1024;

/** A PNG "screenshot" a visitor might send: a dialog with an error on a coloured page. */
function screenshotPng(label: string, hue: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400">
    <rect width="640" height="400" fill="${hue}"/>
    <rect x="120" y="110" width="400" height="180" rx="14" fill="#ffffff"/>
    <circle cx="170" cy="165" r="22" fill="#d93025"/>
    <rect x="210" y="150" width="260" height="14" rx="7" fill="#1f2328"/>
    <rect x="210" y="176" width="200" height="10" rx="5" fill="#8c959f"/>
    <rect x="360" y="236" width="130" height="34" rx="8" fill="#1a56db"/>
    <text x="140" y="320" font-family="sans-serif" font-size="22" fill="#ffffff">${label}</text>
  </svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A small valid PDF. */
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);

/** Dispatches a paste of `file` into `selector`, as pasting a screenshot from the clipboard does. */
async function pasteFile(page: Page, selector: string, file: { name: string; type: string; bytes: Buffer }): Promise<void> {
  await page.locator(selector).evaluate(
    (target, f) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
      target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true, composed: true }));
    },
    { name: file.name, type: file.type, base64: file.bytes.toString('base64') },
  );
}

/** Drags `file` over `selector` and drops it there. */
async function dropFile(page: Page, selector: string, file: { name: string; type: string; bytes: Buffer }): Promise<void> {
  await page.locator(selector).evaluate(
    (target, f) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true, composed: true }));
      }
    },
    { name: file.name, type: file.type, base64: file.bytes.toString('base64') },
  );
}

/** A PNG whose header claims 50,000 × 50,000 pixels in a few hundred bytes: the bridge refuses it 413 once decoding starts. */
function pixelBombPng(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlibCrc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(50_001 * 4))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Drops a file of `size` bytes made in the page on `selector` (megabytes through the test driver would only cost time). */
async function dropMadeFile(page: Page, selector: string, name: string, size: number): Promise<void> {
  await page.locator(selector).evaluate(
    (target, f) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(f.size).fill(0x78)], f.name, { type: 'text/plain' }));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true, composed: true }));
      }
    },
    { name, size },
  );
}

describe('attachments in the widget and the console (Chromium, real bridge)', () => {
  let bridge: TestBridge;
  let browser: Browser;
  let visitorContext: BrowserContext;
  let agentContext: BrowserContext;
  let visitor: Page;
  let agent: Page;
  const problems: PageProblems[] = [];
  let conversationId = '';

  beforeAll(async () => {
    ensureBuilt();
    bridge = await startTestBridge({ config: { attachments: { maxBytes: MAX_BYTES, linkTtlSeconds: 600 } } });
    browser = await launchChromium();
    visitorContext = await browser.newContext({ viewport: VIEWPORT });
    agentContext = await browser.newContext({ viewport: VIEWPORT });
    // The visitor's pages run on Playwright's clock, which passes as real time does until a case moves it on (the
    // offline case steps across the upload's retry delays instead of waiting them out).
    await visitorContext.clock.install();
    // The refused upload in the errors test is answered 415 on purpose; Chromium logs every 4xx resource.
    const v = await openPage(visitorContext, [/status of 415 .*\/api\/attachments\?name=tool\.exe/]);
    const a = await openPage(agentContext);
    visitor = v.page;
    agent = a.page;
    problems.push(v.problems, a.problems);
    await signInToConsole(agent, bridge.url, bridge.agent.name, bridge.agent.password);
    await visitor.goto(`${bridge.url}/demo/`);
    await openWidget(visitor);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bridge?.close();
  });

  it('makes http(s) links in text clickable and leaves javascript: as text, on both sides', async () => {
    const text = 'Docs at https://example.com/help?q=1, not javascript:alert(1) or <a href="javascript:x">x</a>.';
    await sendFromWidget(visitor, text);
    const mine = widgetMessage(visitor, 'Docs at');
    await mine.locator('.ticks--sent, .ticks--delivered, .ticks--read').first().waitFor();
    const item = inboxItems(agent).first();
    await item.waitFor();
    conversationId = (await item.getAttribute('data-conversation-id')) ?? '';
    await item.click();
    const theirs = agent.locator('console-thread .msg', { hasText: 'Docs at' });
    for (const message of [mine, theirs]) {
      const links = await message.locator('.msg__text a').evaluateAll((anchors) =>
        anchors.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, rel: a.getAttribute('rel'), target: a.getAttribute('target') })),
      );
      expect(links).toEqual([{ href: 'https://example.com/help?q=1', text: 'https://example.com/help?q=1', rel: 'noopener noreferrer nofollow', target: '_blank' }]);
      expect(await message.locator('.msg__text').textContent()).toBe(text);
    }
  });

  it('visitor: picks an image, sees its preview, sends it alone; the agent sees it inline and in the viewer', async () => {
    const png = await screenshotPng('Checkout error', '#2a6f97');
    await visitor.locator('anon-chat .att-input').setInputFiles({ name: 'checkout-error.png', mimeType: 'image/png', buffer: png });
    const tray = visitor.locator('anon-chat .att-draft__item');
    await expect.poll(() => tray.locator('img').getAttribute('src')).toMatch(/^blob:/);
    expect(await tray.locator('img').getAttribute('alt')).toBe('checkout-error.png');
    await visitor.locator('anon-chat .att-draft__item--done').waitFor();
    await visitor.locator('anon-chat .send').click();
    await expect.poll(() => tray.count()).toBe(0);

    // Attachment-only: a bubble with the image and no (empty) text span.
    const own = visitor.locator('anon-chat .msg--own').filter({ has: visitor.locator('.att-image') });
    await own.locator('.ticks--sent, .ticks--delivered, .ticks--read').first().waitFor();
    expect(await own.locator('.msg__text').count()).toBe(0);

    const image = agent.locator('console-thread .msg .att-image img[alt="checkout-error.png"]');
    await image.waitFor();
    expect(await image.getAttribute('loading')).toBe('lazy');
    expect(await image.getAttribute('src')).toMatch(/\/api\/attachments\/[^/]+\/thumbnail\?.*signature=/);
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);
    // Sized: the 320 × 200 thumbnail shows at most 200 px wide and tall, keeping its proportions.
    expect(await image.evaluate((img: HTMLImageElement) => [img.width, img.height])).toEqual([200, 125]);
    expect(await agent.locator('console-thread .msg').filter({ has: image }).locator('.msg__text').count()).toBe(0);
    // The inbox previews a message of files alone by its file.
    await expect.poll(() => inboxItems(agent).first().locator('.item__preview').textContent()).toBe('📎 checkout-error.png');

    await image.click();
    const viewer = agent.locator('console-thread dialog.att-viewer');
    await expect.poll(() => viewer.evaluate((d: HTMLDialogElement) => d.open)).toBe(true);
    expect(await viewer.getAttribute('aria-label')).toBe('checkout-error.png');
    await expect.poll(() => viewer.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(640);
    await agent.keyboard.press('Escape');
    await expect.poll(() => viewer.count()).toBe(0);
  });

  it('agent: picks a PDF and pastes an image with a reply; the visitor gets a download chip and the image', async () => {
    const composer = 'console-composer textarea';
    await agent.locator('console-composer .att-input').setInputFiles({ name: 'Return label.pdf', mimeType: 'application/pdf', buffer: PDF });
    await pasteFile(agent, composer, { name: 'where-to-click.png', type: 'image/png', bytes: await screenshotPng('Click here', '#6a4c93') });
    await expect.poll(() => agent.locator('console-composer .att-draft__item--done').count()).toBe(2);
    await reply(agent, 'Here is your return label and where to click.');

    const message = widgetMessage(visitor, 'Here is your return label');
    const chip = message.locator('a.att-file');
    await chip.waitFor();
    expect(await chip.locator('.att-file__name').textContent()).toBe('Return label.pdf');
    expect(await chip.locator('.att-file__meta').textContent()).toMatch(/^PDF · \d+ B$/);
    expect(await chip.getAttribute('href')).toMatch(/\/api\/attachments\/[^/?]+\?.*signature=/);
    expect(await chip.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    const image = message.locator('.att-image img[alt="where-to-click.png"]');
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);

    // The widget's viewer: a modal dialog; Escape closes it and leaves the chat open.
    await image.click();
    const viewer = visitor.locator('anon-chat dialog.att-viewer');
    await expect.poll(() => viewer.evaluate((d: HTMLDialogElement) => d.open)).toBe(true);
    await visitor.keyboard.press('Escape');
    await expect.poll(() => viewer.count()).toBe(0);
    expect(await visitor.locator('anon-chat .panel').isVisible()).toBe(true);
  });

  it('visitor: drops an image on the panel and sends it with text, pastes one; refused types say why', async () => {
    await dropFile(visitor, 'anon-chat .panel', { name: 'receipt.png', type: 'image/png', bytes: await screenshotPng('Receipt', '#2d6a4f') });
    await visitor.locator('anon-chat .att-draft__item--done').waitFor();
    await sendFromWidget(visitor, 'And my receipt');
    await agent.locator('console-thread .msg', { hasText: 'And my receipt' }).locator('.att-image img[alt="receipt.png"]').waitFor();

    // A screenshot pasted into the widget's composer joins the draft the same way (removed again with Cancel).
    await pasteFile(visitor, 'anon-chat .composer .input', { name: 'pasted.png', type: 'image/png', bytes: await screenshotPng('Pasted', '#444444') });
    const pasted = visitor.locator('anon-chat .att-draft__item img[alt="pasted.png"]');
    await pasted.waitFor();
    await visitor.locator('anon-chat .att-draft__item--done').waitFor();
    await visitor.locator('anon-chat .att-draft__item--done .att-draft__cancel').click();
    await expect.poll(() => pasted.count()).toBe(0);

    await visitor.locator('anon-chat .att-input').setInputFiles({ name: 'tool.exe', mimeType: 'application/octet-stream', buffer: Buffer.from([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0]) });
    const failed = visitor.locator('anon-chat .att-draft__item--failed');
    await failed.waitFor();
    expect(await failed.locator('[role="alert"]').textContent()).toMatch(/cannot be sent/);
    expect(await visitor.locator('anon-chat .send').isDisabled()).toBe(true);
    await failed.locator('.att-draft__cancel').click();
    await expect.poll(() => failed.count()).toBe(0);
  });

  it('refuses a file over the bridge limit at once, as too large, without uploading any of it: widget and console', async () => {
    const uploads: string[] = [];
    const seen = (request: { url(): string }): void => void (request.url().includes('/api/attachments?') && uploads.push(request.url()));
    // The console reads the limit from GET /api/auth/me after connecting, as the widget reads it from its session.
    await expect
      .poll(() => agent.locator('console-composer').evaluate((composer) => (composer as HTMLElement & { maxUploadBytes?: number }).maxUploadBytes), {
        message: 'the console composer knowing ATTACHMENT_MAX_BYTES',
      })
      .toBe(MAX_BYTES);
    visitor.on('request', seen);
    agent.on('request', seen);
    try {
      for (const [page, target, scope] of [
        [visitor, 'anon-chat .panel', 'anon-chat'],
        [agent, 'console-composer form', 'console-composer'],
      ] as const) {
        await dropMadeFile(page, target, 'huge.txt', MAX_BYTES + 1);
        const failed = page.locator(`${scope} .att-draft__item--failed`);
        await failed.waitFor();
        expect(await failed.locator('[role="alert"]').textContent(), scope).toBe('Too large to send');
        expect(await page.locator(`${scope} .send`).isDisabled(), scope).toBe(true);
        await failed.locator('.att-draft__cancel').click();
        await expect.poll(() => failed.count()).toBe(0);
      }
    } finally {
      visitor.off('request', seen);
      agent.off('request', seen);
    }
    expect(uploads).toEqual([]);
  });

  it('shows upload progress and cancels an upload in the widget and the console: nothing is sent or stored', async () => {
    const before = bridge.store.health().attachments;
    const bigBytes = 3 * 1024 * 1024;
    for (const [page, context, scope] of [
      [visitor, visitorContext, 'anon-chat'],
      [agent, agentContext, 'console-composer'],
    ] as const) {
      const cdp: CDPSession = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      // A slow uplink, so the upload is still running while the test looks at it.
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 128 * 1024 });
      try {
        // Picked through the file input as setInputFiles does (files set, input and change fired), but made in the page:
        // three megabytes through the test driver would only cost time.
        await page.locator(`${scope} .att-input`).evaluate((input: HTMLInputElement, size) => {
          const data = new DataTransfer();
          data.items.add(new File([new Uint8Array(size).fill(0x78)], 'server.log', { type: 'text/plain' }));
          input.files = data.files;
          input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
          input.dispatchEvent(new Event('change', { bubbles: true }));
        }, bigBytes);
        const item = page.locator(`${scope} .att-draft__item--uploading`);
        await item.waitFor();
        expect(await item.locator('.att-file__name').textContent(), scope).toBe('server.log');
        expect(await item.locator('.att-file__meta').textContent(), scope).toMatch(/^TXT · 3 MB$/);
        const progress = item.locator('progress');
        await expect.poll(() => progress.evaluate((p: HTMLProgressElement) => p.value), { message: `${scope} progress` }).toBeGreaterThan(0);
        expect(await progress.evaluate((p: HTMLProgressElement) => p.value), scope).toBeLessThan(1);
        expect(await page.locator(`${scope} .send`).isDisabled(), scope).toBe(true);
        await item.locator('.att-draft__cancel').click();
        await expect.poll(() => page.locator(`${scope} .att-draft__item`).count()).toBe(0);
      } finally {
        await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
        await cdp.detach();
      }
    }
    const res = await fetch(`${bridge.url}/api/conversations/${conversationId}/messages`, { headers: { Authorization: `Bearer ${bridge.agent.token}` } });
    const { messages } = (await res.json()) as { messages: { attachments?: { name: string }[] }[] };
    expect(messages.flatMap((m) => m.attachments ?? []).map((a) => a.name)).not.toContain('server.log');
    // A cancelled upload's cut body is not stored (the bridge stores only complete bodies).
    expect(bridge.store.health().attachments).toBe(before);
  });

  it('screenshots an image conversation in the widget and the console; no page errors', async () => {
    // Every image has loaded by now: the lists end at their newest message, as a reader would see them.
    await visitor.locator('anon-chat .list').evaluate((list) => (list.scrollTop = list.scrollHeight));
    await agent.locator('console-thread .messages').evaluate((list) => (list.scrollTop = list.scrollHeight));
    await agent.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await saveScreenshot(visitor, 'widget-attachments');
    await saveScreenshot(agent, 'console-attachments');
    for (const p of problems) expect(p.errors).toEqual([]);
  });

  it('hostile files opened in Chromium never run: HTML and SVG with script download as text, a JPEG/HTML polyglot shows as an image', async () => {
    const headers = { Authorization: `Bearer ${bridge.agent.token}` };
    const signedUrl = async (body: string | Buffer, name: string): Promise<string> => {
      const res = await fetch(`${bridge.url}/api/attachments?conversationId=${conversationId}&name=${name}`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
      const { attachment } = (await res.json()) as { attachment: { id: string } };
      return ((await (await fetch(`${bridge.url}/api/attachments/${attachment.id}/link`, { headers })).json()) as { url: string }).url;
    };
    const { page, problems } = await openPage(agentContext);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    try {
      for (const [body, name] of [
        ['<html><body><script>alert("html ran")</script></body></html>', 'page.html'],
        ['<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'svg ran\')"><script>alert("svg script ran")</script></svg>', 'logo.svg'],
      ] as const) {
        const download = page.waitForEvent('download');
        await page.goto(await signedUrl(body, name)).catch(() => undefined);
        expect((await download).suggestedFilename(), name).toBe(name);
      }
      const polyglot = Buffer.concat([await screenshotPng('Polyglot', '#333333').then((png) => sharp(png).jpeg().toBuffer()), Buffer.from('<html><script>alert("polyglot ran")</script></html>')]);
      const shown = await page.goto(await signedUrl(polyglot, 'photo.jpg'));
      expect(shown?.headers()['content-type']).toBe('image/jpeg');
      expect(await page.evaluate(() => document.contentType)).toBe('image/jpeg');
      expect(dialogs).toEqual([]);
      // What Chromium reports there is the CSP refusing things (the test page's own init script, the image document's
      // inline styles): nothing else went wrong.
      expect(problems.errors.filter((error) => !/Content Security Policy|frame is sandboxed/.test(error))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('picks 11 files at once: 10 join the draft with a notice, and go out as one message with 10 attachments', async () => {
    const files = Array.from({ length: 11 }, (_, i) => ({ name: `part-${i + 1}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`part ${i + 1}\n`) }));
    await visitor.locator('anon-chat .att-input').setInputFiles(files);
    expect(await visitor.locator('anon-chat .att-draft__notice').textContent()).toBe('At most 10 files per message');
    await expect.poll(() => visitor.locator('anon-chat .att-draft__item--done').count(), { message: 'ten uploads done' }).toBe(10);
    expect(await visitor.locator('anon-chat .att-draft__item').count()).toBe(10);
    await sendFromWidget(visitor, 'ten parts');
    const chips = agent.locator('console-thread .msg', { hasText: 'ten parts' }).locator('.att-file .att-file__name');
    await expect.poll(() => chips.allTextContents(), { message: 'the agent seeing the ten files in order' }).toEqual(files.slice(0, 10).map((f) => f.name));
  });

  it('offline: a file attached and sent between two texts waits in the outbox across a closed tab, then arrives once, in order', async () => {
    // Out of reach: the bridge turns the widget's socket away and the page's uploads fail as a lost network does.
    let refuse = true;
    const visitors = bridge.bridge.io.of('/visitor');
    visitors.use((_socket, next) => next(refuse ? new Error('down for the test') : undefined));
    await visitor.route('**/api/attachments?*', (route) => route.abort('internetdisconnected'));
    visitors.disconnectSockets(true);
    await visitor.locator('anon-chat .connection').waitFor();
    await sendFromWidget(visitor, 'offline before the file');
    await visitor.locator('anon-chat .att-input').setInputFiles({ name: 'offline.png', mimeType: 'image/png', buffer: await screenshotPng('Offline', '#7f5539') });
    // The upload fails, is retried after the widget's own delays (page time moved a second at a time; each aborted
    // attempt is answered in the real time between steps), fails again and leaves the file waiting for the outbox.
    const waiting = visitor.locator('anon-chat .att-draft__item--waiting');
    await expect
      .poll(
        async () => {
          await visitor.clock.fastForward(1000);
          return waiting.count();
        },
        { message: 'the offline file waiting after its upload retries' },
      )
      .toBe(1);
    await visitor.locator('anon-chat .send').click();
    await sendFromWidget(visitor, 'offline after the file');
    // The tab closes once the file's bytes are in IndexedDB (the outbox entry naming them is in localStorage already).
    const keptFiles = (page: Page): Promise<number> =>
      page.evaluate(
        () =>
          new Promise<number>((resolve, reject) => {
            const open = indexedDB.open('anon-chat-outbox-files');
            open.onerror = () => reject(open.error ?? new Error('indexedDB.open failed'));
            open.onsuccess = () => {
              const count = open.result.transaction('files').objectStore('files').count();
              count.onsuccess = () => resolve(count.result);
            };
          }),
      );
    await expect.poll(() => keptFiles(visitor), { timeout: 30_000, message: 'the offline file in IndexedDB' }).toBe(1);
    await visitor.close();

    refuse = false;
    const again = await openPage(visitorContext);
    await again.page.goto(`${bridge.url}/demo/`);
    const stored = async (): Promise<string[]> => {
      const res = await fetch(`${bridge.url}/api/conversations/${conversationId}/messages`, { headers: { Authorization: `Bearer ${bridge.agent.token}` } });
      const { messages } = (await res.json()) as { messages: { text?: string; attachments?: { name: string }[] }[] };
      return messages.filter((m) => m.text?.startsWith('offline') || m.attachments?.some((a) => a.name === 'offline.png')).map((m) => m.text || m.attachments!.map((a) => a.name).join());
    };
    await expect.poll(stored, { timeout: 60_000, message: 'the three offline messages stored' }).toEqual(['offline before the file', 'offline.png', 'offline after the file']);
    // Uploaded, its bytes leave IndexedDB; the bubble shows the stored image.
    await expect.poll(() => keptFiles(again.page), { timeout: 30_000, message: 'IndexedDB emptied' }).toBe(0);
    await again.page.locator('anon-chat .launcher').click();
    await again.page.locator('anon-chat .msg--own .att-image img[alt="offline.png"]').waitFor();
    expect(again.problems.errors).toEqual([]);
  }, 120_000);

  it('files queued offline before any session: the one over the limit fails without uploading, the one the bridge refuses 413 fails, both say why; nothing stored, the queue goes on', async () => {
    // A visitor who never reached the bridge: no token, no session, so no limit known while the files are attached.
    let refuse = true;
    bridge.bridge.io.of('/visitor').use((_socket, next) => next(refuse ? new Error('down for the test') : undefined));
    const context = await browser.newContext({ viewport: VIEWPORT });
    try {
      const { page, problems } = await openPage(context, [/status of 413 .*\/api\/attachments\?name=bomb\.bin/]);
      const answers: string[] = [];
      page.on('response', (res) => void (res.url().includes('/api/attachments?') && answers.push(`${new URL(res.url()).searchParams.get('name')} ${res.status()}`)));
      await page.goto(`${bridge.url}/demo/`);
      await openWidget(page);
      await page.locator('anon-chat .connection').waitFor();
      const attachedCount = bridge.store.health().attachments;

      // Over ATTACHMENT_MAX_BYTES, which no session has told yet.
      await dropMadeFile(page, 'anon-chat .panel', 'huge.log', MAX_BYTES + 1);
      await page.locator('anon-chat .att-draft__item--waiting').waitFor();
      await sendFromWidget(page, 'first the big log');
      // Small enough to upload, but the bridge refuses it once it reads its header: 413 payload_too_large.
      await page.locator('anon-chat .att-input').setInputFiles({ name: 'bomb.bin', mimeType: 'application/octet-stream', buffer: pixelBombPng() });
      await page.locator('anon-chat .att-draft__item--waiting').waitFor();
      await sendFromWidget(page, 'then the odd picture');
      await page.locator('anon-chat .att-input').setInputFiles({ name: 'fine.txt', mimeType: 'text/plain', buffer: Buffer.from('a file that is fine\n') });
      await page.locator('anon-chat .att-draft__item--waiting').waitFor();
      await sendFromWidget(page, 'and a fine one');
      await sendFromWidget(page, 'text after the files');

      refuse = false;
      // Its conversation is the one besides the main visitor's (the upload or the first send starts it).
      const conversationOf = async (): Promise<string> => {
        const res = await fetch(`${bridge.url}/api/conversations`, { headers: { Authorization: `Bearer ${bridge.agent.token}` } });
        const { conversations } = (await res.json()) as { conversations: { id: string }[] };
        return conversations.find((c) => c.id !== conversationId)?.id ?? '';
      };
      await expect.poll(conversationOf, { timeout: 60_000, message: 'the widget reconnected and started its conversation' }).not.toBe('');
      const id = await conversationOf();
      const stored = async (): Promise<string[]> => {
        const res = await fetch(`${bridge.url}/api/conversations/${id}/messages`, { headers: { Authorization: `Bearer ${bridge.agent.token}` } });
        const { messages } = (await res.json()) as { messages: { text?: string; attachments?: { name: string }[] }[] };
        return messages.map((m) => [m.text, ...(m.attachments ?? []).map((a) => a.name)].join(' + '));
      };
      // The queue did not stop at the refused files: what follows them went out, in order.
      await expect.poll(stored, { timeout: 60_000, message: 'the fine file and the text after the refused files stored' }).toEqual(['and a fine one + fine.txt', 'text after the files']);
      expect(bridge.store.health().attachments).toBe(attachedCount + 1);
      // The big log never left the page; the bomb reached the bridge once and was answered 413. The page's response
      // events come over Chromium's protocol and may trail what the bridge already stored: waited for, not assumed.
      await expect.poll(() => answers, { message: 'the page saw the answers to its two uploads' }).toEqual(['bomb.bin 413', 'fine.txt 201']);

      for (const [text, file] of [
        ['first the big log', 'huge.log'],
        ['then the odd picture', 'bomb.bin'],
      ] as const) {
        const bubble = widgetMessage(page, text);
        await expect.poll(() => bubble.locator('.msg__failure').textContent(), { message: `${file}'s failure shown` }).toMatch(/Too large to send/);
        expect(await bubble.locator('.msg__failure').textContent()).not.toMatch(/payload_too_large/);
      }
      // Retry tries the refused file again and fails the same way, without uploading it; still nothing of it is stored.
      await widgetMessage(page, 'first the big log').locator('.msg__failure button').click();
      await expect.poll(() => widgetMessage(page, 'first the big log').locator('.msg__failure').textContent(), { message: 'the retried message failed again' }).toMatch(/Too large to send/);
      expect(answers).toEqual(['bomb.bin 413', 'fine.txt 201']);
      expect(await stored()).toEqual(['and a fine one + fine.txt', 'text after the files']);
      expect(problems.errors).toEqual([]);
    } finally {
      refuse = false;
      await context.close();
    }
  }, 120_000);
});
