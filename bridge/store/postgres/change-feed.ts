/**
 * How the bridge nodes on one database hear of each other's new messages and status changes: every append and status
 * transaction NOTIFYs each message it stores or changes on one channel (`feedNotify`), and each node LISTENs on that
 * channel on a connection of its own and hands other nodes' changes to its bridge, which sends them to its own sockets.
 *
 * Why not Socket.IO's adapter, which carries every other broadcast: through it, each new message or status cost one
 * NOTIFY statement per room it went to, sent after the commit as a statement of its own, the node's own sockets served
 * only once that statement returned, and every node (the sender too) received and decoded every payload. Here the
 * NOTIFYs ride in the change's own transaction (no statement, no round trip of their own; PostgreSQL delivers them at
 * COMMIT, never for a transaction that rolled back), one per message for both rooms, and the sending node serves its
 * sockets right after the commit. A message too large for a NOTIFY payload is announced by its ids and read by the
 * listeners.
 *
 * Like the adapter, LISTEN is at most once: what is committed while a node's LISTEN connection is down never reaches
 * that node. Once it listens again the bridge tells its sockets `changes:missed` (`onMissed`), and they sync from their
 * `rev` cursor, as they do after an adapter reconnect.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../logger.ts';
import type { Message } from '../../../protocol/message.ts';
import { backoffDelay, type BackoffPolicy } from '../../../protocol/backoff.ts';
import type { ChangeFeed } from '../store.ts';

/** The channel every node's append and status transactions NOTIFY on. */
export const CHANGE_FEED_CHANNEL = 'anon_chat_messages';
/** PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 8_000;
/** What a notification announces: a new message, or a message's new status. */
export type FeedKind = 'message' | 'status';
/**
 * A payload: the origin node's id, a kind letter, and the message's JSON (the lower-case letter) or, when that would
 * be too large, its conversation id and id (the upper-case one).
 */
const LETTERS: Record<FeedKind, { inline: string; reference: string }> = {
  message: { inline: 'm', reference: 'M' },
  status: { inline: 's', reference: 'S' },
};
const KINDS = new Map<string, { kind: FeedKind; inline: boolean }>(
  Object.entries(LETTERS).flatMap(([kind, l]) => [
    [l.inline, { kind: kind as FeedKind, inline: true }],
    [l.reference, { kind: kind as FeedKind, inline: false }],
  ]),
);
/** Waits between attempts to listen again: up to 1 s first, doubling up to 5 s. */
const RELISTEN_BACKOFF: BackoffPolicy = { baseDelayMs: 1_000, maxDelayMs: 5_000 };
/**
 * How often the LISTEN connection is asked something, and how long the answer may take: a connection that only
 * listens writes nothing, so one cut without a reset (an idle timeout on the way, a failover) would otherwise leave
 * the node deaf to the others for good.
 */
const PING_EVERY_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;
/** Default of `ChangeFeedOptions.frozenNodeAfterMs`. */
export const FROZEN_NODE_AFTER_MS = 30_000;
/** What the connections of a node carry as application_name: `anon-chat/<its id>` (postgres-pool.ts names them). */
export const NODE_APPLICATION_PREFIX = 'anon-chat/';

/** Options of `PostgresChangeFeed` (tests shorten the checks). */
export interface ChangeFeedOptions {
  /** How often the LISTEN connection is checked (default 10 s, or a third of `frozenNodeAfterMs` if that is less). */
  pingEveryMs?: number;
  /** How long a check may take before the connection is given up (default 5 s, or `pingEveryMs` if that is less). */
  pingTimeoutMs?: number;
  /**
   * A node whose LISTEN connection has run no statement for this long is frozen (its checks above stopped), and this
   * node ends all its connections (default 30 s; 0: never). See `PostgresChangeFeed.cutOffFrozenNodes`.
   */
  frozenNodeAfterMs?: number;
}

/**
 * Ends every connection of each other node whose LISTEN connection has been idle for `$2` ms: its
 * application_name is `anon-chat/<id>` (postgres-pool.ts), so the LISTEN connection names the node's others — the
 * adapter's LISTEN, its pool. Never this node's own (the name of the connection asking), nor connections named
 * otherwise: a name several nodes share (one set in DATABASE_URL, an older version's `anon-chat`) would make one
 * frozen node cost the others their connections.
 */
const CUT_OFF_FROZEN_NODES = `SELECT other.application_name AS node, pg_terminate_backend(other.pid) AS ended
  FROM pg_stat_activity feed
  JOIN pg_stat_activity other ON other.datname = feed.datname AND other.application_name = feed.application_name
  WHERE feed.datname = current_database() AND feed.query = $1 AND feed.state = 'idle'
    AND starts_with(feed.application_name, '${NODE_APPLICATION_PREFIX}')
    AND feed.application_name <> current_setting('application_name')
    AND feed.state_change < clock_timestamp() - make_interval(secs => $2::float8 / 1000)`;

