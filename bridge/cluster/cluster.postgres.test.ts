/**
 * Two bridges in one process on one PostgreSQL, joined by Socket.IO's PostgreSQL adapter (the store object is shared,
 * so this file tests the realtime half alone): a visitor's widget on node A and an agent's console on node B see each
 * other live, and when the adapter's LISTEN connections are terminated mid-stream — broadcasts published meanwhile
 * are lost, by design of the adapter — both clients are told `changes:missed` once their node listens again and
 * sync, so both end with every message, also when nothing follows the lost ones; and when NOTIFYs fail on the
 * publishing node, the other node's clients are told to sync too. The LISTEN reconnect is held back while the test
 * sends (the pool the adapter takes its LISTEN connection from waits on a gate), so the gap is forced, not hoped for.
 * A typing indicator ends on the other node when its typist disconnects and when the typist's node stops gracefully.
 * Write coalescing is on, as in production.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AGENT_NAMESPACE } from '../../protocol/events.ts';
import type { Message } from '../../protocol/message.ts';
import { silentLogger } from '../logger.ts';
import { LowdbStore } from '../store/lowdb/lowdb-store.ts';
import {
  startTestBridge,
  connectAgent,
  connectVisitor,
  collect,
  waitUntil,
  type TestBridge,
  type AgentClient,
  type ConnectedVisitor,
} from '../testing/index.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { headlessWidget } from '../testing/headless-widget.ts';
import { AgentConnection } from '../../console/agent-connection.ts';
import { ThreadController } from '../../console/controllers/thread-controller.ts';
import { openPostgresPool } from './postgres-pool.ts';
import { NOTIFY_PAYLOAD_THRESHOLD, NotifyBatcher, postgresSocketAdapter, prepareSocketAdapter } from './socket-adapter.ts';

const logger = silentLogger();
let databaseUrl: string;
let admin: pg.Pool;
let dataDir: string;
let store: LowdbStore;
const pools: pg.Pool[] = [];
const nodes: TestBridge[] = [];

/**
 * Holds back every node's LISTEN (re)connect while closed. The adapter takes only its LISTEN connection through
 * `pool.connect()` (NOTIFYs and attachments go through `pool.query`), so a closed gate keeps a node deaf after its
 * LISTEN backend is terminated, for as long as the test needs, instead of the adapter's 1-3 s reconnect delay.
 */
const listenGate = {
  opened: Promise.resolve(),
  open: () => {},
  close(): void {
    this.opened = new Promise((resolve) => (this.open = resolve));
  },
};

/** `pool` as the adapter sees it, its connect() waiting for `listenGate`. */
function gatedPool(pool: pg.Pool): pg.Pool {
  return {
    connect: async () => {
      await listenGate.opened;
      return pool.connect();
    },
    query: pool.query.bind(pool),
  } as unknown as pg.Pool;
}

beforeAll(async () => {
  vi.stubGlobal('WebSocket', WebSocket);
  // The console's read receipts go out only for a visible tab; a hidden one keeps this test about delivery.
  vi.stubGlobal('document', { visibilityState: 'hidden' });
  databaseUrl = await createTestDatabase('cluster');
  admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-cluster-'));
  store = new LowdbStore({ dataDir, logger });
  await store.open();
  for (let i = 0; i < 2; i++) {
    const pool = await openPostgresPool(databaseUrl, logger);
    pools.push(pool);
    await prepareSocketAdapter(pool);
    // Same data dir: the nodes share secrets.json, as cluster nodes share their secrets.
    nodes.push(await startTestBridge({ dataDir, store, adapter: () => postgresSocketAdapter(gatedPool(pool), logger) }));
  }
});

afterAll(async () => {
  listenGate.open();
  for (const node of nodes) await node.close();
  await store?.close();
  await Promise.all(pools.map((pool) => pool.end()));
  await admin?.end();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  vi.unstubAllGlobals();
});

/** Backends of the adapter's LISTEN connections on the test database (one per node). */
async function listenBackends(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'",
  );
  return rows.map((row) => row.pid);
}

const stored = (messages: readonly { id?: string; seq?: number }[]): number[] =>
  messages.filter((m) => m.id !== undefined).map((m) => m.seq!).sort((a, b) => a - b);

/** A new visitor's widget on node A (real controllers over a real WebSocket) and the agent's console on B (its
 * connection and thread controller), the visitor's conversation open in it with the first message. */
