/**
 * Load-generator clients: plain socket.io-client sockets (WebSocket transport, one connection each, as a widget
 * on its own page has), connected in bounded-concurrency waves so a ramp never opens more than it can track.
 */
import { io, type Socket } from 'socket.io-client';

/** A connected visitor socket and the session the server gave it. */
export interface Visitor {
  socket: Socket;
  conversationId: string;
  token: string;
}

/** socket.io-client options shared by every bench socket. */
export const SOCKET_OPTIONS = { transports: ['websocket'], forceNew: true, reconnection: false };

/** Connects one visitor and resolves after `session` (rejects on connect_error or after `timeoutMs`). */
export function openVisitor(url: string, auth: Record<string, unknown> = {}, timeoutMs = 10_000, reconnect = false): Promise<Visitor> {
  const socket = io(`${url}/visitor`, { ...SOCKET_OPTIONS, reconnection: reconnect, auth });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('visitor: no session in time'));
    }, timeoutMs);
    socket.once('session', (session: { conversationId: string; token: string }) => {
      clearTimeout(timer);
      socket.off('connect_error');
      resolve({ socket, conversationId: session.conversationId, token: session.token });
    });
    socket.once('connect_error', (error: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error(`visitor connect_error: ${error.message}`));
    });
  });
}

/** Connects one agent socket with `token`. */
export function openAgent(url: string, token: string, timeoutMs = 10_000): Promise<Socket> {
  const socket = io(`${url}/agent`, { ...SOCKET_OPTIONS, auth: { token } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('agent: not connected in time'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('connect_error');
      resolve(socket);
    });
    socket.once('connect_error', (error: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error(`agent connect_error: ${error.message}`));
    });
  });
}

/** Runs `task(i)` for i < n with at most `concurrency` in flight; resolves with results in index order. */
export async function inWaves<T>(n: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Emits with an ack and a timeout; resolves with the ack payload or rejects. */
export function emitAck<T>(socket: Socket, event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
}

/** Closes sockets (bounded in count: each close is synchronous). */
export function closeAll(sockets: Socket[]): void {
  for (const s of sockets) s.close();
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
