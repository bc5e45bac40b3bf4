/**
 * Socket.IO's official PostgreSQL adapter (`@socket.io/postgres-adapter`), set up for this bridge: broadcasts, rooms
 * and `fetchSockets` reach every node through NOTIFY on the shared pool.
 *
 * What it does not guarantee: a broadcast published while a node's LISTEN connection is reconnecting never reaches
 * that node's sockets (at most once), and it has no connection-state recovery. Clients cover both with the `rev`
 * cursor: every message change has the next `rev` of its conversation, so a client that sees a jump syncs the gap.
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import type pg from 'pg';
import type { Logger } from 'pino';

/** The adapter's table for payloads too large for NOTIFY (its default name). */
export const ADAPTER_ATTACHMENTS_TABLE = 'socket_io_attachments';

/**
 * Largest payload sent through NOTIFY itself. PostgreSQL takes payloads shorter than 8,000 bytes; adapter 0.5.0
 * sends through NOTIFY up to and including its threshold (`>` check), so its default of 8,000 fails at exactly 8,000.
 */
export const NOTIFY_PAYLOAD_THRESHOLD = 7_999;

/** Creates the attachments table the adapter reads and writes (it does not create it itself). */
export async function prepareSocketAdapter(pool: pg.Pool): Promise<void> {
  try {
    await pool.query(`
      CREATE TABLE IF NOT EXISTS ${ADAPTER_ATTACHMENTS_TABLE} (
        id bigserial PRIMARY KEY,
        created_at timestamptz DEFAULT NOW(),
        payload bytea
      )`);
  } catch (error) {
    // Nodes starting together race on IF NOT EXISTS; the loser sees the winner's table (or its type) as a duplicate.
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw error;
  }
}

/**
 * The pool as the adapter sees it. Adapter 0.5.0 keeps its LISTEN connection checked out and, when that connection
 * dies (a restarted server, a terminated backend), takes a new one without releasing the dead one: every reconnect
 * would leak a pool slot until the pool is exhausted, and `pool.end()` would wait forever. Here a connection the
 * adapter holds is released (and so discarded) by the pool once it ends.
 */
function releasingPool(pool: pg.Pool): pg.Pool {
  const connect = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    const release = client.release.bind(client);
    let released = false;
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      release(error);
    };
    client.once('end', () => client.release(new Error('LISTEN connection ended')));
    return client;
  };
  const query = (text: string, values?: unknown[]) => pool.query(text, values);
  return { connect, query } as unknown as pg.Pool;
}

/** The adapter constructor to pass to `createBridge({ adapter })`. */
export function postgresSocketAdapter(pool: pg.Pool, logger: Logger): ReturnType<typeof createAdapter> {
  return createAdapter(releasingPool(pool), {
    payloadThreshold: NOTIFY_PAYLOAD_THRESHOLD,
    errorHandler: (error: Error) => logger.warn({ err: error }, 'socket.io postgres adapter'),
  });
}