async function widgetOnAConsoleOnB() {
  const [a, b] = nodes as [TestBridge, TestBridge];
  const { connection: widget, conversation, caughtUps } = headlessWidget(a.url, 'cluster');
  widget.start();
  await waitUntil('the widget on A caught up once', () => caughtUps() === 1);
  const first = await widget.transport!.send({ clientId: 'v-0', text: 'hello from A' });
  const conversationId = first.conversationId;

  const consoleHost = { addController() {}, requestUpdate() {}, removeController() {}, updateComplete: Promise.resolve(true) };
  const thread = new ThreadController(consoleHost, { agent: () => ({ id: b.agent.id, name: b.agent.name }) });
  const agentConnection = new AgentConnection(b.url, b.agent.token, {
    onConnect: () => thread.connected(),
    onState: () => {},
    onAuthError: () => {},
  });
  thread.attach(agentConnection);
  await waitUntil('the console on B online', () => agentConnection.state === 'online');
  await thread.open(conversationId, undefined);
  await waitUntil('the console on B showing the first message', () => stored(thread.thread!.messages).join() === '1');
  return { widget, conversation, agentConnection, thread, conversationId };
}

describe('two bridges on the PostgreSQL adapter', () => {
  it('takes NOTIFY payloads up to the threshold and sends larger ones as attachments', async () => {
    await admin.query('SELECT pg_notify($1, $2)', ['threshold-check', 'x'.repeat(NOTIFY_PAYLOAD_THRESHOLD)]);
    await expect(admin.query('SELECT pg_notify($1, $2)', ['threshold-check', 'x'.repeat(8000)])).rejects.toThrow(/too long/);
  });

  it('sends concurrent NOTIFYs in shared statements, each delivered once and in publishing order, repeats included', async () => {
    const listener = new pg.Client({ connectionString: databaseUrl });
    await listener.connect();
    try {
      const received: string[] = [];
      listener.on('notification', (n) => received.push(n.payload ?? ''));
      await listener.query('LISTEN "batch-check"');
      let statements = 0;
      const counting = { query: (text: string, values?: unknown[]) => (statements++, admin.query(text, values)) } as unknown as pg.Pool;
      const batcher = new NotifyBatcher(counting);
      // PostgreSQL folds a payload repeated in one transaction into one notification: the repeats must still arrive.
      const sent = Array.from({ length: 60 }, (_, i) => (i % 20 === 19 ? 'again' : `p${i}`));
      await Promise.all(sent.map((payload) => batcher.notify('batch-check', payload)));
      await waitUntil(`all ${sent.length} NOTIFYs heard`, () => received.length >= sent.length);
      expect(received).toEqual(sent);
      expect(statements).toBeLessThan(sent.length / 4);
    } finally {
      await listener.end();
    }
  });

  it('lets a closing node send the NOTIFYs still waiting behind a batch in flight before its pool ends', async () => {
    const listener = new pg.Client({ connectionString: databaseUrl });
    await listener.connect();
    try {
      const received: string[] = [];
      listener.on('notification', (n) => received.push(n.payload ?? ''));
      await listener.query('LISTEN "idle-check"');
      await listener.query(`LISTEN "socket.io#/"`);

      // The batcher alone: 'first' goes out at once, the other two wait for the next batch.
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const batcher = new NotifyBatcher(pool);
      const all = [batcher.notify('idle-check', 'first'), batcher.notify('idle-check', 'second'), batcher.notify('idle-check', 'third')];
      await batcher.idle();
      await pool.end();
      await Promise.all(all);
      await waitUntil('the three NOTIFYs heard', () => received.length >= 3);
      expect(received).toEqual(['first', 'second', 'third']);

      // A node's last broadcasts: io.close() awaits the adapter's close, which waits for them, before the pool ends.
      const nodePool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const io = new Server(createServer(), { adapter: postgresSocketAdapter(nodePool, logger) });
      io.emit('close-check', 'sent first');
      io.emit('close-check', 'sent last');
      await io.close();
      await nodePool.end();
      await waitUntil('both broadcasts heard', () => received.filter((p) => p.includes('close-check')).length >= 2);
      expect(received.filter((p) => p.includes('close-check')).map((p) => (p.includes('sent last') ? 'last' : 'first'))).toEqual(['first', 'last']);
    } finally {
      await listener.end();
    }
  });

  it('ends the pool of a node stopped while its adapter is still opening its LISTEN connection', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    // The adapter asks for its LISTEN connection as it is made; this hands the connection over only after the close.
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const gated = {
      connect: async () => {
        const client = await pool.connect();
        await opened;
        return client;
      },
      query: pool.query.bind(pool),
    } as unknown as pg.Pool;
    const io = new Server(createServer(), { adapter: postgresSocketAdapter(gated, logger) });
    await io.close();
    open();
    // Before, that connection was checked out after the close and never released: end() waited for it forever.
    await pool.end();
    expect(pool.totalCount).toBe(0);
  }, 30_000);

  it('carries a widget on A and a console on B live, and both sync what a LISTEN reconnect lost, also when it was the last change', async () => {
    const [a] = nodes as [TestBridge, TestBridge];
    await waitUntil('a LISTEN backend per node', async () => (await listenBackends()).length === 2);
    const { widget, conversation, agentConnection, thread, conversationId } = await widgetOnAConsoleOnB();

    // Live both ways, across nodes; the large reply goes through the adapter's attachment table.
    const large = 'é'.repeat(4000);
    await agentConnection.send(conversationId, 'a-0', large);
    await waitUntil('the widget on A showing the large reply from B', () => conversation.messages.find((m) => m.clientId === 'a-0')?.text === large);
    await widget.transport!.send({ clientId: 'v-1', text: 'seen on B' });
    await waitUntil('the console on B showing v-1', () => thread.thread!.get('v-1')?.id);

    // A plain client on A that only listens: it shows that broadcasts really were lost while A's LISTEN reconnected.
    const witness: AgentClient = await connectAgent(a.url, a.agent.token);
    const witnessed = collect(witness, 'message:new');

    // Neither node may listen again until the test says so; the terminated backends are gone (waited for) before
    // anything is sent, so none of what follows can reach the other node live.
    listenGate.close();
    const backends = await listenBackends();
    const { rows: ended } = await admin.query<{ gone: boolean }>(
      'SELECT pg_terminate_backend(pid, 60000) AS gone FROM unnest($1::int[]) AS pid',
      [backends],
    );
    expect(ended.map((row) => row.gone)).toEqual([true, true]);
    expect(await listenBackends()).toEqual([]);
    // A node publishes a broadcast after its ack (the NOTIFY is a statement of its own), so an acknowledged message
    // may still be on its way to PostgreSQL when the nodes listen again. A connection of the test's own hears the
    // agents' channel: PostgreSQL delivers a NOTIFY to whoever listens when it commits, and each node sends its
    // NOTIFYs in order, so once this connection has heard B's broadcast of a-last and A's of v-11, everything sent
    // before them was committed while no node listened.
    const published: string[] = [];
    const heardOnChannel = (clientId: string) =>
      published.some((payload) => payload.includes('"message:new"') && payload.includes(`"clientId":"${clientId}"`));
    const listener = new pg.Client({ connectionString: databaseUrl });
    await listener.connect();
    try {
      listener.on('notification', (n) => void published.push(n.payload ?? ''));
      await listener.query(`LISTEN "socket.io#${AGENT_NAMESPACE}"`);
      // Sent (and acknowledged) while no node listens: every cross-node broadcast of these is lost.
      for (let i = 1; i <= 10; i++) {
        await agentConnection.send(conversationId, `a-${i}`, `reply ${i}`);
        await widget.transport!.send({ clientId: `v-${i + 1}`, text: `visitor ${i}` });
      }
      // The widget's last change is a reply from B it never hears: no later event shows it a jump in rev.
      await agentConnection.send(conversationId, 'a-last', 'the last reply');
      await waitUntil('the broadcasts of a-last (B) and v-11 (A) committed', () => heardOnChannel('a-last') && heardOnChannel('v-11'));
    } finally {
      await listener.end();
    }
    listenGate.open();
    await waitUntil('a new LISTEN backend on each node', async () => {
      const now = await listenBackends();
      return now.length === 2 && !now.some((pid) => backends.includes(pid));
    });
    // No traffic after the reconnect: each node tells its sockets `changes:missed` once it listens again, and both
    // clients sync (the console on B has seen the jump in rev at its own replies; the widget saw none after a-last).
    const all = (await store.getChangesSince(conversationId, 0, 1000)).map((m: Message) => m.seq).sort((x, y) => x - y);
    expect(all).toHaveLength(24);
    await waitUntil('the widget on A showing every message', () => stored(conversation.messages).join() === all.join());
    await waitUntil('the console on B showing every message', () => stored(thread.thread!.messages).join() === all.join());
    // Everything shown once, by clientId.
    expect(new Set(conversation.messages.map((m) => m.clientId)).size).toBe(conversation.messages.length);
    expect(new Set(thread.thread!.messages.map((m) => m.clientId)).size).toBe(thread.thread!.messages.length);
    // The witness on A missed every reply B published while A's LISTEN was down (the syncs above were needed), and
    // hears what B publishes now.
    await agentConnection.send(conversationId, 'a-after', 'after the reconnect');
    await waitUntil('the witness on A hearing the reply after the reconnect', () => witnessed.some((m) => m.clientId === 'a-after'));
    const witnessedReplies = new Set(witnessed.filter((m) => m.author.role === 'agent').map((m) => m.clientId));
    expect(['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a-7', 'a-8', 'a-9', 'a-10', 'a-last'].filter((id) => witnessedReplies.has(id))).toEqual([]);

    witness.close();
    agentConnection.close();
    thread.detach();
    widget.stop();
  });
  it('tells the other node to sync when NOTIFYs fail on the publishing node', async () => {
    await waitUntil('a LISTEN backend per node', async () => (await listenBackends()).length === 2);
    const { widget, conversation, agentConnection, thread, conversationId } = await widgetOnAConsoleOnB();
    const database = pg.escapeIdentifier(new URL(databaseUrl).pathname.slice(1));
    // A pg_notify of this database's own, ahead of pg_catalog's for new connections, fails every NOTIFY on them; the
    // bridges' pool connections are replaced, their LISTEN ones kept (both nodes keep listening).
    await admin.query("CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE 'refused'; END $$");
    try {
      await admin.query(`ALTER DATABASE ${database} SET search_path = public, pg_catalog`);
      await admin.query(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, 'anon-chat/') AND query NOT LIKE 'LISTEN %'",
      );
      // The visitor on A sends; A's NOTIFYs of them fail, and nothing the console on B hears shows it a jump in rev.
      for (let i = 1; i <= 3; i++) await widget.transport!.send({ clientId: `v-${i}`, text: `visitor ${i}` });
      // A delivers a broadcast to its own sockets once its NOTIFY has ended (here failed).
      await waitUntil('the widget on A showing v-3', () => conversation.messages.some((m) => m.clientId === 'v-3'));
    } finally {
      await admin.query(`ALTER DATABASE ${database} RESET search_path`);
      await admin.query('DROP FUNCTION public.pg_notify(text, text)');
    }
    const all = (await store.getChangesSince(conversationId, 0, 1000)).map((m: Message) => m.seq).sort((x, y) => x - y);
    expect(all).toHaveLength(4);
    await waitUntil('the console on B showing every message', () => stored(thread.thread!.messages).join() === all.join());
    await waitUntil('the widget on A showing every message', () => stored(conversation.messages).join() === all.join());

    agentConnection.close();
    thread.detach();
    widget.stop();
  });
});

