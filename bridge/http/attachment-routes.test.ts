/**
 * Attachments end to end on a real bridge (lowdb in a temp dir, real HTTP and sockets): upload limits and type
 * sniffing, idempotency, messages carrying attachments, who may read them and how they are served, hostile files,
 * isolation under 1,000 attempts by another visitor, export and erasure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, stat } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { join, relative } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { Message } from '../../protocol/message.ts';
import { connectAgent, connectVisitor, emitWithAck, nextEvent, startTestBridge, type TestBridge } from '../testing/index.ts';
import { cutUpload } from '../testing/cut-upload.ts';

const MAX_BYTES = 256 * 1024;
let tb: TestBridge;
let clockOffsetMs = 0;

beforeAll(async () => {
  tb = await startTestBridge({
    config: { attachments: { maxBytes: MAX_BYTES, linkTtlSeconds: 60 } },
    clock: () => new Date(Date.now() + clockOffsetMs),
  });
});
afterAll(async () => {
  await tb.close();
});

interface Upload {
  status: number;
  json: { attachment?: { id: string; name: string; type: string; size: number; thumbnail?: boolean }; error?: { code: string; fields?: Record<string, string> } };
}

async function upload(token: string, body: Uint8Array | string, query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Upload> {
  const search = new URLSearchParams(query).toString();
  const res = await fetch(`${tb.url}/api/attachments${search ? `?${search}` : ''}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', ...headers },
    body: typeof body === 'string' ? body : Buffer.from(body),
  });
  return { status: res.status, json: (await res.json()) as Upload['json'] };
}

async function read(path: string, token?: string, headers: Record<string, string> = {}) {
  const res = await fetch(tb.url + path, { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** A JPEG whose EXIF names a GPS position and an owner. */
