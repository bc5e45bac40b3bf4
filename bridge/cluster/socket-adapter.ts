/**
 * Socket.IO's official PostgreSQL adapter (`@socket.io/postgres-adapter`), set up for this bridge: broadcasts, rooms
 * and `fetchSockets` reach every node through NOTIFY on the shared pool. New messages and status changes do not take
 * this path on a store with a change feed (bridge/store/postgres/change-feed.ts): the transaction that writes them
 * NOTIFYs them, and each node sends them to its own sockets.
 *
 * What it does not guarantee: a broadcast published while a node's LISTEN connection is reconnecting never reaches
 * that node's sockets (at most once), and it has no connection-state recovery. Clients cover both with the `rev`
 * cursor: every message change has the next `rev` of its conversation, so a client that sees a jump syncs the gap,
 * and once a node listens again it tells its own sockets `changes:missed`, so a lost last change is synced too. A
 * broadcast whose NOTIFY fails on the publishing node is lost for every other node: that node then tells the others'
 * sockets `changes:missed` (a server-side emit, retried with backoff until its NOTIFY goes through).
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Namespace } from 'socket.io';
import { backoffDelay, type BackoffPolicy } from '../../protocol/backoff.ts';

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

/** The statement adapter 0.5.0 publishes every broadcast with, one autocommit statement per broadcast. */
const NOTIFY_STATEMENT = 'SELECT pg_notify($1, $2)';
/** NOTIFYs sent in one statement at most. */
const MAX_NOTIFY_BATCH = 500;

interface PendingNotify {
  channel: string;
  payload: string;
  resolve: (result: pg.QueryResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Sends the adapter's NOTIFYs in batches: every NOTIFY asked for while one batch is out goes in the next, as one
 * statement (one round trip and one transaction instead of one per broadcast; each broadcast costs the bridge and
 * the server a full statement otherwise). One batch at a time also delivers them in the order they were published,
 * which separate pool connections did not. PostgreSQL delivers a payload repeated on one channel in one transaction
 * once, so a batch ends before a repeat.
 */
export class NotifyBatcher {
  private pending: PendingNotify[] = [];
  private sending = false;
  /** The latest run of `send` (each ends once nothing is pending). */
  private sent: Promise<void> = Promise.resolve();

  constructor(private readonly pool: pg.Pool) {}

  /** Queues one NOTIFY; resolves once the statement carrying it has run (committed). */
  notify(channel: string, payload: string): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ channel, payload, resolve, reject });
      if (!this.sending) this.sent = this.send();
    });
  }

  /** Resolves once every NOTIFY asked for so far has been sent or has failed (a closing node waits for its last ones). */
  async idle(): Promise<void> {
    let run: Promise<void>;
    do {
      run = this.sent;
      await run;
    } while (run !== this.sent);
  }

  private async send(): Promise<void> {
    this.sending = true;
    try {
      while (this.pending.length > 0) {
        // A batch ends before the first repeat, so the repeat and what follows it keep their order.
        const seen = new Set<string>();
        let size = 0;
        while (size < this.pending.length && size < MAX_NOTIFY_BATCH) {
          const key = `${this.pending[size]!.channel}\u0000${this.pending[size]!.payload}`;
          if (seen.has(key)) break;
          seen.add(key);
          size++;
        }
        const batch = this.pending.splice(0, size);
        try {
          // unnest yields the rows in array order, so the NOTIFYs are queued (and delivered) in publishing order.
          const result = await this.pool.query({
            // Named: prepared once per connection rather than parsed and planned for every batch.
            name: 'adapter-notify',
            text: 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n (c, p)',
            values: [batch.map((n) => n.channel), batch.map((n) => n.payload)],
          });
          for (const n of batch) n.resolve(result);
        } catch (error) {
          for (const n of batch) n.reject(error);
        }
      }
    } finally {
      this.sending = false;
    }
  }
}

/**
 * The adapter's LISTEN connections and whether it has closed. Adapter 0.5.0 opens its LISTEN connection in the
 * background and its close() releases only a connection it has finished opening: a node stopped while one was being
 * opened (just after its start) would keep it checked out forever, and the pool's end() would never return. So a
 * connection still held when the adapter closes is ended here, and none is handed out afterwards (the adapter's
 * attempt waits on a promise that never settles, which holds nothing open).
 */
class ListenConnections {
  closed = false;
  readonly held = new Set<pg.PoolClient>();

  close(): void {
    this.closed = true;
    for (const client of [...this.held]) client.release(true);
  }
}

/**
 * The pool as the adapter sees it. Adapter 0.5.0 keeps its LISTEN connection checked out and, when that connection
 * dies (a restarted server, a terminated backend), takes a new one without releasing the dead one: every reconnect
 * would leak a pool slot until the pool is exhausted, and `pool.end()` would wait forever. Here a connection the
 * adapter holds is released (and so discarded) by the pool once it ends. Its NOTIFYs go through `notifies`.
 * `listening(channel)` is told each time the adapter's LISTEN on `channel` has taken effect (first and after a reconnect);
 * `published` is told how each of its NOTIFYs and attachment inserts ended.
 */
