/**
 * Notification mails end to end on the embedded store: a real bridge with an injected clock sends over SMTP to a
 * loopback server that parses every mail. Unanswered visitor → the admins; unread agent replies → the visitor, with
 * one-click unsubscribe (replies read in time are not mailed); a temporary SMTP failure is retried; a restart sends
 * nothing twice; no header injection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBridge, type TestBridge } from '../testing/test-bridge.ts';
import { startTestSmtpServer, type ReceivedMail, type TestSmtpServer } from '../testing/test-smtp-server.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { MAIL_QUEUE } from './notification-mail.ts';

const MINUTE = 60_000;
let now = Date.parse('2026-03-02T09:00:00.000Z');
const clock = () => new Date(now);
let smtp: TestSmtpServer;
let tb: TestBridge;
let dataDir: string;

async function start(): Promise<TestBridge> {
  return startTestBridge({
    dataDir,
    clock,
    config: {
      mail: { smtpUrl: smtp.url, from: 'support@example.com', unansweredAfterMs: 5 * MINUTE, visitorAfterMs: 10 * MINUTE },
    },
  });
}

async function api(path: string, init: { method?: string; json?: unknown } = {}) {
  const res = await fetch(`${tb.url}${path}`, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${tb.agent.token}`, ...(init.json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Scans as the timer would, then waits until the worker has sent what the scan queued. */
async function scanAndSend(): Promise<void> {
  await tb.bridge.notifications!.scan();
  await tb.bridge.notifications!.worker.idle();
}

function mailsTo(address: string): ReceivedMail[] {
  return smtp.received.filter((received) => received.rcptTo.includes(address));
}

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  dataDir = await mkdtemp(join(tmpdir(), 'team-notify-'));
  tb = await start();
}, 60_000);

afterAll(async () => {
  await tb?.close();
  await smtp?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('notification mails', () => {
  it('mails each due notification once, retried after a temporary failure, not again after a restart', async () => {
    expect((await api(`/api/agents/${tb.agent.id}`, { method: 'PATCH', json: { email: 'tess@example.com' } })).status).toBe(200);
    const { store } = tb;
    // A visitor name that tries to add a header of its own, and message text that tries to be HTML.
    await store.createConversation({ id: 'c1', channel: 'web', name: 'Ann\r\nBcc: evil@example.com' });
    await store.appendMessage({ conversationId: 'c1', clientId: 'v1', author: { role: 'visitor' }, text: 'Is <b>this</b> on?' });
    await store.setConversationVisitorEmail('c1', 'ann@example.com', 'https://shop.example/pricing');

    now += 4 * MINUTE;
    await scanAndSend();
    expect(smtp.received).toHaveLength(0);

    now += 2 * MINUTE;
    await scanAndSend();
    // A second scan (as any node's timer runs one) finds the notification queued already.
    await scanAndSend();
    const [unanswered] = await waitUntil('the unanswered mail', () => mailsTo('tess@example.com').length === 1 && mailsTo('tess@example.com'));
    expect(unanswered!.rcptTo).toEqual(['tess@example.com']);
    expect(unanswered!.mail.subject).toBe('Unanswered: Ann Bcc: evil@example.com');
    expect(unanswered!.mail.bcc).toBeUndefined();
    expect(unanswered!.mail.html).toBe(false);
    expect(unanswered!.mail.text).toContain('> Is <b>this</b> on?');
    // The link opens this conversation in the console (console/controllers/location-controller.ts reads the hash).
    expect(unanswered!.mail.text).toContain(`Answer in the console: ${tb.url}/console/#c1`);
    expect(unanswered!.mail.messageId).toMatch(/^<[0-9a-f]{32}@example\.com>$/);

    // The agent answers; the visitor does not read it. The first attempt to the visitor's server is deferred.
    expect((await api('/api/conversations/c1/messages', { json: { text: 'Yes, how can I help?' } })).status).toBe(201);
    smtp.refuseNext('ann@example.com');
    now += 11 * MINUTE;
    await scanAndSend();
    const log = await api(`/api/webhooks/deliveries?queue=${MAIL_QUEUE}`);
    const visitorItem = (log.json.deliveries as { kind: string; state: string; attempts: number; lastError?: string }[]).find(
      (delivery) => delivery.kind === 'visitor-replies',
    );
    expect(visitorItem).toMatchObject({ state: 'pending', attempts: 1, lastError: 'SMTP 451' });
    expect(mailsTo('ann@example.com')).toHaveLength(0);
    now += 61 * MINUTE;
    tb.bridge.notifications!.worker.kick();
    const [reply] = await waitUntil('the retried visitor mail', () => mailsTo('ann@example.com').length === 1 && mailsTo('ann@example.com'));
    expect(reply!.mail.text).toContain('Tess Agent:\n> Yes, how can I help?');
    expect(reply!.mail.text).toContain('Continue the chat: https://shop.example/pricing');
    const line = (key: string) => reply!.mail.headerLines.find((header) => header.key === key)?.line.replace(/\r\n[ \t]+/g, '');
    const unsubscribe = /^List-Unsubscribe:\s*<(.+)>$/i.exec(line('list-unsubscribe') ?? '')![1]!;
    expect(unsubscribe).toMatch(new RegExp(`^${tb.url}/api/mail/unsubscribe\\?`));
    expect(line('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');

    // A restart finds both notifications sent: nothing goes out again.
    await tb.close();
    tb = await start();
    await scanAndSend();
    expect(smtp.received).toHaveLength(2);
    expect(new Set(smtp.received.map((received) => received.mail.messageId)).size).toBe(2);

    // One click (RFC 8058's POST) unsubscribes: the address is gone and a later reply is not mailed. (The restarted
    // bridge listens on another port.)
    const link = unsubscribe.replace(/^http:\/\/[^/]+/, tb.url);
    const tampered = await fetch(link.replace(/s=[^&]+/, 's=forged'), { method: 'POST' });
    expect(tampered.status).toBe(404);
    const clicked = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(clicked.status).toBe(200);
    expect(await tb.store.getConversation('c1')).not.toHaveProperty('visitorEmail');
    expect((await api('/api/conversations/c1/messages', { json: { text: 'Anything else?' } })).status).toBe(201);
    now += 11 * MINUTE;
    await scanAndSend();
    expect(smtp.received).toHaveLength(2);

    // Replies the visitor reads in time are not mailed (the address left again, everything read before it is due).
    await tb.store.setConversationVisitorEmail('c1', 'ann@example.com', 'https://shop.example/pricing');
    expect((await api('/api/conversations/c1/messages', { json: { text: 'Read in time' } })).status).toBe(201);
    now += 9 * MINUTE;
    await scanAndSend();
    const { conversation } = await tb.store.applyReceipt('c1', 'agent', Number.MAX_SAFE_INTEGER, 'read');
    expect(conversation.visitorReadSeq).toBe(conversation.lastSeq);
    now += 2 * MINUTE;
    await scanAndSend();
    expect(smtp.received).toHaveLength(2);
  });
});
