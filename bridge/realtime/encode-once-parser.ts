/**
 * The Socket.IO `parser` option of the bridge: socket.io-parser's own wire format and Decoder, with an Encoder that
 * serialises a shared payload once per send instead of once per packet. A new chat message goes out as the sender's
 * ack and as `message:new` to the visitor room and to the agents, and socket.io-parser runs `hasBinary` and
 * `JSON.stringify` over the same message for each packet, a cost paid on every message (measured in
 * docs/performance.md). Payloads marked with `sharedJson` are stringified once; the Encoder below splices that text
 * into every packet that carries them. The wire bytes are exactly the default parser's, and packets without a marked
 * payload are encoded by the default Encoder.
 */
import { Decoder, Encoder, PacketType, protocol, type Packet } from 'socket.io-parser';

/** Marked payloads and their JSON, valid for the current turn of the event loop only (see `sharedJson`). */
const marked = new Map<object, string>();
let clearScheduled = false;

/**
 * Marks `payload` (a plain JSON value: no Buffers, no toJSON surprises beyond JSON.stringify's own) so that every
 * packet carrying it as a top-level argument in this turn reuses one `JSON.stringify`. The mark ends with the turn, so
 * a later change to the object is never sent stale. Returns `payload`.
 */
export function sharedJson<T extends object>(payload: T, json = JSON.stringify(payload)): T {
  marked.set(payload, json);
  if (!clearScheduled) {
    clearScheduled = true;
    setImmediate(() => {
      clearScheduled = false;
      marked.clear();
    });
  }
  return payload;
}

/** The JSON `sharedJson` recorded for `payload`, if it is marked in this turn. */
export function sharedJsonOf(payload: unknown): string | undefined {
  return typeof payload === 'object' && payload !== null ? marked.get(payload) : undefined;
}

/** An ack `{ok: true, data}` whose JSON reuses `data`'s when `data` is marked. */
export function okAck<T>(data: T): { ok: true; data: T } {
  const reply = { ok: true as const, data };
  const json = sharedJsonOf(data);
  return json === undefined ? reply : sharedJson(reply, `{"ok":true,"data":${json}}`);
}

/** socket.io-parser's Encoder, with marked arguments spliced in as their recorded JSON. */
class SharedJsonEncoder extends Encoder {
  override encode(packet: Packet): (string | Buffer)[] {
    const args: unknown = packet.data;
    if ((packet.type !== PacketType.EVENT && packet.type !== PacketType.ACK) || !Array.isArray(args)) {
      return super.encode(packet) as (string | Buffer)[];
    }
    let parts: string[] | undefined;
    for (let i = 0; i < args.length; i++) {
      const json = sharedJsonOf(args[i]);
      if (json === undefined) continue;
      parts ??= new Array<string>(args.length);
      parts[i] = json;
    }
    if (!parts) return super.encode(packet) as (string | Buffer)[];
    for (let i = 0; i < args.length; i++) {
      if (parts[i] !== undefined) continue;
      const arg: unknown = args[i];
      // The event name and other primitives; any other unmarked argument (maybe binary) takes the default path.
      if (arg !== null && typeof arg !== 'string' && typeof arg !== 'number' && typeof arg !== 'boolean') {
        return super.encode(packet) as (string | Buffer)[];
      }
      parts[i] = JSON.stringify(arg);
    }
    // The default Encoder's string form: type, namespace unless "/", ack id, then the JSON array.
    let head = String(packet.type);
    if (packet.nsp && packet.nsp !== '/') head += `${packet.nsp},`;
    if (packet.id != null) head += packet.id;
    return [`${head}[${parts.join(',')}]`];
  }
}

/** The Socket.IO `parser` option: default wire format and Decoder, shared JSON for marked payloads. */
export const sharedJsonParser = { protocol, Encoder: SharedJsonEncoder, Decoder, PacketType };
