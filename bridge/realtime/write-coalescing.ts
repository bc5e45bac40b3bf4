/**
 * Coalesces the packets Socket.IO sends to one connection within one turn of the event loop into a single socket
 * write. Why: engine.io writes every packet as its own WebSocket frame with its own `writev` syscall, and a chat
 * message sends several packets to the same connection at once (the sender's ack and its `message:new`; every
 * `message:new`, `message:status` and `conversation:updated` of every conversation to the agent console), and those
 * syscalls were a large share of the bridge's CPU per message (docs/performance.md). The frames and their order on
 * the wire are unchanged; only how many of them share one syscall changes.
 */
import type { Socket as NetSocket } from 'node:net';
import type { Server } from 'socket.io';

/** The parts of an engine.io socket this relies on (engine.io 6: `flush()` sends the write buffer when writable). */
interface EngineSocketInternals {
  flush(): void;
  close(...args: unknown[]): unknown;
  readyState: string;
  transport?: { socket?: { _socket?: unknown } };
  once(event: 'close', listener: () => void): unknown;
}

/** The TCP socket under a WebSocket transport (ws keeps it as `_socket`), if there is one. */
function tcpSocketOf(engineSocket: EngineSocketInternals): NetSocket | undefined {
  const candidate = engineSocket.transport?.socket?._socket as Partial<NetSocket> | undefined;
  return typeof candidate?.cork === 'function' && typeof candidate.uncork === 'function'
    ? (candidate as NetSocket)
    : undefined;
}

/**
 * Makes every engine.io connection of `io` flush its packets once per event-loop turn (in the check phase, right
 * after the I/O callbacks that produced them) with its TCP socket corked, so that all frames queued in that turn
 * leave in one `writev`. Latency cost: at most the rest of the current I/O phase.
 */
export function coalesceSocketWrites(io: Server): void {
  const dirty = new Map<EngineSocketInternals, () => void>();
  let scheduled = false;
  const flushAll = () => {
    scheduled = false;
    const batch = [...dirty.values()];
    dirty.clear();
    for (const flush of batch) flush();
  };

  io.engine.on('connection', (connection: unknown) => {
    const engineSocket = connection as EngineSocketInternals;
    const flushNow = engineSocket.flush.bind(engineSocket);
    const corkedFlush = () => {
      if (engineSocket.readyState === 'closed') return;
      const tcp = tcpSocketOf(engineSocket);
      // Nested cork: ws corks around each frame too; the writes go out together at the outer uncork.
      tcp?.cork();
      try {
        flushNow();
      } finally {
        tcp?.uncork();
      }
    };
    engineSocket.flush = () => {
      if (dirty.has(engineSocket)) return;
      dirty.set(engineSocket, corkedFlush);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushAll);
      }
    };
    // A server-side close (bridge shutdown closes with `discard`) would drop what is still queued: send it first.
    const closeNow = engineSocket.close.bind(engineSocket);
    engineSocket.close = (...args: unknown[]) => {
      const pending = dirty.get(engineSocket);
      if (pending) {
        dirty.delete(engineSocket);
        pending();
      }
      return closeNow(...args);
    };
    engineSocket.once('close', () => dirty.delete(engineSocket));
  });
}