/** Everything `socket` hears of `events`, in arrival order: which came first is what these tests check. */
function heard(socket: AgentClient | ConnectedVisitor, events: readonly string[]): { event: string; payload: Record<string, unknown> }[] {
  const log: { event: string; payload: Record<string, unknown> }[] = [];
  for (const event of events) {
    (socket as unknown as { on: (e: string, f: (p: Record<string, unknown>) => void) => void }).on(event, (payload) => void log.push({ event, payload }));
  }
  return log;
}

/**
 * The typing events of `conversationId` in `log` up to its first going-offline announcement, then 'offline' (its
 * coming online, announced as the visitor connected, may arrive before or after the agent connected; a going offline
 * may be announced more than once).
 */
function untilOffline(log: ReturnType<typeof heard>, conversationId: string): string[] {
  const seen = log
    .filter((e) => e.payload.conversationId === conversationId && (e.event === 'typing' || e.payload.online === false))
    .map((e) => (e.event === 'typing' ? `typing:${String(e.payload.typing)}` : 'offline'));
  return seen.slice(0, seen.indexOf('offline') + 1);
}

/** A third node on its own pool, for a test that stops it: the pool is ended right after the node's close, as bridge/main.ts does. */
async function startThirdNode(): Promise<{ node: TestBridge; stop: () => Promise<void> }> {
  const pool = await openPostgresPool(databaseUrl, logger);
  await prepareSocketAdapter(pool);
  const node = await startTestBridge({ dataDir, store, adapter: () => postgresSocketAdapter(pool, logger) });
  let stopped: Promise<void> | undefined;
  return {
    node,
    // Nothing the node sends after its pool ended can reach another node: an indicator ended later than the close is lost.
    stop: () => (stopped ??= node.close().then(() => pool.end())),
  };
}

