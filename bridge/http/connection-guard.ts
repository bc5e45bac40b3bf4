/**
 * The HTTP server's connection guards: short header/request/keep-alive timeouts checked often (Node's own check runs
 * every 30 s, so a half-open connection could sit for up to 50 s), and a cap on concurrent TCP connections per
 * remote address, so one client cannot hold thousands of file descriptors.
 */
import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HttpServerLimits } from '../config.ts';

/** How long a refusal log line for one address stays the only one. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** Counts of the per-IP cap, for tests and health reports. */
export interface ConnectionGuardStats {
  /** Addresses with at least one open connection (bounded by the number of open connections). */
  trackedAddresses: number;
  /** Connections closed at once because their address was at the cap. */
  refused: number;
}

/** A guarded HTTP server and its counters. */
export interface GuardedServer {
  server: HttpServer;
  stats(): ConnectionGuardStats;
}

/** Creates the bridge's HTTP server with `limits` applied; `now` drives the once-a-minute refusal log. */
export function createGuardedServer(
  app: RequestListener,
  limits: HttpServerLimits,
  logger: Logger,
  now: () => number = Date.now,
): GuardedServer {
  // The checking interval can only be set at creation; the timeouts are read from the server on every check.
  const server = createServer({ connectionsCheckingInterval: limits.connectionsCheckIntervalMs }, app);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;

  const open = new Map<string, number>();
  // Last refusal log per address; entries older than the interval are dropped when the next refusal is logged, so
  // the map holds at most the addresses refused in the last minute.
  const lastLogged = new Map<string, number>();
  let refused = 0;

  const logRefusal = (address: string): void => {
    const at = now();
    const previous = lastLogged.get(address);
    if (previous !== undefined && at - previous < REFUSAL_LOG_INTERVAL_MS) return;
    for (const [key, loggedAt] of lastLogged) if (at - loggedAt >= REFUSAL_LOG_INTERVAL_MS) lastLogged.delete(key);
    lastLogged.set(address, at);
    logger.warn(
      { ip: address, limit: limits.maxConnectionsPerIp, refusedSoFar: refused },
      'connection refused: too many concurrent connections from this address (logged once a minute per address)',
    );
  };

  if (limits.maxConnectionsPerIp > 0) {
    server.on('connection', (socket: Socket) => {
      // The TCP peer, not X-Forwarded-For: headers have not arrived yet and cannot be trusted for this anyway.
      const address = socket.remoteAddress ?? 'unknown';
      const count = open.get(address) ?? 0;
      if (count >= limits.maxConnectionsPerIp) {
        refused++;
        logRefusal(address);
        socket.destroy();
        return;
      }
      open.set(address, count + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left <= 0) open.delete(address);
        else open.set(address, left);
      });
    });
  }

  return { server, stats: () => ({ trackedAddresses: open.size, refused }) };
}
