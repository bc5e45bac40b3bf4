/**
 * WhatsApp messages sent before their conversation was erased and delivered after it (Meta redelivers what it thinks
 * was not accepted, late or replayed), for both store engines (whatsapp-erasure.test.ts on lowdb,
 * whatsapp-erasure.postgres.test.ts on PostgreSQL): a real bridge, webhook bodies signed over their bytes, the erasure
 * through the agents' REST API, the loopback fake Graph API for media. Test support only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { Store } from '../store/store.ts';
import { createLogger, type Logger } from '../logger.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { ERASED_NAMESPACE } from '../conversations.ts';
import { metaSignature } from './signatures.ts';
import { webhookConfigFromEnv, type WebhookConfig } from './webhook-config.ts';
import { startFakeGraphApi, type FakeGraphApi } from './test-servers.ts';
import { inboundMessagesBody } from './whatsapp-test-bodies.ts';
import { whatsappConversationId } from './whatsapp-inbound.ts';
import { mediaJobIdOf, WHATSAPP_MEDIA_QUEUE } from './whatsapp-media.ts';

/** One line the bridge logged, parsed. */
type LogLine = Record<string, unknown>;

const APP_SECRET = 'meta-app-secret-0123456789abcdef';
const ACCESS_TOKEN = 'EAAGerasure-access-token';
const PHONE_NUMBER_ID = '106540352242922';
const DROPPED = 'webhooks: WhatsApp message sent before its conversation was erased dropped';

/** A running bridge on one engine. */
export interface ErasureBridge {
  url: string;
  store: Store;
  agentToken: string;
  close(): Promise<void>;
}

/** One message of a webhook body: its id, the Unix second it was sent, and its type-specific part. */
type InboundMessage = { id: string; timestamp: number } & Record<string, unknown>;

/** A webhook body carrying `messages` from `waId`, in that order. */
const inboundBody = (waId: string, messages: InboundMessage[]): Buffer =>
  inboundMessagesBody(waId, PHONE_NUMBER_ID, messages.map((m) => ({ ...m, timestamp: String(m.timestamp) })));


const text = (id: string, timestamp: number, body: string): InboundMessage => ({ id, timestamp, type: 'text', text: { body } });