function releasingPool(
  pool: pg.Pool,
  connections: ListenConnections,
  notifies: NotifyBatcher,
  listening: (channel: string) => void,
  published: LostBroadcastNotice,
  ownNotification: (payload: string) => boolean,
): pg.Pool {
  const connect = async (): Promise<pg.PoolClient> => {
    if (connections.closed) return new Promise<never>(() => {});
    const client = await pool.connect();
    if (connections.closed) {
      client.release();
      return new Promise<never>(() => {});
    }
    // The LISTEN connection hears this node's own NOTIFYs too; the adapter parses each whole payload only to drop it.
    // Those are dropped here unparsed; anything not recognised as our own reaches the adapter as before.
    const on = client.on.bind(client) as (event: string, listener: (...args: unknown[]) => void) => pg.PoolClient;
    (client as { on: unknown }).on = (event: string, listener: (...args: unknown[]) => void) =>
      on(
        event,
        event === 'notification'
          ? (message: unknown) => {
              const payload = (message as pg.Notification).payload;
              if (payload === undefined || !ownNotification(payload)) listener(message);
            }
          : listener,
      );
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    // The adapter sends LISTEN with a quoted channel name, one statement per namespace; every other use (the
    // connection goes back to the pool when it ends) passes through untouched.
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      const channel = typeof args[0] === 'string' ? /^LISTEN "(.+)"$/.exec(args[0])?.[1] : undefined;
      if (channel !== undefined && result instanceof Promise) void result.then(() => listening(channel), () => undefined);
      return result;
    };
    const release = client.release.bind(client);
    let released = false;
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      connections.held.delete(client);
      release(error);
    };
    connections.held.add(client);
    client.once('end', () => client.release(new Error('LISTEN connection ended')));
    return client;
  };
  const query = (text: string, values?: unknown[]) => {
    if (text === NOTIFY_STATEMENT && values?.length === 2 && typeof values[0] === 'string' && typeof values[1] === 'string') {
      const [channel, payload] = values as [string, string];
      const result = notifies.notify(channel, payload);
      const notice = isMissedNotice(payload);
      result.then(() => published.succeeded(channel, notice), () => published.failed(channel, notice));
      return result;
    }
    const result = pool.query(text, values);
    // A large broadcast is stored first, then announced by NOTIFY; a failed insert loses it before any NOTIFY, and
    // its namespace is not in the statement.
    if (text.startsWith(`INSERT INTO ${ADAPTER_ATTACHMENTS_TABLE}`)) result.catch(() => published.failed(undefined, false));
    return result;
  };
  return { connect, query } as unknown as pg.Pool;
}

/** The adapter's NOTIFY channel of a namespace (its default channel prefix). */
const channelOf = (namespace: string): string => `socket.io#${namespace}`;

/** What sockets hear when broadcasts may have been lost: they sync from their `rev` cursor. */
const CHANGES_MISSED = 'changes:missed';
/** Waits before telling the other nodes: up to 100 ms first, the window doubling after each failed try up to 5 s. */
const MISSED_NOTICE_BACKOFF: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 5_000 };

/** True for the payload of the adapter's server-side emit of `changes:missed` (its message type 9). */
function isMissedNotice(payload: string): boolean {
  if (!payload.includes(`"${CHANGES_MISSED}"`)) return false;
  try {
    const message = JSON.parse(payload) as { type?: unknown; data?: { packet?: unknown[] } };
    return message.type === 9 && message.data?.packet?.[0] === CHANGES_MISSED;
  } catch {
    return false;
  }
}

interface NoticeState {
  attempt: number;
  timer?: NodeJS.Timeout;
  inFlight: boolean;
  /** A failure was reported while the notice was in flight: it may not cover that one, so one more follows. */
  again: boolean;
}

/**
 * After a NOTIFY of this node fails, tells the other nodes' sockets of that channel `changes:missed` through a NOTIFY
 * of its own (`send`), tried again with growing waits until one goes through: a failed NOTIFY means the database
 * was unreachable or the connection died, so the next try may fail the same way. A notice covers every failure
 * reported before it was sent (their changes were committed before they were published); NOTIFYs that go through
 * while a retry waits mean the database answers again, so the retry goes at once.
 */
class LostBroadcastNotice {
  private readonly states = new Map<string, NoticeState>();

  constructor(private readonly channels: () => Iterable<string>, private readonly send: (channel: string) => void) {}

