/**
 * WhatsApp media end to end, for both store engines (whatsapp-media.test.ts on lowdb, whatsapp-media.postgres.test.ts
 * on PostgreSQL): a real bridge, webhook bodies signed over their bytes, the loopback fake Graph API following Meta's
 * two-step download and multipart upload, real agent and visitor sockets. Test support only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { WHATSAPP_CAPTION_LENGTH } from '../../protocol/attachment.ts';
import type { Message } from '../../protocol/message.ts';
import type { Store } from '../store/store.ts';
import { createLogger, type Logger } from '../logger.ts';
import { connectAgent, connectVisitor, emitWithAck, type AgentClient, type VisitorClient } from '../testing/clients.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { metaSignature } from './signatures.ts';
import { webhookConfigFromEnv, type WebhookConfig } from './webhook-config.ts';
import { startFakeGraphApi, type FakeGraphApi } from './test-servers.ts';
import { inboundMessagesBody } from './whatsapp-test-bodies.ts';
import { whatsappConversationId } from './whatsapp-inbound.ts';
import { legacyMediaJobIdOf, mediaJobIdOf, WHATSAPP_MEDIA_QUEUE } from './whatsapp-media.ts';
import type { InboundMediaJob } from './whatsapp-inbound.ts';

/** One line the bridge logged, parsed. */
type LogLine = Record<string, unknown>;

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const ACCESS_TOKEN = 'EAAGmedia-access-token';
const PHONE_NUMBER_ID = '106540352242922';

/** A running bridge on one engine, with the webhook settings it was given. */
export interface MediaBridge {
  url: string;
  store: Store;
  agentToken: string;
  /** How many attachment files the engine holds (files under DATA_DIR on lowdb, rows on PostgreSQL). */
  storedFiles(): Promise<number>;
  close(): Promise<void>;
}

/** A logger keeping every line at info and above, so a test can wait for what the bridge says it did. */
function recordingLogger(lines: LogLine[]): Logger {
  return createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
}

/**
 * The webhook settings every engine's bridge gets: the fake Graph API, fast retries, and an attempt that never times
 * out while a test holds its request (the erasure tests hold one for as long as they take, which on a loaded machine
 * can pass the default 15 s: the attempt would then end as a retry instead of reaching the store).
 */
function webhooksFor(graph: FakeGraphApi): WebhookConfig {
  return webhookConfigFromEnv({
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_API_BASE: graph.apiBase,
    WHATSAPP_RETRY_BASE_MS: '40',
    WHATSAPP_MAX_ATTEMPTS: '4',
    WHATSAPP_TIMEOUT_MS: '600000',
    QUEUE_LEASE_MS: '1200000',
    WEBHOOK_POLL_MS: '40',
  });
}


/** One inbound message in Meta's webhook shape. */
const inboundBody = (waId: string, message: Record<string, unknown>): Buffer => inboundMessagesBody(waId, PHONE_NUMBER_ID, [message]);

function statusBody(statuses: { id: string; status: string }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', statuses: statuses.map((s) => ({ timestamp: '1750030073', ...s })) } }] }],
    }),
  );
}

/** A minimal MP4 header: what file-type recognises as video/mp4, a type attachments refuse. */
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.from([0, 0, 0, 0]), Buffer.from('mp42isom'), Buffer.alloc(64)]);

