/**
 * Can this page run the XMTP browser SDK? It needs module workers and the origin private file system (absent in
 * some sandboxed iframes and private modes), and its SQLite database (OPFS SyncAccessHandle pool) allows one
 * connection at a time, so only one tab per origin may hold it.
 */
import { TransportError } from '../transports/transport.ts';

/** Throws a non-permanent TransportError when XMTP cannot run here (no workers, no OPFS, no storage). */
export async function assertXmtpCanRun(): Promise<void> {
  if (typeof Worker !== 'function') throw new TransportError('offline', 'Web Workers unavailable', false);
  const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
  if (!storage || typeof storage.getDirectory !== 'function') {
    throw new TransportError('offline', 'OPFS unavailable', false);
  }
  try {
    await storage.getDirectory();
  } catch {
    // Chromium throws SecurityError in opaque-origin iframes; Firefox in private windows.
    throw new TransportError('offline', 'OPFS unavailable', false);
  }
}

/**
 * Takes the per-origin XMTP database lock without waiting; resolves with its release function, or throws a
 * `conflict` TransportError when another tab holds it. Without the Web Locks API it cannot tell and lets the
 * SDK's own OPFS error decide.
 */
export async function takeDatabaseLock(name: string): Promise<() => void> {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks) return () => {};
  return new Promise((resolve, reject) => {
    void locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) {
          reject(new TransportError('conflict', 'XMTP is open in another tab', false));
          return undefined;
        }
        // Holding the callback's promise holds the lock until `release` is called.
        return new Promise<void>((release) => resolve(release));
      })
      .catch(() => reject(new TransportError('offline', 'Web Locks unavailable', false)));
  });
}
