/**
 * The widget's catch-up after a reconnect, against a real bridge over a real WebSocket (`ws` stands in for the
 * browser's): the first page comes with `session`, so an up-to-date or short gap costs no `sync` request, and a
 * long gap pages on with `sync` until `hasMore` is false — every message once, in order, statuses included.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import { startTestBridge, type TestBridge } from '../../bridge/testing/index.ts';
import { headlessWidget } from '../../bridge/testing/headless-widget.ts';

let bridge: TestBridge;
/** `sync` requests the bridge received, per site (the handshake names it). */
const syncs = new Map<string, number>();

beforeAll(async () => {
  vi.stubGlobal('WebSocket', WebSocket);
  bridge = await startTestBridge();
  bridge.bridge.io.of('/visitor').on('connection', (socket) => {
    const site = String((socket.handshake.auth as { site?: unknown }).site);
    socket.onAny((event: string) => {
      if (event === 'sync') syncs.set(site, (syncs.get(site) ?? 0) + 1);
    });
  });
});

afterAll(async () => {
  await bridge?.close();
  vi.unstubAllGlobals();
});

let siteCounter = 0;

/** A widget's connection + conversation controllers, connected, resolving once the first catch-up finished. */
async function widget() {
  const site = `catch-up-${++siteCounter}`;
  const { connection, conversation, caughtUps } = headlessWidget(bridge.url, site);
  connection.start();
  await vi.waitFor(() => expect(caughtUps()).toBe(1), { timeout: 30_000 });
  return { site, connection, conversation, caughtUps };
}

/** Drops every visitor socket on the bridge side; the widget reconnects by itself with its cursor. */
function dropConnections(): void {
  bridge.bridge.io.of('/visitor').disconnectSockets(true);
}

/** Stores a message without any live push, so only the catch-up can bring it to the widget. */
async function storeMessage(conversationId: string, clientId: string, role: 'agent' | 'visitor' = 'agent'): Promise<Message> {
  const author = role === 'agent' ? { role, name: 'Ada' } : { role };
  const { message } = await bridge.store.appendMessage({ conversationId, clientId, author, text: clientId });
  return message;
}

describe('catch-up after a reconnect', () => {
  it('takes a short gap from the session catch-up and sends no sync request', async () => {
    const w = await widget();
    const conversationId = w.connection.session!.conversationId;
    await bridge.store.createConversation({ id: conversationId, channel: 'web', name: 'V', site: w.site });
    const before = syncs.get(w.site) ?? 0;
    const missed = [await storeMessage(conversationId, 'missed-1'), await storeMessage(conversationId, 'missed-2')];
    const [first] = missed;
    await bridge.store.applyStatus(conversationId, first!.id, { status: 'read' });

    dropConnections();
    await vi.waitFor(() => expect(w.caughtUps()).toBe(2), { timeout: 30_000 });
    // missed-2 then turns delivered by the widget's own receipt, pushed live: either is fine here.
    expect(w.conversation.messages.map((m) => [m.clientId, m.status === 'read' ? 'read' : 'unread'])).toEqual([
      ['missed-1', 'read'],
      ['missed-2', 'unread'],
    ]);
    expect(syncs.get(w.site) ?? 0).toBe(before);

    // Nothing missed: still no sync.
    dropConnections();
    await vi.waitFor(() => expect(w.caughtUps()).toBe(3), { timeout: 30_000 });
    expect(syncs.get(w.site) ?? 0).toBe(before);
    w.connection.stop();
  });

  it('pages a long gap with sync after the session page, every message once and in order', async () => {
    const w = await widget();
    const conversationId = w.connection.session!.conversationId;
    await bridge.store.createConversation({ id: conversationId, channel: 'web', name: 'V', site: w.site });
    const before = syncs.get(w.site) ?? 0;
    // Written by the visitor in another tab: no receipts from this one, so the pages are exactly the gap's.
    for (let i = 1; i <= 250; i++) await storeMessage(conversationId, `gap-${i}`, 'visitor');

    dropConnections();
    await vi.waitFor(() => expect(w.caughtUps()).toBe(2), { timeout: 30_000 });
    expect(w.conversation.messages.map((m) => m.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    // 100 with the session, then two sync pages (100, 50).
    expect((syncs.get(w.site) ?? 0) - before).toBe(2);
    w.connection.stop();
  });
});
