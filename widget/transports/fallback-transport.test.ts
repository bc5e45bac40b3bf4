import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePage, SyncResult, VisitorSession } from '../../protocol/events.ts';
import type { Message, StatusChange } from '../../protocol/message.ts';
import { FallbackTransport, FallbackTransport as FT } from './fallback-transport.ts';
import { waitUntil } from '../../bridge/testing/wait-until.ts';
import {
  TransportError,
  type ConnectionState,
  type OutgoingMessage,
  type Transport,
  type TransportEvents,
  type TransportKind,
} from './transport.ts';

/**
 * A test double of one network (XMTP or the bridge): it stores messages deduplicated by clientId, numbers them
 * like the bridge does (seq, rev), echoes new messages to its listeners, and can be made to fail or hang.
 */
class FakeNetworkTransport implements Transport {
  state: ConnectionState = 'connecting';
  readonly stored: Message[] = [];
  /** Every send call that reached this network (including retries), to count copies. */
  readonly sendCalls: string[] = [];
  connectFails = false;
  connectHangs = false;
  disconnects = 0;
  sendFails: 'no' | 'offline' | 'permanent' | 'hang' = 'no';
  readonly receipts: Array<{ upToSeq: number; status: string }> = [];
  readonly hanging: Array<() => void> = [];
  #rev = 0;
  #listeners = new Map<string, Set<(...args: never[]) => void>>();

  constructor(
    readonly kind: TransportKind,
    readonly conversationId: string,
  ) {}

  async connect(): Promise<void> {
    await Promise.resolve();
    if (this.connectHangs) return new Promise(() => undefined);
    if (this.connectFails) {
      this.#setState('offline');
      throw new TransportError('offline', 'unreachable', false);
    }
    this.#setState('online');
  }

  disconnect(): void {
    this.disconnects += 1;
    this.#setState('offline');
  }