async function jpegWithExif(): Promise<Buffer> {
  return sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366aa' } })
    .jpeg()
    .withExif({
      IFD0: { Copyright: 'OWNER-SECRET-MARK', Artist: 'OWNER-SECRET-MARK' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    })
    .toBuffer();
}

/** A PNG whose header claims 50,000 × 50,000 pixels in a few dozen bytes (a decompression bomb). */
function pixelBombPng(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
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

/** A zip whose one member inflates to 200 MB of zeros. */
function zipBomb(): Buffer {
  const data = deflateSync(Buffer.alloc(1024 * 1024), { level: 9 });
  const name = Buffer.from('bomb.txt');
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt16LE(8, 8);
  header.writeUInt32LE(data.length, 18);
  header.writeUInt32LE(200 * 1024 * 1024, 22);
  header.writeUInt16LE(name.length, 26);
  return Buffer.concat([header, name, data]);
}

describe('upload', () => {
  it('stores an image without its metadata, with a thumbnail, typed by its content; a repeat stores nothing new', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const original = await jpegWithExif();
    expect(original.includes('OWNER-SECRET-MARK')).toBe(true);
    // Declared as a PDF named .png: the bytes decide.
    const first = await upload(token, original, { name: 'holiday.png' }, { 'Content-Type': 'application/pdf' });
    expect(first.status).toBe(201);
    const attachment = first.json.attachment!;
    expect(attachment).toMatchObject({ name: 'holiday.png', type: 'image/jpeg', thumbnail: true });
    expect(attachment.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);

    const stored = await read(`/api/attachments/${attachment.id}`, token);
    expect(stored.status).toBe(200);
    expect(stored.body.length).toBe(attachment.size);
    expect(stored.body.includes('OWNER-SECRET-MARK')).toBe(false);
    const meta = await sharp(stored.body).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 640, height: 480 });
    expect(meta.exif).toBeUndefined();
    const thumbnail = await read(`/api/attachments/${attachment.id}/thumbnail`, token);
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    expect(await sharp(thumbnail.body).metadata()).toMatchObject({ format: 'webp', width: 320, height: 240 });

    // Same bytes again (a retry without a key): the same attachment, still one file on disk.
    const again = await upload(token, original, { name: 'other-name.jpg' });
    expect(again).toMatchObject({ status: 200, json: { attachment } });
    const keyed = await upload(token, 'some notes', { uploadKey: 'up-1', name: 'a.txt' });
    expect(keyed.status).toBe(201);
    expect(await upload(token, 'some notes, resent', { uploadKey: 'up-1', name: 'a.txt' })).toMatchObject({ status: 200, json: keyed.json });
    const folder = join(tb.dataDir, 'files', visitor.session.conversationId);
    expect((await readdir(folder)).length).toBe(3); // the jpeg, its thumbnail, the text
    expect(tb.store.health()).toMatchObject({ attachments: 2 });
    visitor.close();
  });

  it('sniffs the allowed types and refuses everything else with unsupported_media_type', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const png = await sharp({ create: { width: 4, height: 4, channels: 4, background: '#ff0000' } }).png().toBuffer();
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00ff00' } }).gif().toBuffer();
    const webp = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#0000ff' } }).webp().toBuffer();
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
    for (const [body, type] of [
      [png, 'image/png'],
      [gif, 'image/gif'],
      [webp, 'image/webp'],
      [pdf, 'application/pdf'],
      [Buffer.from('Grüße, 你好 — plain text\n'), 'text/plain'],
    ] as const) {
      const res = await upload(token, body, { name: 'x' });
      expect(res.status, type).toBe(201);
      expect(res.json.attachment?.type).toBe(type);
    }
    for (const [body, what] of [
      [zipBomb(), 'zip'],
      [Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'xml'],
      [Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00]), 'exe'],
      [Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x00, 0x42, 0x80, 0x81]), 'binary'],
      [Buffer.from('text with a NUL \u0000 byte'), 'nul'],
    ] as const) {
      const res = await upload(token, body);
      expect(res.status, what).toBe(415);
      expect(res.json.error?.code, what).toBe('unsupported_media_type');
    }
    const bomb = await upload(token, pixelBombPng());
    expect(bomb.status).toBe(413);
    expect(bomb.json.error?.code).toBe('payload_too_large');
    expect((await upload(token, Buffer.alloc(0))).status).toBe(400);
    visitor.close();
  });

  it('tells visitors ATTACHMENT_MAX_BYTES in their session; refuses a body over it with 413: by Content-Length before reading it, and while streaming', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    // The session tells the widget the limit, so it never starts an upload the bridge would cut off.
    expect(visitor.session.attachments).toEqual({ maxBytes: MAX_BYTES });
    expect((await upload(token, Buffer.alloc(MAX_BYTES, 0x61))).status).toBe(201);
    // Only the headers are sent: the answer must come without the body.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(tb.port, '127.0.0.1', () => {
        socket.write(
          `POST /api/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${MAX_BYTES + 1}\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    // Chunked, so no length is declared: refused once the count passes the limit.
    const streamed = await fetch(`${tb.url}/api/attachments`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(MAX_BYTES / 4).fill(0x62));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit).then(async (res) => ({ status: res.status, json: (await res.json()) as Upload['json'] }), (error: unknown) => ({ status: 0, error }));
    expect(streamed.status).toBe(413);
    visitor.close();
  });

  it('a connection cut mid-upload stores nothing; the restarted upload under the same uploadKey stores one copy', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const body = Buffer.alloc(MAX_BYTES - 1, 'a long log line\n');
    const before = tb.store.health().attachments;
    await cutUpload(tb.port, token, body, { uploadKey: 'cut.0', name: 'server.log' });
    const restarted = await upload(token, body, { uploadKey: 'cut.0', name: 'server.log' });
    expect(restarted.status).toBe(201);
    const again = await upload(token, body, { uploadKey: 'cut.0', name: 'server.log' });
    expect(again).toMatchObject({ status: 200, json: { attachment: { id: restarted.json.attachment!.id, size: body.byteLength } } });
    expect(tb.store.health().attachments).toBe(before + 1);
    visitor.close();
  });

  it('takes the file as the one file part of a multipart/form-data body, with the same limits and sniffing', async () => {
    const visitor = await connectVisitor(tb.url);
    const post = async (form: FormData) => {
      const res = await fetch(`${tb.url}/api/attachments`, { method: 'POST', headers: { Authorization: `Bearer ${visitor.session.token}` }, body: form });
      return { status: res.status, json: (await res.json()) as Upload['json'] };
    };
    const form = (...files: [Blob, string][]): FormData => {
      const data = new FormData();
      data.set('note', 'fields other than the file are ignored');
      for (const [blob, name] of files) data.append('file', blob, name);
      return data;
    };
    const pdf = new Blob(['%PDF-1.4\n%%EOF\n'], { type: 'image/png' });
    // The name comes from the part; the type is sniffed, not the part's Content-Type.
    expect(await post(form([pdf, 'report.pdf']))).toMatchObject({ status: 201, json: { attachment: { name: 'report.pdf', type: 'application/pdf' } } });
    expect(await post(form([new Blob([new Uint8Array(MAX_BYTES + 1)]), 'big.bin']))).toMatchObject({ status: 413, json: { error: { code: 'payload_too_large' } } });
    expect(await post(form([new Blob([new Uint8Array([0x4d, 0x5a, 0x90, 0, 3, 0])]), 'tool.exe']))).toMatchObject({ status: 415 });
    expect(await post(form([pdf, 'a.pdf'], [pdf, 'b.pdf']))).toMatchObject({ status: 400, json: { error: { code: 'bad_request', fields: { file: expect.any(String) } } } });
    expect(await post(form())).toMatchObject({ status: 400, json: { error: { fields: { file: 'required' } } } });
    visitor.close();
  });

  it('needs a valid token; agents name the conversation', async () => {
    expect((await upload('not-a-token', 'x')).status).toBe(401);
    const res = await fetch(`${tb.url}/api/attachments`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(401);
    expect((await upload(tb.agent.token, 'x')).json.error).toMatchObject({ code: 'bad_request', fields: { conversationId: expect.any(String) } });
    expect((await upload(tb.agent.token, 'x', { conversationId: 'no-such-conversation' })).status).toBe(404);
  });

  it('answers CORS preflights for pages ALLOWED_ORIGINS lists (the widget uploads from the host page), no others', async () => {
    const preflight = (origin: string) =>
      fetch(`${tb.url}/api/attachments`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
      });
    const allowed = await preflight(tb.url);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(tb.url);
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(allowed.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const refused = await preflight('https://elsewhere.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const visitor = await connectVisitor(tb.url);
    const res = await fetch(`${tb.url}/api/attachments?name=a.txt`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${visitor.session.token}`, Origin: tb.url },
      body: 'hello',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-allow-origin')).toBe(tb.url);
    visitor.close();
  });

  it('a visitor\'s upload before their first message starts the conversation on their site', async () => {
    const visitor = await connectVisitor(tb.url, { site: 'upload-first' });
    expect((await upload(visitor.session.token, 'first a file', { name: 'notes.txt', site: 'upload-first' })).status).toBe(201);
    expect((await tb.store.getConversation(visitor.session.conversationId))?.site).toBe('upload-first');
    visitor.close();
  });
});

