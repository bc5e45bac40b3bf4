import { describe, expect, it } from 'vitest';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import type { Message } from '../../protocol/message.ts';
import { okAck, sharedJson, sharedJsonOf, sharedJsonParser } from './encode-once-parser.ts';
import { startTestBridge } from '../testing/index.ts';

const message = (): Message => ({
  id: 'm-1',
  conversationId: 'c-1',
  seq: 3,
  rev: 7,
  clientId: 'client-3',
  author: { role: 'agent', agentId: 'a-1', name: 'Zoë "the" agent' },
  text: 'Hi! ünïcödé \u2028 and </script> and emoji 🎉',
  createdAt: '2026-11-24T03:00:00.000Z',
  status: 'sent',
  statusAt: { sent: '2026-11-24T03:00:00.000Z' },
});

const shared = new sharedJsonParser.Encoder();
const plain = new Encoder();

function decode(encoded: (string | Buffer)[]): Packet {
  const decoder = new Decoder();
  let out: Packet | undefined;
  decoder.on('decoded', (packet: Packet) => (out = packet));
  for (const part of encoded) decoder.add(part);
  if (!out) throw new Error('nothing decoded');
  return out;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('sharedJsonParser', () => {
  it('encodes marked payloads byte-identically to socket.io-parser, for events and acks, in any namespace', () => {
    const m = sharedJson(message());
    const ack = okAck(m);
    expect(sharedJsonOf(ack)).toBeDefined();
    const packets: Packet[] = [
      { type: PacketType.EVENT, nsp: '/visitor', data: ['message:new', m] },
      { type: PacketType.EVENT, nsp: '/', data: ['message:new', m] },
      { type: PacketType.EVENT, nsp: '/agent', id: 12, data: ['message:new', m, 5, null, true] },
      { type: PacketType.ACK, nsp: '/agent', id: 4, data: [ack] },
    ];
    for (const packet of packets) {
      const encoded = shared.encode(packet);
      expect(encoded).toEqual(plain.encode(packet));
      expect(decode(encoded)).toEqual(decode(plain.encode(packet)));
    }
  });

  it('splices the recorded JSON: one stringify serves every packet of the turn', () => {
    const m = message();
    sharedJson(m, '{"recorded":true}');
    expect(shared.encode({ type: PacketType.EVENT, nsp: '/agent', data: ['message:new', m] })).toEqual([
      '2/agent,["message:new",{"recorded":true}]',
    ]);
  });

  it('forgets the mark after the turn, so a later change to the object is sent as it is then', async () => {
    const m = sharedJson(message());
    await nextTurn();
    m.status = 'read';
    const packet: Packet = { type: PacketType.EVENT, nsp: '/visitor', data: ['message:new', m] };
    expect(shared.encode(packet)).toEqual(plain.encode(packet));
    expect(JSON.stringify(decode(shared.encode(packet)).data)).toContain('"status":"read"');
  });

  it('leaves unmarked packets and binary arguments to the default encoder', () => {
    const m = sharedJson(message());
    const binary: Packet = { type: PacketType.EVENT, nsp: '/agent', data: ['file', m, Buffer.from([1, 2, 3])] };
    expect(shared.encode(binary)).toEqual(plain.encode(binary));
    expect(shared.encode(binary).length).toBe(2);
    const unmarked: Packet = { type: PacketType.EVENT, nsp: '/agent', data: ['message:new', message()] };
    expect(shared.encode(unmarked)).toEqual(plain.encode(unmarked));
    const connect: Packet = { type: PacketType.CONNECT, nsp: '/visitor', data: { sid: 'x' } };
    expect(shared.encode(connect)).toEqual(plain.encode(connect));
  });

  it('is the parser of the bridge, so its real traffic takes this path', async () => {
    const bridge = await startTestBridge();
    try {
      expect(bridge.bridge.io.encoder).toBeInstanceOf(sharedJsonParser.Encoder);
    } finally {
      await bridge.close();
    }
  });
});
