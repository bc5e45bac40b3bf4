import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/message.ts';
import { DeferredTransport } from './deferred-transport.ts';
import { TransportListeners } from './transport-listeners.ts';
import type { ConnectionState, OutgoingMessage, Transport, TransportEvents, TransportKind } from './transport.ts';

/** A test double of the bridge transport: answers sends at once. */
class BridgeDouble implements Transport {
  readonly events = new TransportListeners();
  readonly kind: TransportKind = 'realtime';
  state: ConnectionState = 'connecting';
  readonly sent: string[] = [];
  disconnected = false;
  async connect(): Promise<void> {
    this.state = 'online';
  }
  disconnect(): void {
    this.disconnected = true;
  }
  async send(message: OutgoingMessage): Promise<Message> {
    this.sent.push(message.clientId);
    const now = new Date().toISOString();
    return { id: 'm1', conversationId: 'c', seq: 1, rev: 1, clientId: message.clientId, author: { role: 'visitor' }, text: message.text, createdAt: now, status: 'sent', statusAt: { sent: now } };
  }
  async sync() {
    return { messages: [], rev: 0, hasMore: false };
  }
  async history() {
    return { messages: [], hasMore: false };
  }
  receipt(): void {}
  typing(): void {}
  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.events.on(event, listener);
  }
}

const open: Transport[] = [];
afterEach(() => {
  for (const transport of open.splice(0)) transport.disconnect();
});

describe('DeferredTransport', () => {
  it('uses the bridge alone when the XMTP module fails to load, and says so', async () => {
    const bridge = new BridgeDouble();
    const deferred = new DeferredTransport(() => Promise.reject(new Error('404')), bridge, 1000);
    open.push(deferred);
    const kinds: TransportKind[] = [];
    deferred.on('kind', (kind) => kinds.push(kind));
    expect(deferred.kind).toBe('xmtp');
    await deferred.connect();
    expect(deferred.kind).toBe('realtime');
    expect(kinds).toEqual(['realtime']);
    await deferred.send({ clientId: 'c1', text: 'hi' });
    expect(bridge.sent).toEqual(['c1']);
  });

  it('forwards an erasure from the bridge when the XMTP module fails to load', async () => {
    const bridge = new BridgeDouble();
    const deferred = new DeferredTransport(() => Promise.reject(new Error('404')), bridge, 1000);
    open.push(deferred);
    let erased = 0;
    deferred.on('erased', () => erased++);
    await deferred.connect();
    bridge.events.emit('erased');
    expect(erased).toBe(1);
  });

  it('uses the bridge alone when the module does not load within the bound', async () => {
    const bridge = new BridgeDouble();
    const deferred = new DeferredTransport(() => new Promise<Transport>(() => undefined), bridge, 50);
    open.push(deferred);
    // The module never loads: connect completes only because the bound gave up on it.
    await deferred.connect();
    expect(deferred.kind).toBe('realtime');
    await deferred.send({ clientId: 'c1', text: 'hi' });
    expect(bridge.sent).toEqual(['c1']);
  });

  it('turns errors of the module into this bundle’s TransportError', async () => {
    const bridge = new BridgeDouble();
    const foreign = Object.assign(new Error('too long'), { code: 'text_too_long', permanent: true });
    const inner = Object.assign(new BridgeDouble(), { send: () => Promise.reject(foreign) });
    const deferred = new DeferredTransport(async () => inner, bridge, 1000);
    open.push(deferred);
    await deferred.connect();
    const { TransportError } = await import('./transport.ts');
    const error = await deferred.send({ clientId: 'c1', text: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: 'text_too_long', permanent: true });
  });
});