/** Registers the scenarios against a bridge that `start` makes on one engine. */
export function describeWhatsappErasure(engine: string, start: (webhooks: WebhookConfig, logger: Logger) => Promise<ErasureBridge>): void {
  describe(`WhatsApp messages sent before an erasure (${engine})`, () => {
    let graph: FakeGraphApi;
    let bridge: ErasureBridge;
    const logs: LogLine[] = [];
    /** A Unix second well before any erasure of these tests. */
    const before = Math.floor(Date.now() / 1000) - 600;

    beforeAll(async () => {
      graph = await startFakeGraphApi(ACCESS_TOKEN);
      const webhooks = webhookConfigFromEnv({
        WHATSAPP_APP_SECRET: APP_SECRET,
        WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
        WHATSAPP_API_BASE: graph.apiBase,
        WHATSAPP_RETRY_BASE_MS: '40',
        WHATSAPP_MAX_ATTEMPTS: '4',
        WEBHOOK_POLL_MS: '40',
      });
      const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
      bridge = await start(webhooks, logger);
    });

    afterAll(async () => {
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
    /** Erases the conversation as an admin does, and returns the erasure's time as the bridge recorded it (ms). */
    const erase = async (conversationId: string): Promise<number> => {
      const res = await fetch(`${bridge.url}/api/conversations/${conversationId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${bridge.agentToken}` } });
      expect(res.status).toBe(204);
      const record = await bridge.store.getRecord<{ at: string }>(ERASED_NAMESPACE, conversationId);
      return Date.parse(record!.at);
    };
    const droppedLines = (wamid: string) => logs.filter((line) => line.msg === DROPPED && line.wamid === wamid);

    it('a redelivered (or late) webhook of a message sent before the erasure is answered 200 and stores nothing: the conversation stays erased', async () => {
      const waId = '15550002001';
      const conversationId = whatsappConversationId(waId);
      const first = inboundBody(waId, [text('wamid.PRE1', before, 'My address is 12 Elm Street')]);
      expect((await post(first)).status).toBe(200);
      await stored('wamid.PRE1');
      await erase(conversationId);

      // Meta's redelivery of the very same bytes, and a message of before the erasure that only arrives now.
      expect((await post(first)).status).toBe(200);
      expect((await post(inboundBody(waId, [text('wamid.LATE1', before + 1, 'and my card ends in 4242')]))).status).toBe(200);
      expect(await bridge.store.findMessageByExternalId('wamid.PRE1')).toBeUndefined();
      expect(await bridge.store.findMessageByExternalId('wamid.LATE1')).toBeUndefined();
      expect(await bridge.store.getConversation(conversationId)).toBeUndefined();
      expect(await bridge.store.findConversationByExternalUser('whatsapp', waId)).toBeUndefined();
      // Logged with ids only: neither the text nor the customer's number.
      for (const wamid of ['wamid.PRE1', 'wamid.LATE1']) {
        const lines = droppedLines(wamid);
        expect(lines).toEqual([expect.objectContaining({ conversationId })]);
        expect(JSON.stringify(lines)).not.toMatch(/Elm Street|4242|15550002001/);
      }
    });

    it('a message sent after the erasure starts a new conversation holding only it; earlier ones, the erasure’s own second included, stay out of it', async () => {
      const waId = '15550002002';
      const conversationId = whatsappConversationId(waId);
      const first = inboundBody(waId, [text('wamid.PRE2', before, 'Old question')]);
      expect((await post(first)).status).toBe(200);
      await stored('wamid.PRE2');
      const erasedAt = await erase(conversationId);
      const erasureSecond = Math.floor(erasedAt / 1000);

      expect((await post(inboundBody(waId, [text('wamid.NEW2', erasureSecond + 1, 'Hello again')]))).status).toBe(200);
      const fresh = await stored('wamid.NEW2');
      expect(fresh.conversationId).toBe(conversationId);
      expect(await bridge.store.getConversation(conversationId)).toMatchObject({ channel: 'whatsapp', externalUserId: waId });

      // With the new conversation there: the old message redelivered, then one batch mixing both sides of the erasure.
      expect((await post(first)).status).toBe(200);
      const batch = inboundBody(waId, [
        text('wamid.LATE2', before + 5, 'Old follow-up'),
        text('wamid.SAME2', erasureSecond, 'Sent in the second of the erasure'),
        text('wamid.NEXT2', erasureSecond + 2, 'Are you there?'),
      ]);
      expect((await post(batch)).status).toBe(200);
      const messages = await bridge.store.getMessages(conversationId, { limit: 10 });
      expect(messages.map((m) => m.text)).toEqual(['Hello again', 'Are you there?']);
      for (const wamid of ['wamid.PRE2', 'wamid.LATE2', 'wamid.SAME2']) expect(await bridge.store.findMessageByExternalId(wamid)).toBeUndefined();
      expect(droppedLines('wamid.SAME2')).toHaveLength(1);
    });

    it('a media message sent before the erasure queues no download and stores no file, message or conversation', async () => {
      const waId = '15550002003';
      const conversationId = whatsappConversationId(waId);
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#aa3366' } }).png().toBuffer();
      graph.media.set('MEDIA-PRE-3', { bytes: png, mimeType: 'image/png' });
      const image = inboundBody(waId, [{ id: 'wamid.IMG3', timestamp: before, type: 'image', image: { id: 'MEDIA-PRE-3', caption: 'Photo of my passport' } }]);
      expect((await post(image)).status).toBe(200);
      expect((await stored('wamid.IMG3')).attachments).toHaveLength(1);
      await erase(conversationId);
      const attachmentsBefore = bridge.store.health().attachments;
      const lookupsBefore = graph.lookups().length;

      expect((await post(image)).status).toBe(200);
      // The job would be durable before the 200: none was queued (in any state), so none can run.
      expect((await bridge.store.listQueueItems(WHATSAPP_MEDIA_QUEUE, 1000)).map((i) => i.id)).not.toContain(mediaJobIdOf(conversationId, 'wamid.IMG3'));
      expect(await bridge.store.getConversation(conversationId)).toBeUndefined();
      expect(await bridge.store.findMessageByExternalId('wamid.IMG3')).toBeUndefined();
      expect(bridge.store.health().attachments).toBe(attachmentsBefore);
      expect(graph.lookups()).toHaveLength(lookupsBefore);
      expect(droppedLines('wamid.IMG3')).toEqual([expect.objectContaining({ conversationId })]);
    });
  });
}