describe('messages with attachments', () => {
  it('visitor and agent send attachments they uploaded; others are refused; idempotent by clientId; REST and export', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const conversationId = visitor.session.conversationId;
    const agent = await connectAgent(tb.url, tb.agent.token);
    const a1 = (await upload(token, 'first file', { name: 'one.txt' })).json.attachment!;
    const a2 = (await upload(token, await jpegWithExif(), { name: 'two.jpg' })).json.attachment!;
    const heard = nextEvent(agent, 'message:new');
    const sent = await emitWithAck(visitor, 'message:send', { clientId: 'att-1', attachments: [a1.id, a2.id] });
    expect(sent.ok).toBe(true);
    const message = (sent as { ok: true; data: Message }).data;
    expect(message.text).toBe('');
    expect(message.attachments).toEqual([a1, a2]);
    expect((await heard).attachments).toEqual([a1, a2]);
    const retried = await emitWithAck(visitor, 'message:send', { clientId: 'att-1', attachments: [a1.id, a2.id] });
    expect((retried as { ok: true; data: Message }).data.id).toBe(message.id);

    // Another visitor's upload, an agent's id from another conversation, too many, none at all.
    const stranger = await connectVisitor(tb.url);
    const foreign = (await upload(stranger.session.token, 'not yours', { name: 'x.txt' })).json.attachment!;
    for (const payload of [
      { clientId: 'att-2', text: 'hi', attachments: [foreign.id] },
      { clientId: 'att-3', attachments: ['AAAAAAAAAAAAAAAAAAAAAA'] },
      { clientId: 'att-4', attachments: Array.from({ length: 11 }, (_, i) => `id${i}xxxxxxxxxxxxxxxx`) },
      { clientId: 'att-5', attachments: [a1.id, a1.id] },
      { clientId: 'att-6' },
    ]) {
      const ack = await emitWithAck(visitor, 'message:send', payload);
      expect(ack, JSON.stringify(payload)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    // An agent cannot send the visitor's upload as its own.
    const stolen = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'ag-0', attachments: [a1.id] });
    expect(stolen).toMatchObject({ ok: false, error: { code: 'bad_request' } });

    const agentFile = (await upload(tb.agent.token, '%PDF-1.4\n%%EOF\n', { conversationId, name: 'invoice.pdf' })).json.attachment!;
    expect(agentFile.type).toBe('application/pdf');
    const seen = nextEvent(visitor, 'message:new');
    const agentSent = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'ag-1', text: 'your invoice', attachments: [agentFile.id] });
    expect(agentSent).toMatchObject({ ok: true, data: { text: 'your invoice', attachments: [agentFile] } });
    expect((await seen).attachments).toEqual([agentFile]);
    // The visitor reads the agent's file with its own token.
    expect((await read(`/api/attachments/${agentFile.id}`, token)).status).toBe(200);

    const restFile = (await upload(tb.agent.token, 'rest notes', { conversationId, name: 'rest.txt' })).json.attachment!;
    const rest = await fetch(`${tb.url}/api/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tb.agent.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ clientId: 'rest-1', attachments: [restFile.id] }),
    });
    expect(rest.status).toBe(201);
    expect(((await rest.json()) as { message: Message }).message.attachments).toEqual([restFile]);

    const exported = await fetch(`${tb.url}/api/conversations/${conversationId}/export`, { headers: { Authorization: `Bearer ${tb.agent.token}` } });
    const document = (await exported.json()) as { messages: { clientId: string; attachments: { id: string; url: string; contentType: string }[] }[] };
    const exportedMessage = document.messages.find((m) => m.clientId === 'att-1')!;
    expect(exportedMessage.attachments.map((a) => [a.id, a.contentType])).toEqual([
      [a1.id, 'text/plain'],
      [a2.id, 'image/jpeg'],
    ]);
    expect((await read(new URL(exportedMessage.attachments[0]!.url).pathname, tb.agent.token)).body.toString()).toBe('first file');
    visitor.close();
    stranger.close();
    agent.close();
  });
});

describe('reading', () => {
  it('serves with the sniffed type, nosniff, a sandbox CSP, downloads for all but raster images, ranges and caching', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const image = (await upload(token, await jpegWithExif(), { name: 'photo.jpg' })).json.attachment!;
    const html = (await upload(token, '<html><body><script>document.title="pwned"</script></body></html>', { name: 'page.html' })).json.attachment!;
    const svg = (await upload(token, '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>', { name: 'x.svg' })).json.attachment!;
    expect([html.type, svg.type]).toEqual(['text/plain', 'text/plain']);

    const img = await read(`/api/attachments/${image.id}`, token);
    expect(img.headers.get('content-type')).toBe('image/jpeg');
    expect(img.headers.get('x-content-type-options')).toBe('nosniff');
    expect(img.headers.get('content-security-policy')).toMatch(/^sandbox/);
    expect(img.headers.get('content-disposition')).toMatch(/^inline; filename="photo.jpg"/);
    expect(img.headers.get('cache-control')).toMatch(/private, max-age=\d+/);
    const etag = img.headers.get('etag')!;
    expect((await read(`/api/attachments/${image.id}`, token, { 'If-None-Match': etag })).status).toBe(304);
    const part = await read(`/api/attachments/${image.id}`, token, { Range: 'bytes=2-11' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 2-11/${image.size}`);
    expect(part.body).toEqual(img.body.subarray(2, 12));
    const tail = await read(`/api/attachments/${image.id}`, token, { Range: 'bytes=-5' });
    expect(tail.body).toEqual(img.body.subarray(image.size - 5));
    expect((await read(`/api/attachments/${image.id}`, token, { Range: `bytes=${image.size}-` })).status).toBe(416);

    for (const file of [html, svg]) {
      const res = await read(`/api/attachments/${file.id}`, token);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; /);
      expect(res.headers.get('content-security-policy')).toMatch(/^sandbox/);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
    }
    visitor.close();
  });

  it('1,000 attempts by another visitor read nothing: ids, tampered and expired links, another conversation\'s token', async () => {
    const victim = await connectVisitor(tb.url);
    const secret = 'VICTIM-SECRET-CONTENT';
    const file = (await upload(victim.session.token, secret, { name: 'secret.txt' })).json.attachment!;
    const image = (await upload(victim.session.token, await jpegWithExif(), { name: 'secret.jpg' })).json.attachment!;
    const link = (await (await fetch(`${tb.url}/api/attachments/${file.id}/link`, { headers: { Authorization: `Bearer ${victim.session.token}` } })).json()) as { url: string };
    const imageLink = (await (await fetch(`${tb.url}/api/attachments/${image.id}/link`, { headers: { Authorization: `Bearer ${victim.session.token}` } })).json()) as { url: string; thumbnailUrl: string };
    // The link itself works without any token.
    expect((await read(new URL(link.url).pathname + new URL(link.url).search)).body.toString()).toBe(secret);
    expect((await read(new URL(imageLink.thumbnailUrl).pathname + new URL(imageLink.thumbnailUrl).search)).status).toBe(200);

    const attacker = await connectVisitor(tb.url);
    const own = (await upload(attacker.session.token, 'mine', { name: 'mine.txt' })).json.attachment!;
    const ownLink = (await (await fetch(`${tb.url}/api/attachments/${own.id}/link`, { headers: { Authorization: `Bearer ${attacker.session.token}` } })).json()) as { url: string };
    const signed = new URL(link.url);
    const ownSigned = new URL(ownLink.url);
    const expires = signed.searchParams.get('expires')!;
    const signature = signed.searchParams.get('signature')!;
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const attempts: { path: string; token?: string }[] = [];
    for (let i = 0; attempts.length < 1000; i++) {
      const tokenPaths = [
        `/api/attachments/${file.id}`,
        `/api/attachments/${image.id}/thumbnail`,
        `/api/attachments/${file.id}/link`,
        `/api/attachments/${flip(file.id, i % file.id.length)}`,
        `/api/attachments/${Buffer.from(String(i)).toString('base64url').padEnd(16, 'x')}`,
        `/api/attachments/..%2F..%2Ffiles%2F${i}`,
      ];
      for (const path of tokenPaths) attempts.push({ path, token: attacker.session.token });
      attempts.push(
        { path: `/api/attachments/${file.id}?expires=${expires}&signature=${flip(signature, i % signature.length)}` },
        { path: `/api/attachments/${file.id}?expires=${Number(expires) + 1 + i}&signature=${signature}` },
        { path: `/api/attachments/${file.id}/thumbnail?expires=${expires}&signature=${signature}` },
        // The attacker's own valid signature, moved onto the victim's id.
        { path: `/api/attachments/${file.id}?${ownSigned.searchParams.toString()}` },
        { path: `/api/attachments/${file.id}?expires=${expires}`, token: attacker.session.token },
      );
    }
    // Expired: the victim's genuine link, once the clock has passed its expiry (it stays there: the bridge's rate
    // limiter must not see time run backwards).
    clockOffsetMs = 61_000;
    const expiredAttempts = Array.from({ length: 10 }, () => ({ path: signed.pathname + signed.search }));
    const all: { path: string; token?: string }[] = [...attempts.slice(0, 990), ...expiredAttempts];
    expect(all.length).toBe(1000);
    const leaks: string[] = [];
    // 25 at a time: the attempts are independent, and one at a time would cost the suite many seconds.
    for (let i = 0; i < all.length; i += 25) {
      await Promise.all(
        all.slice(i, i + 25).map(async (attempt) => {
          const res = await read(attempt.path, attempt.token);
          if (res.status < 400 || res.body.includes(secret)) leaks.push(`${res.status} ${attempt.path}`);
        }),
      );
    }
    expect(leaks).toEqual([]);
    victim.close();
    attacker.close();
  });
});