/** Registers the WhatsApp media tests against bridges that `start` makes on one engine. */
export function describeWhatsappMedia(engine: string, start: (webhooks: WebhookConfig, logger: Logger) => Promise<MediaBridge>): void {
  describe(`WhatsApp media (${engine})`, () => {
    let graph: FakeGraphApi;
    let bridge: MediaBridge;
    let png: Buffer;
    const sockets: (AgentClient | VisitorClient)[] = [];
    const logs: LogLine[] = [];

    beforeAll(async () => {
      graph = await startFakeGraphApi(ACCESS_TOKEN);
      bridge = await start(webhooksFor(graph), recordingLogger(logs));
      png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366aa' } }).png().toBuffer();
    });

    afterAll(async () => {
      for (const socket of sockets) socket.disconnect();
      await bridge?.close();
      await graph?.server.close();
    });

    const post = (body: Buffer) =>
      fetch(`${bridge.url}/webhooks/whatsapp`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, APP_SECRET) },
      });
    const stored = (wamid: string) => waitUntil(`message ${wamid} stored`, () => bridge.store.findMessageByExternalId(wamid));
    const asAgent = (path: string, init: RequestInit = {}) =>
      fetch(`${bridge.url}${path}`, { ...init, headers: { ...init.headers, Authorization: `Bearer ${bridge.agentToken}` } });

    it('downloads an inbound image in two steps with the token and stores it: the agent reads it, another visitor cannot; the caption is the text', async () => {
      graph.media.set('MEDIA-IMG-1', { bytes: png, mimeType: 'image/png' });
      const body = inboundBody('15550001001', { id: 'wamid.IMG1', type: 'image', image: { id: 'MEDIA-IMG-1', mime_type: 'image/png', caption: 'The screen is cracked' } });
      expect((await post(body)).status).toBe(200);
      const message = await stored('wamid.IMG1');
      expect(message.text).toBe('The screen is cracked');
      expect(message.author.role).toBe('visitor');
      expect(message.conversationId).toBe(whatsappConversationId('15550001001'));
      expect(message.attachments).toEqual([expect.objectContaining({ type: 'image/png', name: 'whatsapp-image.png', thumbnail: true })]);
      // Meta's flow: the lookup, then the URL it named, both with the bearer token.
      expect(graph.lookups().map((r) => r.path)).toContain('/v21.0/MEDIA-IMG-1');
      const downloads = graph.downloads().filter((r) => r.path === '/media-bytes/MEDIA-IMG-1');
      expect(downloads).toHaveLength(1);
      expect(downloads[0]!.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);

      const id = message.attachments![0]!.id;
      const read = await asAgent(`/api/attachments/${id}`);
      expect(read.status).toBe(200);
      expect(read.headers.get('content-type')).toBe('image/png');
      expect(await sharp(Buffer.from(await read.arrayBuffer())).metadata()).toMatchObject({ format: 'png', width: 64, height: 48 });
      const visitor = await connectVisitor(bridge.url);
      sockets.push(visitor);
      const other = await fetch(`${bridge.url}/api/attachments/${id}`, { headers: { Authorization: `Bearer ${visitor.session.token}` } });
      expect(other.status).toBe(404);
      expect((await fetch(`${bridge.url}/api/attachments/${id}/link`, { headers: { Authorization: `Bearer ${visitor.session.token}` } })).status).toBe(404);
    });

    it('keeps a refused type (a video) and media Meta no longer has as placeholder text that says why, storing no file', async () => {
      const before = bridge.store.health().attachments;
      graph.media.set('MEDIA-VID-1', { bytes: MP4, mimeType: 'video/mp4' });
      expect((await post(inboundBody('15550001002', { id: 'wamid.VID1', type: 'video', video: { id: 'MEDIA-VID-1', caption: 'Watch this' } }))).status).toBe(200);
      const video = await stored('wamid.VID1');
      expect(video.text).toMatch(/^\[video\] Watch this\n\(not kept: Files of type video\/mp4 cannot be attached\.\)$/);
      expect(video.attachments).toBeUndefined();
      expect((await post(inboundBody('15550001002', { id: 'wamid.GONE1', type: 'document', document: { id: 'MEDIA-GONE', filename: 'invoice.pdf' } }))).status).toBe(200);
      const gone = await stored('wamid.GONE1');
      expect(gone.text).toBe('[document] invoice.pdf\n(not downloaded: Unsupported get request.)');
      expect(bridge.store.health().attachments).toBe(before);
    });

    it('retries a failing Graph API without losing or doubling the message, and a redelivered webhook changes nothing', async () => {
      const before = bridge.store.health().attachments;
      graph.media.set('MEDIA-IMG-2', { bytes: png, mimeType: 'image/png' });
      graph.server.script.push({ status: 500, body: { error: { message: 'An unknown error occurred', code: 1 } } }, 'reset');
      const body = inboundBody('15550001003', { id: 'wamid.IMG2', type: 'image', image: { id: 'MEDIA-IMG-2' } });
      // Answered without waiting for the Graph API: the job is durable once queued.
      expect((await post(body)).status).toBe(200);
      const message = await stored('wamid.IMG2');
      expect(message.text).toBe('');
      expect(message.attachments).toHaveLength(1);
      // The job's own record is saved just after the message it stored: waited for, not assumed.
      const item = await waitUntil('the job saved as delivered', async () =>
        (await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).find((i) => i.id === mediaJobIdOf(message.conversationId, 'wamid.IMG2') && i.state !== 'pending'),
      );
      expect(item).toMatchObject({ state: 'delivered', attempts: 3 });
      expect((await post(body)).status).toBe(200);
      const messages = await bridge.store.getMessages(message.conversationId, { limit: 10 });
      expect(messages.filter((m) => m.externalId === 'wamid.IMG2')).toHaveLength(1);
      expect(graph.downloads().filter((r) => r.path === '/media-bytes/MEDIA-IMG-2')).toHaveLength(1);
      expect(bridge.store.health().attachments).toBe(before + 1);
    });

    it('an erasure while a download is in flight deletes its job, and the download then brings nothing back: no conversation, message or file', async () => {
      const waId = '15550001005';
      const conversationId = whatsappConversationId(waId);
      const jobId = mediaJobIdOf(conversationId, 'wamid.ERASE1');
      const attachmentsBefore = bridge.store.health().attachments;
      const filesBefore = await bridge.storedFiles();
      graph.media.set('MEDIA-ERASE-1', { bytes: png, mimeType: 'image/png' });
      let release!: () => void;
      graph.held.set('MEDIA-ERASE-1', new Promise<void>((resolve) => (release = resolve)));
      const body = inboundBody(waId, { id: 'wamid.ERASE1', type: 'image', image: { id: 'MEDIA-ERASE-1', caption: 'My card number is …' } });
      expect((await post(body)).status).toBe(200);
      // Claimed, and its first Graph API request held unanswered: the job is in flight.
      await waitUntil('the held lookup of MEDIA-ERASE-1', () => graph.lookups().some((r) => r.path.endsWith('/MEDIA-ERASE-1')));
      expect(await bridge.store.getConversation(conversationId)).toMatchObject({ channel: 'whatsapp' });
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).toContain(jobId);

      expect((await asAgent(`/api/conversations/${conversationId}`, { method: 'DELETE' })).status).toBe(204);
      // Deleted with the conversation although no message names it yet (its caption and the number are in it).
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).not.toContain(jobId);
      release();
      const dropped = await waitUntil('the in-flight download dropped', () =>
        logs.find((line) => line.msg === 'webhooks: WhatsApp media of an erased conversation dropped' && line.wamid === 'wamid.ERASE1'),
      );
      // It got the file and tried to store it: the store refused the write into the erased conversation.
      expect(dropped.when).toBe('after the download');
      expect(graph.downloads().filter((r) => r.path === '/media-bytes/MEDIA-ERASE-1')).toHaveLength(1);
      expect(await bridge.store.findMessageByExternalId('wamid.ERASE1')).toBeUndefined();
      expect(await bridge.store.getConversation(conversationId)).toBeUndefined();
      expect(bridge.store.health().attachments).toBe(attachmentsBefore);
      expect(await bridge.storedFiles()).toBe(filesBefore);
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).not.toContain(jobId);
    });

    /**
     * A media message whose file is being fetched (lookup answered, the bytes held by the fake Graph API) when an
     * agent erases the conversation; `meanwhile` runs after the erasure, then the bytes are served. Resolves once the
     * job has ended its attempt, with how it ended.
     */
    async function eraseWhileBytesInFlight(waId: string, wamid: string, mediaId: string, meanwhile: () => Promise<void> = async () => {}) {
      const conversationId = whatsappConversationId(waId);
      const jobId = mediaJobIdOf(conversationId, wamid);
      const logsBefore = logs.length;
      graph.media.set(mediaId, { bytes: png, mimeType: 'image/png' });
      let release!: () => void;
      graph.heldBytes.set(mediaId, new Promise<void>((resolve) => (release = resolve)));
      const body = inboundBody(waId, { id: wamid, type: 'image', image: { id: mediaId, caption: 'My card number is 4111 1111 1111 1111' } });
      expect((await post(body)).status).toBe(200);
      // Claimed, looked up, and the request for the bytes held unanswered: the file is on its way.
      await waitUntil(`the held download of ${mediaId}`, () => graph.downloads().some((r) => r.path === `/media-bytes/${mediaId}`));
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).toContain(jobId);
      expect((await asAgent(`/api/conversations/${conversationId}`, { method: 'DELETE' })).status).toBe(204);
      await meanwhile();
      release();
      // Whichever comes first: the job dropping what it fetched, or (the bug) its message stored after all.
      const ended = await waitUntil(`the in-flight download of ${wamid} ended`, async () =>
        logs.slice(logsBefore).find((line) => line.msg === 'webhooks: WhatsApp media of an erased conversation dropped' && line.wamid === wamid) ??
        (await bridge.store.findMessageByExternalId(wamid)),
      );
      // The worker's save of the attempt comes after: the erased item is not written back.
      await waitUntil(`the attempt of ${jobId} ended`, () => logs.slice(logsBefore).some((line) => line.id === jobId && line.queue === WHATSAPP_MEDIA_QUEUE));
      return { conversationId, jobId, ended, lines: () => logs.slice(logsBefore) };
    }

    it('an erasure while the file itself is being fetched: once served, nothing of it is stored — no message, attachment, file or job; no error', async () => {
      const attachmentsBefore = bridge.store.health().attachments;
      const filesBefore = await bridge.storedFiles();
      const { conversationId, jobId, ended, lines } = await eraseWhileBytesInFlight('15550001007', 'wamid.ERASE2', 'MEDIA-ERASE-2');
      expect(ended).toMatchObject({ msg: 'webhooks: WhatsApp media of an erased conversation dropped', when: 'after the download' });
      expect(await bridge.store.findMessageByExternalId('wamid.ERASE2')).toBeUndefined();
      expect(await bridge.store.getConversation(conversationId)).toBeUndefined();
      expect(bridge.store.health().attachments).toBe(attachmentsBefore);
      expect(await bridge.storedFiles()).toBe(filesBefore);
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).not.toContain(jobId);
      // One attempt, ended without an error and without a retry.
      expect(lines().filter((line) => (line.level as number) >= 50)).toEqual([]);
      expect(lines().filter((line) => line.msg === 'webhooks: delivery failed' && line.id === jobId)).toEqual([]);
      expect(graph.downloads().filter((r) => r.path === '/media-bytes/MEDIA-ERASE-2')).toHaveLength(1);
    });

    it('an erasure while the file is being fetched, then the customer writes again: the new conversation gets nothing of the erased message', async () => {
      const waId = '15550001008';
      const attachmentsBefore = bridge.store.health().attachments;
      const filesBefore = await bridge.storedFiles();
      const { conversationId, jobId, ended, lines } = await eraseWhileBytesInFlight(waId, 'wamid.ERASE3', 'MEDIA-ERASE-3', async () => {
        // The same customer, the same (derived) conversation id: a new conversation, not the erased one.
        // Sent after the erasure (a message of an earlier second would be dropped as one sent before it).
        const timestamp = String(Math.floor(Date.now() / 1000) + 1);
        expect((await post(inboundBody(waId, { id: 'wamid.AGAIN3', timestamp, type: 'text', text: { body: 'Did you get my photo?' } }))).status).toBe(200);
        await stored('wamid.AGAIN3');
      });
      expect(ended).toMatchObject({ msg: 'webhooks: WhatsApp media of an erased conversation dropped', when: 'after the download' });
      expect(await bridge.store.findMessageByExternalId('wamid.ERASE3')).toBeUndefined();
      const messages = await bridge.store.getMessages(conversationId, { limit: 10 });
      expect(messages.map((m) => m.text)).toEqual(['Did you get my photo?']);
      expect(bridge.store.health().attachments).toBe(attachmentsBefore);
      expect(await bridge.storedFiles()).toBe(filesBefore);
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id)).not.toContain(jobId);
      expect(lines().filter((line) => (line.level as number) >= 50)).toEqual([]);
      expect(lines().filter((line) => line.msg === 'webhooks: delivery failed' && line.id === jobId)).toEqual([]);
    });

    it('still runs a job an older version queued as wa-media:<wamid> before the conversation existed (an upgrade with jobs pending)', async () => {
      const waId = '15550001006';
      expect(await bridge.store.getConversation(whatsappConversationId(waId))).toBeUndefined();
      graph.media.set('MEDIA-OLD-1', { bytes: png, mimeType: 'image/png' });
      const job: InboundMediaJob = { wamid: 'wamid.OLD1', waId, name: 'Old Timer', kind: 'image', mediaId: 'MEDIA-OLD-1', placeholder: '[image]' };
      await bridge.store.enqueue(WHATSAPP_MEDIA_QUEUE, job, legacyMediaJobIdOf('wamid.OLD1'));
      const message = await stored('wamid.OLD1');
      expect(message.conversationId).toBe(whatsappConversationId(waId));
      expect(message.attachments).toEqual([expect.objectContaining({ type: 'image/png' })]);
    });

    it("an erasure deletes the pending jobs an older version queued as wa-media:<wamid> for that customer, not another customer's", async () => {
      const waId = '15550001009';
      const otherWaId = '15550001010';
      expect((await post(inboundBody(waId, { id: 'wamid.TEXT9', type: 'text', text: { body: 'hello' } }))).status).toBe(200);
      const conversationId = (await stored('wamid.TEXT9')).conversationId;
      const logsBefore = logs.length;
      // Both jobs claimed, their Graph API lookups held unanswered: pending and in flight when the erasure comes.
      const releases: (() => void)[] = [];
      const queueLegacyJob = async (wamid: string, customer: string, mediaId: string) => {
        graph.media.set(mediaId, { bytes: png, mimeType: 'image/png' });
        graph.held.set(mediaId, new Promise<void>((resolve) => releases.push(resolve)));
        const job: InboundMediaJob = { wamid, waId: customer, name: 'Old Timer', kind: 'image', mediaId, placeholder: '[image]' };
        await bridge.store.enqueue(WHATSAPP_MEDIA_QUEUE, job, legacyMediaJobIdOf(wamid));
      };
      await queueLegacyJob('wamid.OLD9', waId, 'MEDIA-OLD-9');
      await queueLegacyJob('wamid.OLD10', otherWaId, 'MEDIA-OLD-10');
      await waitUntil('both held lookups', () =>
        ['MEDIA-OLD-9', 'MEDIA-OLD-10'].every((id) => graph.lookups().some((r) => r.path.endsWith(`/${id}`))),
      );

      expect((await asAgent(`/api/conversations/${conversationId}`, { method: 'DELETE' })).status).toBe(204);
      const ids = (await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 100)).map((i) => i.id);
      // Found by the customer's number in its payload: the old id names no conversation.
      expect(ids).not.toContain(legacyMediaJobIdOf('wamid.OLD9'));
      expect(ids).toContain(legacyMediaJobIdOf('wamid.OLD10'));

      for (const release of releases) release();
      expect((await stored('wamid.OLD10')).conversationId).toBe(whatsappConversationId(otherWaId));
      // The erased customer's download ends without storing anything (the store refuses a job that is gone).
      await waitUntil('the erased customer\'s old job dropped', () =>
        logs.slice(logsBefore).some((line) => line.msg === 'webhooks: WhatsApp media of an erased conversation dropped' && line.wamid === 'wamid.OLD9'),
      );
      expect(await bridge.store.findMessageByExternalId('wamid.OLD9')).toBeUndefined();
      expect(await bridge.store.getConversation(conversationId)).toBeUndefined();
    });

    it("sends an agent's image once (uploaded once, even when the send is retried) with its caption, and a file as a document; statuses apply", async () => {
      const waId = '15550001004';
      expect((await post(inboundBody(waId, { id: 'wamid.HELLO4', type: 'text', text: { body: 'hello' } }))).status).toBe(200);
      const conversationId = (await stored('wamid.HELLO4')).conversationId;
      const upload = async (name: string, bytes: Buffer) => {
        const res = await asAgent(`/api/attachments?conversationId=${conversationId}&name=${name}`, { method: 'POST', body: new Uint8Array(bytes) });
        expect(res.status).toBe(201);
        return ((await res.json()) as { attachment: { id: string } }).attachment.id;
      };
      const imageId = await upload('photo.png', png);
      const uploadsBefore = graph.uploads().length;
      const sendsBefore = graph.sends().length;
      // The upload succeeds, the first send fails: the retry must reuse the uploaded media id.
      graph.server.script.push({ status: 200, body: { id: 'media-up-scripted' } }, { status: 503, body: { error: { message: 'Temporarily unavailable', code: 131000 } } });
      const agent = await connectAgent(bridge.url, bridge.agentToken);
      sockets.push(agent);
      const ack = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'img-1', text: 'Here is the label', attachments: [imageId] });
      if (!ack.ok) throw new Error(`send refused: ${ack.error.code}`);
      const sent = await waitUntil('the image reply sent', async () => {
        const m = await bridge.store.getMessage(conversationId, ack.data.id);
        return m?.externalId ? m : undefined;
      });
      expect(graph.uploads()).toHaveLength(uploadsBefore + 1);
      const uploadBody = graph.uploads().at(-1)!.body;
      expect(uploadBody.toString('latin1')).toMatch(/name="messaging_product"\r\n\r\nwhatsapp\r\n/);
      expect(uploadBody.toString('latin1')).toMatch(/name="type"\r\n\r\nimage\/png\r\n/);
      expect(uploadBody.toString('latin1')).toContain('name="file"; filename="photo.png"');
      expect(uploadBody.includes(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBe(true);
      const sends = graph.sends().slice(sendsBefore).map((r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>);
      expect(sends).toHaveLength(2);
      for (const send of sends) {
        expect(send).toMatchObject({ messaging_product: 'whatsapp', to: waId, type: 'image', image: { id: 'media-up-scripted', caption: 'Here is the label' } });
      }
      expect(await bridge.store.getRecord('whatsapp-upload', `wa-send:${sent.id}`)).toEqual({ mediaId: 'media-up-scripted' });

      expect((await post(statusBody([{ id: sent.externalId!, status: 'delivered' }, { id: sent.externalId!, status: 'read' }]))).status).toBe(200);
      expect((await bridge.store.getMessage(conversationId, sent.id))?.status).toBe('read');

      const fileId = await upload('notes.txt', Buffer.from('Order 1234: two parcels\n'));
      const second = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'doc-1', attachments: [fileId] });
      if (!second.ok) throw new Error(`send refused: ${second.error.code}`);
      const doc: Message = await waitUntil('the document reply sent', async () => {
        const m = await bridge.store.getMessage(conversationId, second.data.id);
        return m?.externalId ? m : undefined;
      });
      const docSend = JSON.parse(graph.sends().at(-1)!.body.toString('utf8')) as Record<string, unknown>;
      expect(docSend).toMatchObject({ to: waId, type: 'document', document: { filename: 'notes.txt' } });
      expect((docSend.document as Record<string, unknown>).caption).toBeUndefined();
      expect(doc.status).toBe('sent');
      const two = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'two-1', attachments: [imageId, fileId] });
      expect(two.ok ? 'sent' : two.error.code).toBe('bad_request');
      const text = 'x'.repeat(WHATSAPP_CAPTION_LENGTH + 1);
      const longCaption = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'caption-1', text, attachments: [imageId] });
      expect(longCaption.ok ? 'sent' : longCaption.error.code).toBe('bad_request');
    });
  });
}