  async send(message: OutgoingMessage): Promise<Message> {
    this.sendCalls.push(message.clientId);
    await Promise.resolve();
    if (this.sendFails === 'offline') throw new TransportError('offline', 'network down', false);
    if (this.sendFails === 'permanent') throw new TransportError('text_too_long', 'too long', true);
    if (this.sendFails === 'hang') {
      // The far side gets it only when the test releases it, long after the sender gave up.
      return new Promise((resolve) => this.hanging.push(() => resolve(this.#store(message.clientId, message.text, 'visitor'))));
    }
    return this.#store(message.clientId, message.text, 'visitor');
  }

  agentSays(clientId: string, text: string): Message {
    return this.#store(clientId, text, 'agent');
  }

  markRead(message: Message): void {
    const stored = this.stored.find((m) => m.id === message.id)!;
    stored.status = 'read';
    stored.rev = ++this.#rev;
    const change: StatusChange = {
      conversationId: this.conversationId,
      messageId: stored.id,
      clientId: stored.clientId,
      seq: stored.seq,
      rev: stored.rev,
      status: 'read',
      at: new Date().toISOString(),
    };
    this.#emit('status', change);
  }

  async sync(afterRev: number): Promise<SyncResult> {
    if (this.state !== 'online') throw new TransportError('offline', 'offline', false);
    return { messages: this.stored.filter((m) => m.rev > afterRev), rev: this.#rev, hasMore: false };
  }

  async history(beforeSeq?: number, limit = 50): Promise<MessagePage> {
    const older = this.stored.filter((m) => beforeSeq === undefined || m.seq < beforeSeq);
    return { messages: older.slice(-limit), hasMore: older.length > limit };
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    this.receipts.push({ upToSeq, status });
  }

  typing(): void {}

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    set.add(listener);
    this.#listeners.set(event, set);
    return () => set.delete(listener);
  }

  goOffline(): void {
    this.#setState('offline');
  }

  announceSession(): void {
    const session: VisitorSession = {
      token: 't',
      visitorId: 'v-1',
      conversationId: this.conversationId,
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    this.#emit('session', session);
  }

  #store(clientId: string, text: string, role: 'visitor' | 'agent'): Message {
    const existing = this.stored.find((m) => m.clientId === clientId && m.author.role === role);
    if (existing) return existing;
    const now = new Date().toISOString();
    const message: Message = {
      id: `${this.kind}-${this.stored.length + 1}`,
      conversationId: this.conversationId,
      seq: this.stored.length + 1,
      rev: ++this.#rev,
      clientId,
      author: { role },
      text,
      createdAt: now,
      status: 'sent',
      statusAt: { sent: now },
    };
    this.stored.push(message);
    this.#emit('message', message);
    return message;
  }

  #setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.#emit('state', state);
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }
}

const fast = { initTimeoutMs: 200, sendTimeoutMs: 100, recoverDelayMs: 50, maxRecoverDelayMs: 200 };
const open: FallbackTransport[] = [];

function setup(options: { xmtpConnectFails?: boolean } = {}) {
  const xmtp = new FakeNetworkTransport('xmtp', 'dm-1');
  xmtp.connectFails = options.xmtpConnectFails ?? false;
  const bridge = new FakeNetworkTransport('realtime', 'conv-1');
  const transport = new FallbackTransport({ primary: async () => xmtp, fallback: bridge, timings: fast });
  open.push(transport);
  const kinds: TransportKind[] = [];
  const seen: Message[] = [];
  transport.on('kind', (kind) => kinds.push(kind));
  transport.on('message', (message) => seen.push(message));
  return { xmtp, bridge, transport, kinds, seen };
}

/** The conversation as the element would render it: one row per clientId, in seq order. */
async function timeline(transport: Transport): Promise<string[]> {
  const { messages } = await transport.sync(0);
  return messages.map((m) => `${m.author.role}:${m.text}`);
}

afterEach(() => {
  for (const transport of open.splice(0)) transport.disconnect();
});

describe('FallbackTransport', () => {
  it('carries everything over XMTP while it works, with no bridge copy', async () => {
    const { xmtp, bridge, transport, kinds } = setup();
    await transport.connect();
    expect(transport.kind).toBe('xmtp');
    expect(transport.state).toBe('online');
    const sent = [];
    for (const n of [1, 2, 3]) sent.push(await transport.send({ clientId: `c${n}`, text: `hello ${n}` }));
    expect(xmtp.stored.map((m) => m.clientId)).toEqual(['c1', 'c2', 'c3']);
    expect(bridge.sendCalls).toEqual([]);
    expect(sent.map((m) => m.clientId)).toEqual(['c1', 'c2', 'c3']);
    expect(sent[0]!.seq).toBeLessThan(sent[1]!.seq);
    expect(sent[1]!.seq).toBeLessThan(sent[2]!.seq);
    expect(kinds).toEqual([]);
    expect(await timeline(transport)).toEqual(['visitor:hello 1', 'visitor:hello 2', 'visitor:hello 3']);
  });

  it('falls back to the bridge when XMTP cannot initialise, and reports "realtime"', async () => {
    const { xmtp, bridge, transport, kinds } = setup({ xmtpConnectFails: true });
    await transport.connect();
    await waitUntil('the transport back on the bridge', () => transport.kind === 'realtime');
    const message = await transport.send({ clientId: 'c1', text: 'hi' });
    expect(message.clientId).toBe('c1');
    expect(bridge.sendCalls).toEqual(['c1']);
    expect(xmtp.stored).toEqual([]);
    expect(kinds).toEqual(['realtime']);
  });

  it('holds a send back only until the bounded XMTP init gives up', async () => {
    const bridge = new FakeNetworkTransport('realtime', 'conv-1');
    const transport = new FallbackTransport({
      primary: () => new Promise<Transport>(() => {}),
      fallback: bridge,
      timings: fast,
    });
    open.push(transport);
    await transport.connect();
    // The bridge is up, so the element may start sending; the send itself waits for the bounded XMTP init.
    expect(transport.state).toBe('online');
    expect(transport.kind).toBe('xmtp');
    // XMTP's init never settles: the send can only complete because the bound gave up on it.
    await transport.send({ clientId: 'c1', text: 'hi' });
    expect(transport.kind).toBe('realtime');
    expect(bridge.sendCalls).toEqual(['c1']);
  });

  it('stops a hung XMTP init at the bound and starts afresh on recovery', async () => {
    const { xmtp, bridge, transport } = setup();
    xmtp.connectHangs = true;
    await transport.connect();
    // The init hangs: the send completes only because the bound stopped it.
    await transport.send({ clientId: 'c1', text: 'hi' });
    expect(bridge.sendCalls).toEqual(['c1']);
    // The hung attempt was told to stop (its worker and database handles go with it).
    expect(xmtp.disconnects).toBe(1);
    xmtp.connectHangs = false;
    await waitUntil('the transport on XMTP', () => transport.kind === 'xmtp');
    await transport.send({ clientId: 'c2', text: 'back on xmtp' });
    expect(xmtp.stored.map((m) => m.clientId)).toEqual(['c2']);
  });

  it('switches to the bridge mid-conversation with no duplicate and no loss', async () => {
    const { xmtp, bridge, transport, kinds } = setup();
    await transport.connect();
    await transport.send({ clientId: 'c1', text: 'one' });
    await transport.send({ clientId: 'c2', text: 'two' });
    xmtp.sendFails = 'offline';
    const third = await transport.send({ clientId: 'c3', text: 'three' });
    await transport.send({ clientId: 'c4', text: 'four' });
    expect(third.clientId).toBe('c3');
    expect(kinds).toEqual(['realtime']);
    expect(xmtp.stored.map((m) => m.clientId)).toEqual(['c1', 'c2']);
    expect(bridge.stored.map((m) => m.clientId)).toEqual(['c3', 'c4']);
    // The failed XMTP attempt was made once; the bridge got c3 exactly once, with the same clientId.
    expect(bridge.sendCalls).toEqual(['c3', 'c4']);
    expect(await timeline(transport)).toEqual(['visitor:one', 'visitor:two', 'visitor:three', 'visitor:four']);
  });

  it('gives up on a hanging XMTP send after the send bound and shows a late XMTP echo only once', async () => {
    const { xmtp, bridge, transport, seen } = setup();
    await transport.connect();
    xmtp.sendFails = 'hang';
    // The XMTP send hangs until released below: the send completes only because the send bound gave up on it.
    const message = await transport.send({ clientId: 'c1', text: 'slow' });
    expect(message.clientId).toBe('c1');
    expect(bridge.sendCalls).toEqual(['c1']);
    // XMTP publishes it after all: the echo merges into the same timeline entry.
    xmtp.hanging[0]!();
    await waitUntil('one message stored over XMTP', () => xmtp.stored.length === 1);
    expect(seen.filter((m) => m.clientId === 'c1' && m.author.role === 'visitor').length).toBeLessThanOrEqual(1);
    expect(await timeline(transport)).toEqual(['visitor:slow']);
  });

  it('does not copy a permanently rejected message to the bridge', async () => {
    const { xmtp, bridge, transport } = setup();
    await transport.connect();
    xmtp.sendFails = 'permanent';
    await expect(transport.send({ clientId: 'c1', text: 'x'.repeat(10) })).rejects.toMatchObject({ permanent: true });
    expect(bridge.sendCalls).toEqual([]);
    expect(transport.kind).toBe('xmtp');
  });

  it('falls back when XMTP reports offline, and switches back to XMTP when it recovers', async () => {
    const { xmtp, bridge, transport, kinds, seen } = setup();
    await transport.connect();
    await transport.send({ clientId: 'c1', text: 'over xmtp' });
    xmtp.connectFails = true;
    xmtp.goOffline();
    expect(transport.kind).toBe('realtime');
    await transport.send({ clientId: 'c2', text: 'over bridge' });
    bridge.agentSays('a1', 'reply on the bridge');
    await waitUntil("the agent's message a1", () => seen.some((m) => m.clientId === 'a1'));

    xmtp.connectFails = false;
    await waitUntil('the transport on XMTP', () => transport.kind === 'xmtp');
    expect(kinds).toEqual(['realtime', 'xmtp']);
    xmtp.agentSays('a2', 'reply over xmtp');
    await waitUntil("the agent's message a2", () => seen.some((m) => m.clientId === 'a2'));
    await transport.send({ clientId: 'c3', text: 'xmtp again' });
    expect(xmtp.stored.filter((m) => m.author.role === 'visitor').map((m) => m.clientId)).toEqual(['c1', 'c3']);
    expect(bridge.stored.filter((m) => m.author.role === 'visitor').map((m) => m.clientId)).toEqual(['c2']);
    expect(await timeline(transport)).toEqual([
      'visitor:over xmtp',
      'visitor:over bridge',
      'agent:reply on the bridge',
      'agent:reply over xmtp',
      'visitor:xmtp again',
    ]);
  });

  it('announces the session again when XMTP comes back, so the element flushes what it held', async () => {
    const { xmtp, bridge, transport } = setup({ xmtpConnectFails: true });
    const sessions: VisitorSession[] = [];
    transport.on('session', (session) => sessions.push(session));
    await transport.connect();
    bridge.announceSession();
    await waitUntil('the transport back on the bridge', () => transport.kind === 'realtime');
    expect(sessions.length).toBe(1);
    xmtp.connectFails = false;
    await waitUntil('the transport on XMTP', () => transport.kind === 'xmtp');
    expect(sessions.map((s) => s.conversationId)).toEqual(['conv-1', 'conv-1']);
  });

  it('keeps retrying XMTP with backoff while it stays down', async () => {
    const { xmtp, transport } = setup({ xmtpConnectFails: true });
    let attempts = 0;
    const connect = xmtp.connect.bind(xmtp);
    xmtp.connect = () => {
      attempts += 1;
      return connect();
    };
    await transport.connect();
    // Backoff (at most 50, 100, 200, 200… ms, at least half of each) adds one attempt at a time, so the first poll
    // that sees three still sees only a few; a busy loop would be far past that by then, however loaded the machine.
    const seen = await waitUntil('three XMTP connection attempts', () => attempts >= 3 && attempts, { intervalMs: 5 });
    expect(seen).toBeLessThan(10);
    expect(transport.kind).toBe('realtime');
  });

  it('maps receipts and status changes between its seqs and each network', async () => {
    const { xmtp, bridge, transport } = setup();
    const statuses: StatusChange[] = [];
    transport.on('status', (change) => statuses.push(change));
    await transport.connect();
    const mine = await transport.send({ clientId: 'c1', text: 'over xmtp' });
    xmtp.agentSays('a1', 'xmtp reply');
    xmtp.goOffline();
    bridge.agentSays('a2', 'bridge reply');
    const { messages } = await transport.sync(0);
    const last = messages.at(-1)!;
    expect(last.clientId).toBe('a2');
    transport.receipt(last.seq, 'read');
    expect(bridge.receipts).toEqual([{ upToSeq: 1, status: 'read' }]);
    expect(xmtp.receipts).toEqual([{ upToSeq: 2, status: 'read' }]);
    transport.receipt(last.seq, 'read');
    expect(bridge.receipts.length).toBe(1);

    xmtp.markRead(xmtp.stored[0]!);
    expect(statuses).toEqual([expect.objectContaining({ clientId: 'c1', seq: mine.seq, status: 'read' })]);
    expect(statuses[0]!.rev).toBeGreaterThan(last.rev);
  });

  it('numbers a stale cursor from an earlier page load below its own, so sync returns everything', async () => {
    const { transport } = setup();
    await transport.connect();
    await transport.send({ clientId: 'c1', text: 'a' });
    const { messages } = await transport.sync(1234);
    expect(messages.map((m) => m.clientId)).toEqual(['c1']);
    expect(messages[0]!.seq).toBeGreaterThan(FT.SEQ_BASE);
  });
});
