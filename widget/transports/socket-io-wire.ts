/**
 * The Socket.IO v5 wire format over Engine.IO v4, WebSocket only: what the widget's transport needs to talk to the
 * bridge's `/visitor` namespace without socket.io-client, too large for the widget's initial-load budget
 * (docs/performance.md) and carrying long-polling, binary attachments and multiplexing the widget never uses. Spec: https://socket.io/docs/v4/socket-io-protocol/ and
 * https://socket.io/docs/v4/engine-io-protocol/.
 */

/** Engine.IO packet types (first character of each WebSocket frame). */
export const EnginePacket = { open: '0', close: '1', ping: '2', pong: '3', message: '4' } as const;

/** Socket.IO packet types (first character after the Engine.IO `4`). */
export const PacketType = { connect: 0, disconnect: 1, event: 2, ack: 3, connectError: 4 } as const;

/** A decoded Socket.IO packet. */
export interface SocketPacket {
  type: number;
  nsp: string;
  id?: number;
  data?: unknown;
}

/** Engine.IO's handshake (`0{...}`): the heartbeat timings the server will use. */
export interface EngineHandshake {
  sid: string;
  pingInterval: number;
  pingTimeout: number;
}

/** Reads Engine.IO's open frame (without its leading `0`); undefined when it is not a usable handshake. */
export function decodeHandshake(text: string): EngineHandshake | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { sid, pingInterval, pingTimeout } = value as Partial<Record<keyof EngineHandshake, unknown>>;
  const timing = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (typeof sid !== 'string' || !timing(pingInterval) || !timing(pingTimeout)) return undefined;
  return { sid, pingInterval, pingTimeout };
}

/** The WebSocket URL of a Socket.IO server at `server` (http → ws, https → wss). Nothing secret goes in it. */
export function engineUrl(server: string, path = '/socket.io/'): string {
  const url = new URL(path, server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '?EIO=4&transport=websocket';
  return url.href;
}

/** Encodes a Socket.IO packet as one Engine.IO message frame. */
export function encodePacket(packet: SocketPacket): string {
  let out = `${EnginePacket.message}${packet.type}`;
  if (packet.nsp !== '/') out += `${packet.nsp},`;
  if (packet.id !== undefined) out += packet.id;
  if (packet.data !== undefined) out += JSON.stringify(packet.data);
  return out;
}

/** Decodes the Socket.IO part of an Engine.IO message (the frame without its leading `4`); undefined if malformed. */
export function decodePacket(text: string): SocketPacket | undefined {
  const type = Number(text[0]);
  // Binary events (5, 6) carry attachments the bridge never sends to visitors.
  if (!(type >= 0 && type <= 4)) return undefined;
  let i = 1;
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma === -1 ? text.length : comma;
    nsp = text.slice(i, end);
    i = end + 1;
  }
  let j = i;
  while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
  const packet: SocketPacket = { type, nsp };
  if (j > i) packet.id = Number(text.slice(i, j));
  if (j < text.length) {
    try {
      packet.data = JSON.parse(text.slice(j));
    } catch {
      return undefined;
    }
  }
  return packet;
}
