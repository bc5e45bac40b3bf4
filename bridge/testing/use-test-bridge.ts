/**
 * One bridge shared by the tests of a file: started before them, closed after them, with every socket a test
 * `track`s closed after that test — the setup the socket-level bridge tests otherwise each repeat.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTestBridge, type TestBridge, type TestBridgeOptions } from './test-bridge.ts';

/** Anything a test opens and must close: Socket.IO client sockets. */
export interface Closable {
  close(): unknown;
}

/** The shared bridge of a test file and its socket tracking. */
export interface SharedTestBridge {
  /** The running bridge (available inside tests and hooks). */
  readonly bridge: TestBridge;
  /** Registers a socket to close after the current test; returns it. */
  track: <T extends Closable>(socket: T) => T;
  /** Closes every socket tracked so far (a test that needs a clean slate mid-way). */
  closeTracked(): void;
}

/** Registers beforeAll/afterEach/afterAll hooks for a shared test bridge. */
export function useTestBridge(options: TestBridgeOptions = {}): SharedTestBridge {
  let bridge: TestBridge | undefined;
  const open: Closable[] = [];
  const closeTracked = (): void => {
    for (const socket of open.splice(0)) socket.close();
  };
  beforeAll(async () => {
    bridge = await startTestBridge(options);
  });
  afterEach(closeTracked);
  afterAll(async () => {
    await bridge?.close();
  });
  return {
    get bridge(): TestBridge {
      if (!bridge) throw new Error('the shared test bridge is not started yet (use it inside tests or hooks)');
      return bridge;
    },
    track: (socket) => {
      open.push(socket);
      return socket;
    },
    closeTracked,
  };
}
