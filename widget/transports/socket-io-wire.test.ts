import { describe, expect, it } from 'vitest';
import { Decoder, Encoder, PacketType as ParserType } from 'socket.io-parser';
import { PacketType, decodePacket, encodePacket, engineUrl } from './socket-io-wire.ts';

/** Decodes with the reference implementation the bridge uses. */
function referenceDecode(frame: string): unknown {
  const decoder = new Decoder();
  let out: unknown;
  decoder.on('decoded', (packet: unknown) => (out = packet));
  decoder.add(frame.slice(1));
  return out;
}

describe('socket-io-wire', () => {
  it('encodes what socket.io-parser decodes: connect with auth, event with ack id', () => {
    expect(referenceDecode(encodePacket({ type: PacketType.connect, nsp: '/visitor', data: { token: 't' } }))).toEqual({
      type: ParserType.CONNECT,
      nsp: '/visitor',
      data: { token: 't' },
    });
    expect(referenceDecode(encodePacket({ type: PacketType.event, nsp: '/visitor', id: 12, data: ['message:send', { clientId: 'c', text: 'hi "there"' }] }))).toEqual({
      type: ParserType.EVENT,
      nsp: '/visitor',
      id: 12,
      data: ['message:send', { clientId: 'c', text: 'hi "there"' }],
    });
  });

  it('decodes what socket.io-parser encodes: events, acks, connect errors, the root namespace', () => {
    const encoder = new Encoder();
    const cases = [
      { type: ParserType.EVENT, nsp: '/visitor', data: ['message:new', { text: '1,2["x"]' }] },
      { type: ParserType.ACK, nsp: '/visitor', id: 7, data: [{ ok: true, data: { rev: 3 } }] },
      { type: ParserType.CONNECT_ERROR, nsp: '/visitor', data: { message: 'invalid_token' } },
      { type: ParserType.CONNECT, nsp: '/visitor', data: { sid: 'abc' } },
      { type: ParserType.DISCONNECT, nsp: '/visitor' },
      { type: ParserType.EVENT, nsp: '/', data: ['x', 1] },
    ];
    for (const packet of cases) {
      const [frame] = encoder.encode(packet) as string[];
      expect(decodePacket(frame!)).toEqual(packet);
    }
  });

  it('rejects binary and malformed packets instead of throwing', () => {
    expect(decodePacket('51-/visitor,["x",{"_placeholder":true,"num":0}]')).toBeUndefined();
    expect(decodePacket('2/visitor,["x"')).toBeUndefined();
    expect(decodePacket('x')).toBeUndefined();
  });

  it('puts nothing but the protocol version and transport in the URL', () => {
    expect(engineUrl('https://chat.example.com/')).toBe('wss://chat.example.com/socket.io/?EIO=4&transport=websocket');
    expect(engineUrl('http://127.0.0.1:3000')).toBe('ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket');
  });
});