/**
 * The part of a statement that publishes messages as `kind`: `rows` is a FROM item named `v` with the columns
 * conversation_id, id and doc (the message's JSON as text); `channel` and `origin` are parameters (a null channel
 * publishes nothing). One `pg_notify` per row, in the order `rows` yields them; used as a CTE whose rows are counted.
 */
export function feedNotify(kind: FeedKind, rows: string, channel: string, origin: string): string {
  const { inline, reference } = LETTERS[kind];
  const from = `${origin}::text`;
  return `SELECT pg_notify(${channel}::text, CASE
       WHEN octet_length(${from} || '${inline}' || v.doc) < ${MAX_PAYLOAD_BYTES} THEN ${from} || '${inline}' || v.doc
       ELSE ${from} || '${reference}' || v.conversation_id || ' ' || v.id END)
     FROM ${rows}
     WHERE ${channel}::text IS NOT NULL`;
}

/** A message another node stored or changed the status of, with its JSON when the payload carried it (as stored). */
type Delivery = { kind: FeedKind; message: Message };

/**
 * One node's end of the feed: the origin id its transactions publish with, and the LISTEN connection (a client of its
 * own, outside the pool, so it never takes a slot the store's transactions need).
 */
export class PostgresChangeFeed implements ChangeFeed {
  /** This node's id in every payload it publishes: its own are recognised and dropped unparsed. */
  readonly origin = randomBytes(9).toString('base64url');
  private readonly listeners: Record<FeedKind, Set<(message: Message) => void>> = { message: new Set(), status: new Set() };
  private readonly missedListeners = new Set<() => void>();
  private client: pg.Client | undefined;
  /** A connection being opened (first or again), ended by `close()` too. */
  private connecting: pg.Client | undefined;
  private closed = false;
  private pinging = false;
  private cuttingOff = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Notifications waiting behind a reference being read, so delivery keeps commit order. */
  private readonly queue: string[] = [];
  private reading = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    /** Reads a message announced by reference (too large for its payload). */
    private readonly readMessage: (conversationId: string, messageId: string) => Promise<Message | undefined>,
    private readonly options: ChangeFeedOptions = {},
  ) {}

  onMessageCreated(listener: (message: Message) => void): () => void {
    this.listeners.message.add(listener);
    return () => this.listeners.message.delete(listener);
  }

  onStatusChanged(listener: (message: Message) => void): () => void {
    this.listeners.status.add(listener);
    return () => this.listeners.status.delete(listener);
  }

  onMissed(listener: () => void): () => void {
    this.missedListeners.add(listener);
    return () => this.missedListeners.delete(listener);
  }

  /** Listens; resolves once LISTEN has taken effect (a node serves no one before it hears the others). Once only. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('the change feed was closed');
    await this.listen();
    this.pingTimer = setInterval(() => {
      void this.ping();
      void this.cutOffFrozenNodes();
    }, this.pingEveryMs);
    this.pingTimer.unref();
  }

  private get frozenNodeAfterMs(): number {
    return this.options.frozenNodeAfterMs ?? FROZEN_NODE_AFTER_MS;
  }

  /** Every LISTEN connection runs a statement at least this often while its node runs (its check). */
  private get pingEveryMs(): number {
    const frozenAfter = this.frozenNodeAfterMs;
    return this.options.pingEveryMs ?? (frozenAfter > 0 ? Math.min(PING_EVERY_MS, Math.floor(frozenAfter / 3)) : PING_EVERY_MS);
  }

  /** Whether LISTEN is in effect now (false while the connection is being opened again). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const clients = [this.client, this.connecting].filter((client) => client !== undefined);
    this.client = undefined;
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  private async listen(): Promise<void> {
    // The pool's own settings (server, user, application name), for one connection that stays LISTENing; TCP
    // keepalive so that a peer gone without a reset is noticed by the system too.
    const client = new pg.Client({ ...this.pool.options, keepAlive: true });
    client.on('error', (error) => this.logger.warn({ err: error }, 'postgres change feed: connection failed'));
    client.on('notification', (n) => {
      if (n.channel === CHANGE_FEED_CHANNEL && n.payload !== undefined && !n.payload.startsWith(this.origin)) this.receive(n.payload);
    });
    this.connecting = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_FEED_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    } finally {
      if (this.connecting === client) this.connecting = undefined;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    client.once('end', () => this.lost(client));
  }

  /** `client` stopped listening (it ended, or stopped answering): listen again on a new one. */
  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    // Not awaited: a connection that stopped answering may never finish ending.
    void client.end().catch(() => undefined);
    this.relisten();
  }

  /**
   * Asks the LISTEN connection its LISTEN again (a no-op for a channel it listens on, and what the connection still
   * shows as its statement to an operator reading pg_stat_activity); one that fails or does not answer in time is
   * given up.
   */
  private async ping(): Promise<void> {
    const client = this.client;
    if (client === undefined || this.pinging) return;
    this.pinging = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query(`LISTEN ${CHANGE_FEED_CHANNEL}`),
        new Promise((_, reject) => {
          const timeout = this.options.pingTimeoutMs ?? Math.min(PING_TIMEOUT_MS, this.pingEveryMs);
          timer = setTimeout(() => reject(new Error(`no answer in ${timeout} ms`)), timeout);
        }),
      ]);
    } catch (error) {
      this.logger.warn({ err: error }, 'postgres change feed: the LISTEN connection stopped answering');
      this.lost(client);
    } finally {
      clearTimeout(timer);
      this.pinging = false;
    }
  }

  /**
   * Ends the connections of the other nodes that stopped checking their LISTEN connection (frozen: SIGSTOP, a paused
   * VM, an event loop stuck). A LISTEN connection that reads nothing keeps PostgreSQL from trimming its notification
   * queue (8 GB by default), shared by every node; once it is full every NOTIFYing transaction fails — every node's
   * appends. Its LISTEN ended, the frozen node no longer holds the queue; when it runs again it connects and listens
   * again and tells its sockets `changes:missed`, as after any lost LISTEN connection. Every node asks, each time it
   * checks its own connection; PostgreSQL measures the time, so the nodes' clocks do not matter.
   */
  private async cutOffFrozenNodes(): Promise<void> {
    const frozenAfter = this.frozenNodeAfterMs;
    if (frozenAfter <= 0 || this.cuttingOff || this.closed) return;
    this.cuttingOff = true;
    try {
      const { rows } = await this.pool.query<{ node: string; ended: boolean }>(CUT_OFF_FROZEN_NODES, [`LISTEN ${CHANGE_FEED_CHANNEL}`, frozenAfter]);
      const nodes = new Map<string, number>();
      for (const row of rows) if (row.ended) nodes.set(row.node, (nodes.get(row.node) ?? 0) + 1);
      for (const [node, connections] of nodes) {
        this.logger.warn({ node, connections, frozenNodeAfterMs: frozenAfter }, 'postgres change feed: ended the connections of a node whose LISTEN connection stopped being checked');
      }
    } catch (error) {
      // The database being unreachable is reported by the store and the ping; this check just tries again next time.
      this.logger.debug({ err: error }, 'postgres change feed: looking for frozen nodes failed');
    } finally {
      this.cuttingOff = false;
    }
  }

  /** The LISTEN connection ended: connect and listen again until it works, then tell the bridge what may be missed. */
  private relisten(): void {
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.listen().then(
        () => {
          if (this.closed) return;
          this.attempt = 0;
          this.missed();
        },
        (error: unknown) => {
          this.logger.warn({ err: error }, 'postgres change feed: listening again failed');
          if (!this.closed) this.relisten();
        },
      );
    }, backoffDelay(RELISTEN_BACKOFF, this.attempt));
    this.retryTimer.unref();
  }

  private missed(): void {
    for (const listener of this.missedListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, 'postgres change feed: listener failed');
      }
    }
  }

  private receive(payload: string): void {
    if (!this.reading && this.queue.length === 0 && KINDS.get(payload[this.origin.length]!)?.inline) {
      this.deliverInline(payload);
      return;
    }
    this.queue.push(payload);
    if (!this.reading) void this.drain();
  }

  /** Delivers queued notifications in order, reading the referenced messages one after another. */
  private async drain(): Promise<void> {
    this.reading = true;
    try {
      while (this.queue.length > 0) {
        const payload = this.queue.shift()!;
        const kind = KINDS.get(payload[this.origin.length]!);
        if (!kind || kind.inline) {
          this.deliverInline(payload);
          continue;
        }
        const body = payload.slice(this.origin.length + 1);
        const space = body.indexOf(' ');
        try {
          const message = await this.readMessage(body.slice(0, space), body.slice(space + 1));
          // Gone already (erased since): nothing to show.
          if (message) this.deliver({ kind: kind.kind, message });
        } catch (error) {
          // Not read (the database is failing): the sockets sync what they miss.
          this.logger.warn({ err: error }, 'postgres change feed: reading an announced message failed');
          this.missed();
        }
      }
    } finally {
      this.reading = false;
    }
  }

  private deliverInline(payload: string): void {
    const kind = KINDS.get(payload[this.origin.length]!);
    const json = payload.slice(this.origin.length + 1);
    let message: Message;
    try {
      if (!kind) throw new Error(`unknown kind ${payload[this.origin.length]}`);
      message = JSON.parse(json) as Message;
    } catch (error) {
      this.logger.warn({ err: error }, 'postgres change feed: unreadable notification');
      return;
    }
    this.deliver({ kind: kind.kind, message });
  }

  private deliver({ kind, message }: Delivery): void {
    for (const listener of this.listeners[kind]) {
      try {
        listener(message);
      } catch (error) {
        this.logger.error({ err: error }, 'postgres change feed: listener failed');
      }
    }
  }
}
