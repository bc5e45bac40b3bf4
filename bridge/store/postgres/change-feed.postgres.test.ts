/**
 * The change feed (change-feed.ts) between two bridge nodes on one database: every new message and status change
 * reaches the sockets of both nodes once and in order — through the NOTIFY of the transaction that stored it, not
 * Socket.IO's adapter, also when the message is too large for a NOTIFY payload — and a node whose LISTEN connection
 * was cut, or stopped answering, is unhealthy until it listens again and then tells its sockets `changes:missed`.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../../protocol/agents.ts';
import type { ConversationSummary } from '../../../protocol/conversation.ts';
import type { Message } from '../../../protocol/message.ts';
import { AGENT_NAMESPACE, VISITOR_NAMESPACE } from '../../../protocol/events.ts';
import { startPostgresNodes, type PostgresNodes } from '../../testing/postgres-nodes.ts';
import { collect, connectAgent, connectVisitor, emitWithAck, type AgentClient, type VisitorClient } from '../../testing/clients.ts';
import { waitUntil } from '../../testing/wait-until.ts';
import { CHANGE_FEED_CHANNEL } from './change-feed.ts';
import { PostgresStore } from './postgres-store.ts';
import { silentLogger } from '../../logger.ts';

const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
let nodes: PostgresNodes;
const sockets: { close(): unknown }[] = [];

beforeAll(async () => {
  nodes = await startPostgresNodes({ database: 'change_feed', agents: [ADMIN] });
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});
afterAll(() => nodes?.close());

async function agentOn(node: number): Promise<AgentClient> {
  const res = await fetch(`${nodes.urls[node]}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: ADMIN.name, password: ADMIN.password }),
  });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as LoginResult;
  const agent = await connectAgent(nodes.urls[node]!, token);
  sockets.push(agent);
  return agent;
}

const clientIds = (messages: readonly Message[]): string[] => messages.map((m) => m.clientId);

/** The `conversation:updated` summaries among payloads of Socket.IO's adapter (its broadcasts, as JSON). */
function adapterSummaries(payloads: readonly string[]): ConversationSummary[] {
  return payloads.flatMap((payload) => {
    const packet = (JSON.parse(payload) as { data?: { packet?: { data?: unknown[] } } }).data?.packet?.data;
    return packet?.[0] === 'conversation:updated' ? [packet[1] as ConversationSummary] : [];
  });
}

/** Backends LISTENing on the change feed's channel. */
async function feedBackends(): Promise<number[]> {
  const { rows } = await nodes.admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
    [`LISTEN ${CHANGE_FEED_CHANNEL}`],
  );
  return rows.map((row) => row.pid);
}

