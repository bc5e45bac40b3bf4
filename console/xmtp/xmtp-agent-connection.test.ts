/**
 * The console's merged connection against a real bridge (real Socket.IO, LowdbStore in a temp dir) and a test
 * double of the XMTP inbox: XMTP conversations join the bridge's in one list, their requests go to XMTP only, inbox
 * events reach listeners registered before the inbox opened, and without XMTP the console still works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import { connectVisitor, emitWithAck, startTestBridge, waitUntil, type TestBridge } from '../../bridge/testing/index.ts';
import type { XmtpInboxEvents, XmtpInboxSource } from './xmtp-agent-inbox.ts';
import { XmtpAgentConnection } from './xmtp-agent-connection.ts';

/** An in-memory XMTP inbox with one visitor DM. */
class FakeXmtpInbox implements XmtpInboxSource {
  readonly address = `0x${'ab'.repeat(20)}`;
  readonly sent: Array<{ conversationId: string; clientId: string; text: string; agentName?: string }> = [];
  readonly receipts: Array<{ conversationId: string; upToSeq: number; status: string }> = [];
  closed = false;
  #listeners = new Map<string, Set<(...args: never[]) => void>>();
  messages: Message[] = [
    {
      id: 'x1',
      conversationId: 'xmtp-dm1',
      seq: 1,
      rev: 1,
      clientId: 'visitor-c1',
      author: { role: 'visitor' },
      text: 'hello over xmtp',
      createdAt: '2099-01-01T00:00:00.000Z',
      status: 'sent',
      statusAt: { sent: '2099-01-01T00:00:00.000Z' },
    },
  ];

  summary(): ConversationSummary {
    return {
      id: 'xmtp-dm1',
      channel: 'xmtp',
      name: 'XMTP abcdef',
      externalUserId: 'abcdef',
      state: 'open',
      createdAt: '2099-01-01T00:00:00.000Z',
      lastActivityAt: '2099-01-01T00:00:00.000Z',
      lastSeq: 1,
      rev: 1,
      agentReadSeq: 0,
      visitorReadSeq: 0,
      unread: 1,
      visitorOnline: false,
    };
  }

  async list(): Promise<ConversationSummary[]> {
    return [this.summary()];
  }
  async history(): Promise<MessagePage> {
    return { messages: this.messages, hasMore: false };
  }
  async sync(_id: string, afterRev: number): Promise<SyncResult> {
    return { messages: this.messages.filter((m) => m.rev > afterRev), rev: 1, hasMore: false };
  }
  async send(conversationId: string, clientId: string, text: string, agentName?: string): Promise<Message> {
    this.sent.push({ conversationId, clientId, text, ...(agentName ? { agentName } : {}) });
    return { ...this.messages[0]!, id: 'x2', seq: 2, rev: 2, clientId, text, author: { role: 'agent', ...(agentName ? { name: agentName } : {}) } };
  }
  receipt(conversationId: string, upToSeq: number, status: 'delivered' | 'read'): void {
    this.receipts.push({ conversationId, upToSeq, status });
  }
  on<K extends keyof XmtpInboxEvents>(event: K, listener: XmtpInboxEvents[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }
  emit(event: keyof XmtpInboxEvents, value: unknown): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (v: unknown) => void)(value);
  }
  close(): void {
    this.closed = true;
  }
}

const callbacks = { onConnect: () => undefined, onState: () => undefined, onAuthError: () => undefined };

async function online(connection: XmtpAgentConnection): Promise<void> {
  await waitUntil('the XMTP agent connection to be online', () => connection.state === 'online' || undefined);
}

describe('XmtpAgentConnection', () => {
  let bridge: TestBridge;
  let bridgeConversationId: string;

  beforeAll(async () => {
    bridge = await startTestBridge();
    const visitor = await connectVisitor(bridge.url);
    await emitWithAck(visitor, 'message:send', { clientId: 'web-c1', text: 'hello over the bridge' });
    bridgeConversationId = visitor.session.conversationId;
    visitor.disconnect();
  });

  afterAll(async () => {
    await bridge?.close();
  });

  it('lists bridge and XMTP conversations together and routes XMTP requests to XMTP only', async () => {
    const inbox = new FakeXmtpInbox();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const connection = new XmtpAgentConnection(
      bridge.url,
      bridge.agent.token,
      callbacks,
      async () => {
        await gate;
        return inbox;
      },
      bridge.agent.displayName,
    );
    const seen: Message[] = [];
    // Registered before the inbox opened, as the console's controllers do on attach.
    connection.on('message:new', (message) => seen.push(message));
    await online(connection);
    expect((await connection.listConversations({ filter: 'open' })).map((c) => c.channel)).toEqual(['web']);

    release();
    await connection.ready;
    expect(connection.xmtpAddress).toBe(inbox.address);
    const list = await connection.listConversations({ filter: 'open' });
    expect(list.map((c) => [c.id, c.channel])).toEqual([
      ['xmtp-dm1', 'xmtp'],
      [bridgeConversationId, 'web'],
    ]);
    expect((await connection.listConversations({ filter: 'all', query: 'over xmtp' })).map((c) => c.id)).toEqual([]);
    expect((await connection.listConversations({ filter: 'all', query: 'XMTP ab' })).map((c) => c.id)).toContain('xmtp-dm1');

    expect((await connection.history('xmtp-dm1', undefined, 30)).messages.map((m) => m.text)).toEqual(['hello over xmtp']);
    expect((await connection.sync('xmtp-dm1', 0)).messages.length).toBe(1);
    const reply = await connection.send('xmtp-dm1', 'console-r1', 'answer over xmtp');
    expect(inbox.sent).toEqual([{ conversationId: 'xmtp-dm1', clientId: 'console-r1', text: 'answer over xmtp', agentName: bridge.agent.displayName }]);
    expect(reply.author).toEqual({ role: 'agent', name: bridge.agent.displayName });
    connection.receipt('xmtp-dm1', 1, 'read');
    expect(inbox.receipts).toEqual([{ conversationId: 'xmtp-dm1', upToSeq: 1, status: 'read' }]);
    // Nothing of the XMTP conversation reached the bridge.
    expect(await bridge.store.getConversation('xmtp-dm1')).toBeUndefined();

    // Bridge conversations still go to the bridge.
    expect((await connection.history(bridgeConversationId, undefined, 30)).messages.map((m) => m.text)).toEqual(['hello over the bridge']);

    inbox.emit('message:new', { ...inbox.messages[0]!, id: 'x3', seq: 3, rev: 3, clientId: 'visitor-c2', text: 'live over xmtp' });
    expect(seen.map((m) => m.text)).toEqual(['live over xmtp']);
    connection.close();
    expect(inbox.closed).toBe(true);
  });

  it('runs on the bridge alone when the XMTP inbox cannot open', async () => {
    const connection = new XmtpAgentConnection(bridge.url, bridge.agent.token, callbacks, async () => {
      throw new Error('no XMTP network');
    });
    await online(connection);
    expect(await connection.ready).toBeUndefined();
    expect((await connection.listConversations({ filter: 'open' })).map((c) => c.id)).toEqual([bridgeConversationId]);
    await expect(connection.send('xmtp-dm1', 'c', 'x')).rejects.toMatchObject({ code: 'offline' });
    connection.close();
  });
});