describe('hostile files and erasure', () => {
  it('stores hostile names and polyglots inside DATA_DIR without their payload; erasure deletes the files', async () => {
    const visitor = await connectVisitor(tb.url);
    const token = visitor.session.token;
    const before = new Set(await filesUnder(tb.dataDir));
    const polyglot = Buffer.concat([await jpegWithExif(), Buffer.from('<html><script>alert("polyglot")</script></html>')]);
    const traversal = await upload(token, polyglot, { name: '../../../../etc/passwd' });
    expect(traversal.json.attachment).toMatchObject({ name: 'passwd', type: 'image/jpeg' });
    const rtl = await upload(token, 'not an exe', { name: 'invoice\u202Egpj.exe' });
    expect(rtl.json.attachment?.name).toBe('invoicegpj.exe');
    const weird = await upload(token, 'dots', { name: '..' });
    expect(weird.json.attachment?.name).toBe('file');
    const served = await read(`/api/attachments/${traversal.json.attachment!.id}`, token);
    expect(served.body.includes('<script')).toBe(false);
    expect(served.headers.get('content-disposition')).toBe(`inline; filename="passwd"; filename*=UTF-8''passwd`);
    const rtlServed = await read(`/api/attachments/${rtl.json.attachment!.id}`, token);
    expect(rtlServed.headers.get('content-disposition')).toBe(`attachment; filename="invoicegpj.exe"; filename*=UTF-8''invoicegpj.exe`);

    const added = (await filesUnder(tb.dataDir)).filter((p) => !before.has(p));
    expect(added.length).toBeGreaterThan(0);
    for (const path of added) expect(relative(join(tb.dataDir, 'files'), path)).not.toMatch(/^\.\./);

    await emitWithAck(visitor, 'message:send', { clientId: 'h-1', attachments: [traversal.json.attachment!.id] });
    const folder = join(tb.dataDir, 'files', visitor.session.conversationId);
    expect((await readdir(folder)).length).toBe(4); // polyglot, its thumbnail, two texts
    const count = tb.store.health().attachments;
    const erased = await emitWithAck(visitor, 'conversation:erase', {});
    expect(erased.ok).toBe(true);
    await expect(stat(folder)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(tb.store.health().attachments).toBe(count - 3);
    const health = (await (await fetch(`${tb.url}/health`)).json()) as { storage: { attachments: number; attachmentBytes: number } };
    expect(health.storage.attachments).toBe(count - 3);
    expect((await read(`/api/attachments/${traversal.json.attachment!.id}`, tb.agent.token)).status).toBe(404);
  });
});