describe('change feed between two nodes', () => {
  it("carries every new message and status to the other node's sockets once and in order, not through the adapter, large ones too", async () => {
    // Everything Socket.IO's adapter publishes on this database, heard by a connection of the test's own.
    const adapterPayloads: string[] = [];
    const listener = new pg.Client(nodes.admin.options);
    await listener.connect();
    try {
      listener.on('notification', (n) => void adapterPayloads.push(n.payload ?? ''));
      await listener.query(`LISTEN "socket.io#${VISITOR_NAMESPACE}"`);
      await listener.query(`LISTEN "socket.io#${AGENT_NAMESPACE}"`);

      const agentA = await agentOn(0);
      const agentB = await agentOn(1);
      const heardOnA = collect(agentA, 'message:new');
      const heardOnB = collect(agentB, 'message:new');
      const visitor: VisitorClient = await connectVisitor(nodes.urls[0]!);
      sockets.push(visitor);
      const heardByVisitor = collect(visitor, 'message:new');

      const first = await emitWithAck(visitor, 'message:send', { clientId: 'v-1', text: 'hello from A' });
      expect(first.ok).toBe(true);
      const conversationId = first.ok ? first.data.conversationId : '';
      // Sent together: they share append transactions, so one transaction NOTIFYs several messages.
      const sends = await Promise.all([
        ...[2, 3, 4].map((i) => emitWithAck(visitor, 'message:send', { clientId: `v-${i}`, text: `visitor ${i}` })),
        ...[1, 2].map((i) => emitWithAck(agentB, 'message:send', { conversationId, clientId: `a-${i}`, text: `reply ${i}` })),
      ]);
      expect(sends.every((ack) => ack.ok)).toBe(true);
      // Longer than a NOTIFY payload may be (8,000 bytes of UTF-8): announced by its ids, read by node A.
      const large = 'é'.repeat(4000);
      expect((await emitWithAck(agentB, 'message:send', { conversationId, clientId: 'a-large', text: large })).ok).toBe(true);
      expect((await emitWithAck(visitor, 'message:send', { clientId: 'v-last', text: 'the last one' })).ok).toBe(true);

      const stored = (await nodes.stores[0]!.getChangesSince(conversationId, 0, 100)).sort((x, y) => x.seq - y.seq);
      expect(stored).toHaveLength(8);
      // Every socket hears each message once (the sender's own sockets included: a node drops what it published
      // itself when the feed brings it back), and the messages of each node in the order of their seq. Between the
      // nodes the order is not kept: a node serves its own sockets right after its commit, another node's messages
      // when their notification arrives, which may be later (clients order by seq; the jump in rev makes them sync).
      const storedOn = (prefix: string) => clientIds(stored).filter((id) => id.startsWith(prefix));
      for (const [what, heard] of [['agent on A', heardOnA], ['agent on B', heardOnB], ['visitor on A', heardByVisitor]] as const) {
        await waitUntil(`the ${what} hearing all 8`, () => heard.filter((m) => m.conversationId === conversationId).length >= 8);
        const mine = clientIds(heard.filter((m) => m.conversationId === conversationId));
        expect([...mine].sort(), what).toEqual(clientIds(stored).sort());
        for (const prefix of ['v-', 'a-']) expect(mine.filter((id) => id.startsWith(prefix)), what).toEqual(storedOn(prefix));
      }
      expect(heardByVisitor.find((m) => m.clientId === 'a-large')?.text).toBe(large);
      expect(heardOnA.find((m) => m.clientId === 'a-large')).toEqual(stored.find((m) => m.clientId === 'a-large'));

      // The visitor on A reads the replies (one receipt, one status transaction): the agent on B hears each reply
      // become read once, the large one too (announced by its ids), and so does the agent on A.
      const statusesOnA = collect(agentA, 'message:status');
      const statusesOnB = collect(agentB, 'message:status');
      const lastReply = stored.filter((m) => m.author.role === 'agent').at(-1)!;
      expect(await emitWithAck(visitor, 'receipt', { upToSeq: stored.at(-1)!.seq, status: 'read' })).toEqual({ ok: true, data: { changed: 3 } });
      for (const [what, heard] of [['agent on A', statusesOnA], ['agent on B', statusesOnB]] as const) {
        await waitUntil(`the ${what} hearing the last reply read`, () => heard.some((c) => c.messageId === lastReply.id));
        expect(heard.map((c) => `${c.clientId}:${c.status}`), what).toEqual(['a-1:read', 'a-2:read', 'a-large:read']);
      }
      // No message came twice later on either.
      for (const heard of [heardOnA, heardOnB, heardByVisitor]) expect(heard.filter((m) => m.conversationId === conversationId)).toHaveLength(8);
      // The adapter carried the conversation summaries, not one message or status. Node A publishes the summary of the
      // read (at the end of its coalescing window) after the statuses, in the one ordered stream of its NOTIFYs: a
      // status it sent through the adapter would be among the payloads by the time that summary is.
      await waitUntil("node A's summary of the read on the adapter", () =>
        adapterSummaries(adapterPayloads).some((summary) => summary.id === conversationId && summary.visitorReadSeq > 0),
      );
      expect(adapterPayloads.filter((p) => p.includes('"message:new"') || p.includes('"message:status"'))).toEqual([]);
    } finally {
      await listener.end();
    }
  });

  it('a node whose LISTEN connection was cut listens again, tells its sockets changes:missed, and hears new messages', async () => {
    const agentA = await agentOn(0);
    const agentB = await agentOn(1);
    const missedOnA = collect(agentA, 'changes:missed');
    const missedOnB = collect(agentB, 'changes:missed');
    const heardOnA = collect(agentA, 'message:new');
    const visitor = await connectVisitor(nodes.urls[1]!);
    sockets.push(visitor);
    const before = await feedBackends();
    expect(before).toHaveLength(2);
    const { rows } = await nodes.admin.query<{ gone: boolean }>(
      'SELECT pg_terminate_backend(pid, 60000) AS gone FROM unnest($1::int[]) AS pid',
      [before],
    );
    expect(rows.map((row) => row.gone)).toEqual([true, true]);
    await waitUntil('a new feed backend on each node', async () => {
      const now = await feedBackends();
      return now.length === 2 && !now.some((pid) => before.includes(pid));
    });
    await waitUntil('the sockets of both nodes told changes:missed', () => missedOnA.length === 1 && missedOnB.length === 1);
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'after', text: 'after the reconnect' })).ok).toBe(true);
    await waitUntil('the agent on A hearing the message sent on B', () => heardOnA.some((m) => m.clientId === 'after'));
  });

  it('gives up a LISTEN connection that stops answering, is unhealthy until it listens again, then tells of what it missed', async () => {
    const others = await feedBackends();
    const pool = new pg.Pool({ connectionString: nodes.admin.options.connectionString, max: 2 });
    // Checked often, so the frozen connection is found soon after it froze; given up on only after production's 5 s,
    // so that a check of a healthy connection, however slow a loaded machine makes it, does not end it too (that would
    // count another missed, or drop the message the test waits for while the feed listens again).
    const store = new PostgresStore({ pool, logger: silentLogger(), changeFeed: { pingEveryMs: 50, pingTimeoutMs: 5_000 } });
    const url = new URL(nodes.admin.options.connectionString!);
    const database = pg.escapeIdentifier(url.pathname.slice(1));
    // A database's connections can only be refused from another one.
    url.pathname = '/postgres';
    const server = new pg.Client({ connectionString: url.href });
    await server.connect();
    let stopped: number | undefined;
    try {
      await store.open();
      const feed = store.changeFeed!;
      let missed = 0;
      feed.onMissed(() => missed++);
      const heard: Message[] = [];
      feed.onMessageCreated((message) => void heard.push(message));
      expect(store.health().ok).toBe(true);
      [stopped] = (await feedBackends()).filter((pid) => !others.includes(pid));
      expect(stopped).toBeDefined();
      // Its backend frozen, the connection stays open but answers nothing; no new connection may open meanwhile.
      await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      process.kill(stopped!, 'SIGSTOP');
      await waitUntil('the store reporting its feed not listening', () => !store.health().ok);
      expect(store.health().lastError).toBe('change feed not listening');
      expect(missed).toBe(0);
      await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await waitUntil('the feed listening again on a new backend, telling of what it missed', () => missed === 1 && store.health().ok);
      expect((await feedBackends()).filter((pid) => !others.includes(pid) && pid !== stopped)).toHaveLength(1);
      // A node's message reaches it on the new connection.
      const visitor = await connectVisitor(nodes.urls[0]!);
      sockets.push(visitor);
      expect((await emitWithAck(visitor, 'message:send', { clientId: 'heard', text: 'on the new connection' })).ok).toBe(true);
      await waitUntil('the feed hearing the message', () => heard.some((m) => m.clientId === 'heard'));
    } finally {
      await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await server.end();
      if (stopped !== undefined) {
        process.kill(stopped, 'SIGCONT');
        await nodes.admin.query('SELECT pg_terminate_backend($1, 10000)', [stopped]);
      }
      await store.close();
      await pool.end();
    }
  });
});