describe('typing indicators across nodes', () => {
  it("ends a visitor's typing on the other node's consoles when the visitor disconnects, before their going offline", async () => {
    const [a, b] = nodes as [TestBridge, TestBridge];
    const visitor = await connectVisitor(a.url);
    const { conversationId } = visitor.session;
    const agent = await connectAgent(b.url, b.agent.token);
    const log = heard(agent, ['typing', 'visitor:presence']);
    visitor.emit('typing', { typing: true });
    await waitUntil('the agent on B seeing the visitor on A typing', () => log.some((e) => e.event === 'typing' && e.payload.typing === true) || undefined);
    visitor.close();
    // The going offline is announced after the visitor's socket is gone (a presence lookup): the typing stop must come
    // with the disconnect itself, not from the bridge's expiry timer later.
    await waitUntil('the agent on B told that the visitor is offline', () =>
      log.some((e) => e.event === 'visitor:presence' && e.payload.conversationId === conversationId && e.payload.online === false) || undefined,
    );
    expect(untilOffline(log, conversationId)).toEqual(['typing:true', 'typing:false', 'offline']);
    expect(log.find((e) => e.event === 'typing' && e.payload.typing === false)?.payload).toEqual({ conversationId, role: 'visitor', typing: false });
    agent.close();
  });

  it("ends a visitor's typing on the other node's consoles when the visitor's node stops gracefully", async () => {
    const [, b] = nodes as [TestBridge, TestBridge];
    const c = await startThirdNode();
    try {
      const visitor = await connectVisitor(c.node.url);
      const { conversationId } = visitor.session;
      const agent = await connectAgent(b.url, b.agent.token);
      const log = heard(agent, ['typing', 'visitor:presence']);
      visitor.emit('typing', { typing: true });
      await waitUntil('the agent on B seeing the visitor on C typing', () => log.some((e) => e.event === 'typing' && e.payload.typing === true) || undefined);
      await c.stop();
      await waitUntil('the agent on B told that the visitor of the stopped node is offline', () =>
        log.some((e) => e.event === 'visitor:presence' && e.payload.conversationId === conversationId && e.payload.online === false) || undefined,
      );
      expect(untilOffline(log, conversationId)).toEqual(['typing:true', 'typing:false', 'offline']);
      visitor.close();
      agent.close();
    } finally {
      await c.stop();
    }
  });

  it("ends an agent's typing for the visitor and the other agents on other nodes when the agent's node stops gracefully", async () => {
    const [a, b] = nodes as [TestBridge, TestBridge];
    const c = await startThirdNode();
    try {
      const visitor = await connectVisitor(a.url);
      const { conversationId } = visitor.session;
      const colleague = await connectAgent(b.url, b.agent.token);
      const typist = await connectAgent(c.node.url, c.node.agent.token);
      const visitorTyping = collect(visitor, 'typing');
      const colleagueTyping = collect(colleague, 'typing');
      typist.emit('typing', { conversationId, typing: true });
      await waitUntil('the visitor on A seeing the agent on C typing', () => visitorTyping.some((e) => e.typing) || undefined);
      await waitUntil('the agent on B seeing the agent on C typing', () => colleagueTyping.some((e) => e.typing) || undefined);
      // C's pool ends with its close: only a stop sent as C disconnects its agent, before its adapter closes, gets
      // through; the agent's own expiry timer would fire on C after that.
      await c.stop();
      await waitUntil('the visitor on A told the agent on C stopped typing', () => visitorTyping.some((e) => !e.typing) || undefined);
      await waitUntil('the agent on B told the agent on C stopped typing', () => colleagueTyping.some((e) => !e.typing) || undefined);
      for (const seen of [visitorTyping, colleagueTyping]) {
        expect(seen.map((e) => ({ conversationId: e.conversationId, role: e.role, typing: e.typing }))).toEqual([
          { conversationId, role: 'agent', typing: true },
          { conversationId, role: 'agent', typing: false },
        ]);
      }
      visitor.close();
      colleague.close();
      typist.close();
    } finally {
      await c.stop();
    }
  });
});