  /** A NOTIFY on `channel` (undefined: on an unknown channel) failed; `notice` when it was this notice itself. */
  failed(channel: string | undefined, notice: boolean): void {
    if (channel === undefined) {
      for (const known of this.channels()) this.failed(known, false);
      return;
    }
    const state = this.states.get(channel);
    if (state === undefined) {
      const fresh: NoticeState = { attempt: 0, inFlight: false, again: false };
      this.states.set(channel, fresh);
      this.schedule(channel, fresh);
    } else if (notice && state.inFlight) {
      state.inFlight = false;
      state.again = false;
      state.attempt++;
      this.schedule(channel, state);
    } else if (state.inFlight) {
      state.again = true;
    }
  }

  /** A NOTIFY on `channel` went through; `notice` when it was this notice itself. */
  succeeded(channel: string, notice: boolean): void {
    const state = this.states.get(channel);
    if (state === undefined) return;
    if (notice && state.inFlight) {
      state.inFlight = false;
      if (!state.again) {
        this.states.delete(channel);
        return;
      }
      state.again = false;
      state.attempt = 0;
      this.schedule(channel, state);
    } else if (!state.inFlight && state.timer !== undefined) {
      clearTimeout(state.timer);
      this.fire(channel, state);
    }
  }

  /** Forgets `channel` (its namespace closed). */
  forget(channel: string): void {
    clearTimeout(this.states.get(channel)?.timer);
    this.states.delete(channel);
  }

  private schedule(channel: string, state: NoticeState): void {
    const delay = backoffDelay(MISSED_NOTICE_BACKOFF, state.attempt + 1);
    state.timer = setTimeout(() => this.fire(channel, state), delay);
    state.timer.unref();
  }

  private fire(channel: string, state: NoticeState): void {
    state.timer = undefined;
    state.inFlight = true;
    this.send(channel);
  }
}

/**
 * The adapter constructor to pass to `createBridge({ adapter })`. Whenever the node's LISTEN on a namespace takes
 * effect again, that namespace's sockets on this node hear `changes:missed`: broadcasts published while it was not
 * listening are lost, and their sync reads everything committed before, while anything published later arrives live.
 * Whenever a NOTIFY of this node fails, the other nodes' sockets of that namespace hear it (`LostBroadcastNotice`).
 */
export function postgresSocketAdapter(pool: pg.Pool, logger: Logger): ReturnType<typeof createAdapter> {
  const namespaces = new Map<string, Namespace>();
  const listening = (channel: string): void => {
    for (const [name, nsp] of namespaces) if (channelOf(name) === channel) nsp.local.emit(CHANGES_MISSED);
  };
  // Each namespace adapter's messages end with its uid and namespace (ClusterAdapter adds them last, in this order):
  // `,"uid":"…","nsp":"/…"}` can only end a payload at its top level, so a match is this node's own message.
  const ownEndings = new Set<string>();
  const ownNotification = (payload: string): boolean => {
    for (const ending of ownEndings) if (payload.endsWith(ending)) return true;
    return false;
  };
  const published = new LostBroadcastNotice(
    () => [...namespaces.keys()].map(channelOf),
    (channel) => {
      for (const [name, nsp] of namespaces) if (channelOf(name) === channel) nsp.serverSideEmit(CHANGES_MISSED);
    },
  );
  const notifies = new NotifyBatcher(pool);
  const connections = new ListenConnections();
  const adapter = createAdapter(releasingPool(pool, connections, notifies, listening, published, ownNotification), {
    payloadThreshold: NOTIFY_PAYLOAD_THRESHOLD,
    errorHandler: (error: Error) => logger.warn({ err: error }, 'socket.io postgres adapter'),
  });
  // Socket.IO calls it with `new`: a function, not an arrow.
  return function namespaceAdapter(nsp: Namespace) {
    namespaces.set(nsp.name, nsp);
    // The server-side emit of another node whose NOTIFY failed: this node's sockets of the namespace may lack changes.
    nsp.on(CHANGES_MISSED, () => nsp.local.emit(CHANGES_MISSED));
    const namespaceAdapter = adapter(nsp);
    // ClusterAdapter's uid is protected in its types; it is what the adapter itself compares to drop its own messages.
    const ending = `,"uid":${JSON.stringify((namespaceAdapter as unknown as { uid: string }).uid)},"nsp":${JSON.stringify(nsp.name)}}`;
    ownEndings.add(ending);
    const close = namespaceAdapter.close.bind(namespaceAdapter);
    // io.close() awaits this (Socket.IO's Adapter declares `Promise<void> | void`; ClusterAdapter narrows it to void):
    // what the node broadcast last (its agents' and visitors' presence as it stops) is NOTIFYed before the node goes
    // on to end its pool, which would refuse a batch still waiting its turn.
    (namespaceAdapter as unknown as { close: () => Promise<void> }).close = async () => {
      await notifies.idle();
      ownEndings.delete(ending);
      published.forget(channelOf(nsp.name));
      close();
      // The adapter closes its LISTEN client with its last namespace; one it was still opening is ended here.
      namespaces.delete(nsp.name);
      if (namespaces.size === 0) connections.close();
    };
    return namespaceAdapter;
  };
}
