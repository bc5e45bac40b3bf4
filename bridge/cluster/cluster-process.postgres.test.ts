/**
 * Real bridge processes with DATABASE_URL (bridge/main.ts through startBridgeProcess): bad database settings end the
 * start with one sentence, three nodes starting together on an empty database migrate once and create one bootstrap
 * agent, a node with other secrets is refused, a visitor on one node and an agent on another see each other live, a
 * conversation summary whose presence lookup timed out on a stopped node is sent again (and so is a visitor's going
 * offline), a node that shuts down tells the other nodes' agents that its visitors left and their visitors that its
 * agents left, and a database that goes away mid-traffic costs `storage_unavailable` answers and a 503 /health — never
 * an acknowledgement of something not committed — until it is back, without a restart; and a node stopped inside an
 * append transaction holds up another node's reply in that conversation only until PostgreSQL ends its idle
 * transaction (DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS), its own send refused and then stored when it resumes; and
 * the typing indicators of a killed node end in the console and the widget on another node by their own expiry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import type { Ack } from '../../protocol/errors.ts';
import type { Message } from '../../protocol/message.ts';
import {
  collect,
  connectAgent,
  connectVisitor,
  connectVisitorHearingAgents,
  emitWithAck,
  nextEvent,
  PROCESS_ADMIN,
  startBridgeProcess,
  type BridgeProcess,
  type ConnectedVisitor,
  waitUntil,
} from '../testing/index.ts';
import { createTestDatabase } from '../testing/test-database.ts';
import { databaseUrl as onDatabase } from '../testing/postgres.ts';
import { startHaproxy, type Haproxy } from '../testing/haproxy.ts';
import { headlessWidget } from '../testing/headless-widget.ts';
import { AgentConnection } from '../../console/agent-connection.ts';
import { ThreadController } from '../../console/controllers/thread-controller.ts';
import { TypingController } from '../../widget/controllers/typing-controller.ts';

const SECRETS = {
  VISITOR_TOKEN_SECRET: 'cluster-visitor-secret-0123456789',
  AGENT_TOKEN_SECRET: 'cluster-agent-secret-0123456789',
  SITE_SECRET: 'cluster-site-secret-0123456789',
};
const dirs: string[] = [];
let haproxy: Haproxy | undefined;
const processes: BridgeProcess[] = [];
let url: string;
let admin: pg.Pool;

beforeAll(async () => {
  url = await createTestDatabase('cluster_process');
  admin = new pg.Pool({ connectionString: inject('postgresAdminUrl'), max: 2 });
});

afterAll(async () => {
  await haproxy?.close();
  await Promise.all(processes.map((node) => node.kill('SIGKILL')));
  await admin?.end();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function startNode(env: Record<string, string> = {}): Promise<BridgeProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-node-'));
  dirs.push(dataDir);
  const node = await startBridgeProcess({ dataDir, env: { DATABASE_URL: url, ...SECRETS, ...env }, timeoutMs: 60_000 });
  processes.push(node);
  return node;
}

/** The start's failure output (startBridgeProcess rejects with what the process printed). */
async function startFailure(env: Record<string, string>): Promise<string> {
  const error = await startNode(env).then(
    () => new Error('the node started'),
    (failure: unknown) => failure as Error,
  );
  return error.message;
}

async function agentToken(node: { url: string }): Promise<string> {
  const res = await fetch(`${node.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(PROCESS_ADMIN),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** The nodes still running, in start order. */
function running(): BridgeProcess[] {
  return processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
}

/**
 * A visitor on node `a` who has written once, and an agent on node `b` recording the summaries and presence events it
 * hears: the agents' view of a visitor on another node.
 */
async function visitorWatchedAcrossNodes(a: BridgeProcess, b: BridgeProcess, clientId: string, text: string) {
  const visitor = await connectVisitor(a.url);
  const first = await emitWithAck(visitor, 'message:send', { clientId, text });
  expect(first.ok).toBe(true);
  const conversationId = (first as { data: Message }).data.conversationId;
  const agent = await connectAgent(b.url, await agentToken(b));
  const summaries = collect(agent, 'conversation:updated');
  const presence = collect(agent, 'visitor:presence');
  /** Whether the agent was told, by either event, that the visitor is offline. */
  const toldOffline = () =>
    presence.some((p) => p.conversationId === conversationId && !p.online) ||
    summaries.some((s) => s.id === conversationId && s.visitorOnline === false) ||
    undefined;
  return { visitor, conversationId, agent, summaries, toldOffline };
}

describe('bridge processes on PostgreSQL', () => {
  it('ends a start with bad database settings in one sentence naming the server, never a stack', async () => {
    const missing = onDatabase(inject('postgresAdminUrl'), 'no_such_database');
    // A wrong scheme never reaches main's database code: config.test.ts covers its message.
    const [unreachable, noDatabase] = await Promise.all([
      startFailure({ DATABASE_URL: 'postgres://chat:secret-pw@127.0.0.1:1/chat' }),
      startFailure({ DATABASE_URL: missing }),
    ]);
    expect(unreachable).toContain('anon-chat: cannot reach PostgreSQL at 127.0.0.1:1');
    expect(noDatabase).toMatch(/anon-chat: PostgreSQL at 127\.0\.0\.1:\d+ has no database "no_such_database"/);
    for (const output of [unreachable, noDatabase]) {
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain('secret-pw');
    }
  });

  it('starts three nodes together on an empty database, refuses one with other secrets, and carries chat across nodes', async () => {
    const nodes = await Promise.all([startNode(), startNode(), startNode()]);
    const created = nodes.filter((node) => node.output().includes('Created admin "admin"'));
    expect(created).toHaveLength(1);
    const db = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM agents');
      expect(rows[0]?.n).toBe(1);
    } finally {
      await db.end();
    }

    expect(await startFailure({ SITE_SECRET: 'another-site-secret-0123456789' })).toContain('differ from the ones the other nodes');

    const [a, b] = nodes;
    const visitor = await connectVisitor(a.url);
    const agent = await connectAgent(b.url, await agentToken(b));
    const seen = nextEvent(agent, 'message:new', 15_000);
    const sent = await emitWithAck(visitor, 'message:send', { clientId: 'c-1', text: 'from node A' });
    expect(sent.ok).toBe(true);
    expect((await seen).text).toBe('from node A');
    const reply = nextEvent(visitor, 'message:new', 15_000, (m) => m.author.role === 'agent');
    const conversationId = (sent as { data: Message }).data.conversationId;
    expect((await emitWithAck(agent, 'message:send', { conversationId, clientId: 'r-1', text: 'from node B' })).ok).toBe(true);
    expect((await reply).text).toBe('from node B');
    visitor.close();
    agent.close();

    // One URL through haproxy: a widget-like WebSocket client and a console over HTTP long-polling only, which works
    // only if the cookie keeps every poll of a session on the node that opened it.
    haproxy = await startHaproxy(nodes.map((node) => node.port), { checkIntervalMs: 500 });
    const front = haproxy.url;
    const frontVisitor = await connectVisitor(front, {}, { timeoutMs: 15_000 });
    const pollingAgent = await connectAgent(front, await agentToken({ url: front }), {
      transports: ['polling'],
      withCredentials: true,
      timeoutMs: 15_000,
    });
    const heard = nextEvent(pollingAgent, 'message:new', 15_000, (m) => m.clientId === 'via-haproxy');
    const viaFront = await emitWithAck(frontVisitor, 'message:send', { clientId: 'via-haproxy', text: 'one URL' }, 15_000);
    expect(viaFront.ok).toBe(true);
    expect((await heard).text).toBe('one URL');
    const answer = nextEvent(frontVisitor, 'message:new', 15_000, (m) => m.clientId === 'polled-reply');
    const frontConversation = (viaFront as { data: Message }).data.conversationId;
    for (let i = 0; i < 5; i++) {
      const ack = await emitWithAck(pollingAgent, 'message:send', { conversationId: frontConversation, clientId: i === 4 ? 'polled-reply' : `polled-${i}`, text: `reply ${i}` }, 15_000);
      expect(ack.ok).toBe(true);
    }
    expect((await answer).text).toBe('reply 4');
    frontVisitor.close();
    pollingAgent.close();
  });

  it("sends a conversation's summary again when a node did not answer the presence lookup, so agents still get the last one", async () => {
    const [a, b, c] = running();
    const { visitor, conversationId, agent, summaries } = await visitorWatchedAcrossNodes(a!, b!, 'summary-1', 'visitor on A');
    // Node C stops answering: node B's summary of its agent's reply asks every node whether the visitor (on A) is
    // online, and that lookup times out waiting for C.
    c!.child.kill('SIGSTOP');
    try {
      const reply = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'summary-2', text: 'agent on B' }, 30_000);
      expect(reply.ok).toBe(true);
      await waitUntil('node B to log the failed summary', () => b!.output().includes('fanout: conversation update failed') || undefined, { timeoutMs: 60_000 });
    } finally {
      c!.child.kill('SIGCONT');
    }
    // Nothing else happens in the conversation: only the summary sent again can bring the reply to the agent.
    await waitUntil(
      'the summary of the agent reply, sent again',
      () => summaries.find((s) => s.id === conversationId && s.lastMessage?.text === 'agent on B'),
      { timeoutMs: 60_000 },
    );
    visitor.close();
    agent.close();
  });

  it('tells agents a visitor went offline even when a node did not answer the presence lookup', async () => {
    const [a, b, c] = running();
    const { visitor, agent, toldOffline } = await visitorWatchedAcrossNodes(a!, b!, 'presence-1', 'soon gone');
    const logged = a!.output().length;
    // The visitor leaves node A while node C does not answer: A's lookup of whether the visitor is still online
    // anywhere times out waiting for C.
    c!.child.kill('SIGSTOP');
    try {
      visitor.close();
      await waitUntil('node A to log the failed presence lookup', () => /visitor presence (lookup|announcement) failed/.test(a!.output().slice(logged)) || undefined, {
        timeoutMs: 60_000,
      });
    } finally {
      c!.child.kill('SIGCONT');
    }
    await waitUntil('the agents told that the visitor is offline', toldOffline, { timeoutMs: 60_000 });
    agent.close();
  });

  it('tells a visitor who connected while a node did not answer how many agents take chats once the count gets through, and stores their message with round-robin on', async () => {
    const [a, , c] = running();
    const token = await agentToken(a!);
    const roundRobin = async (on: boolean) => {
      const res = await fetch(`${a!.url}/api/settings/assignment`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ roundRobin: on }),
      });
      expect(res.status).toBe(200);
    };
    await roundRobin(true);
    const logged = a!.output().length;
    // Node C does not answer: node A's count of the agents who take chats, which asks every node, times out; so does
    // round-robin's, which the visitor's first message asks for.
    c!.child.kill('SIGSTOP');
    let agentCounts: number[];
    let visitor: ConnectedVisitor;
    try {
      ({ visitor, agentCounts } = await connectVisitorHearingAgents(a!.url));
      const sent = await emitWithAck(visitor, 'message:send', { clientId: 'rr-1', text: 'while node C is stopped' }, 60_000);
      expect(sent.ok).toBe(true);
      expect(a!.output().slice(logged)).toMatch(/round-robin could not count the agents/);
      await waitUntil('node A to log the failed agent count', () => /agent count for a visitor failed/.test(a!.output().slice(logged)) || undefined, {
        timeoutMs: 60_000,
      });
    } finally {
      c!.child.kill('SIGCONT');
    }
    await waitUntil('the visitor told how many agents take chats', () => agentCounts.length > 0 || undefined, { timeoutMs: 60_000 });
    visitor.close();
    await roundRobin(false);
  });

  it("tells the other nodes' agents that a node's visitors left when that node shuts down", async () => {
    const [a, b] = running();
    const { visitor, agent, toldOffline } = await visitorWatchedAcrossNodes(a!, b!, 'shutdown-1', 'on a node about to stop');
    // A graceful stop (SIGTERM: bridge, then store, then pool, as bridge/main.ts closes them).
    expect(await a!.kill('SIGTERM')).toBe(0);
    await waitUntil('the agent on node B told that the visitor of the stopped node is offline', toldOffline, { timeoutMs: 30_000 });
    visitor.close();
    agent.close();
  });

  it("tells the other nodes' visitors that a node's agents left when that node shuts down", async () => {
    const [a, b] = running();
    const { visitor, agentCounts } = await connectVisitorHearingAgents(b!.url);
    // The count the visitor is given on connecting comes first, so nothing older arrives after the agent's.
    await waitUntil('the visitor on node B told how many agents take chats', () => agentCounts.length > 0 || undefined);
    // The only agent online, on node A.
    const agent = await connectAgent(a!.url, await agentToken(a!));
    await waitUntil('the visitor on node B told that the agent on node A takes chats', () => agentCounts.some((online) => online >= 1) || undefined);
    const told = agentCounts.length;
    expect(await a!.kill('SIGTERM')).toBe(0);
    await waitUntil('the visitor on node B told that no agent takes chats', () => agentCounts.slice(told).some((online) => online === 0) || undefined, {
      timeoutMs: 30_000,
    });
    visitor.close();
    agent.close();
  });

  it('answers storage_unavailable and a 503 /health while the database is gone, acknowledges only what committed, and recovers without a restart', async () => {
    const node = running()[0] ?? (await startNode());
    const visitor = await connectVisitor(node.url);
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'before', text: 'before' })).ok).toBe(true);
    const database = new URL(url).pathname.slice(1);

    // The database refuses new connections and loses the ones it had: deterministic, and other files' databases on
    // the same server are untouched.
    await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
    const acks: { clientId: string; ack: Ack<Message> }[] = [];
    try {
      const burst = Array.from({ length: 20 }, (_, i) => `during-${i}`);
      const sending = burst.map(async (clientId) => {
        const ack = await emitWithAck(visitor, 'message:send', { clientId, text: clientId }, 30_000);
        acks.push({ clientId, ack });
      });
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
      await Promise.all(sending);
      await vi.waitFor(
        async () => {
          const ack = await emitWithAck(visitor, 'message:send', { clientId: 'probe', text: 'probe' }, 30_000);
          expect(ack.ok ? 'ok' : ack.error.code).toBe('storage_unavailable');
        },
        { timeout: 30_000, interval: 200 },
      );
      const health = await fetch(`${node.url}/health`);
      expect(health.status).toBe(503);
    } finally {
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
    }
    for (const { ack } of acks) if (!ack.ok) expect(ack.error.code).toBe('storage_unavailable');

    // Back without a restart: health, and sends (a retried clientId is stored once).
    await vi.waitFor(async () => expect((await fetch(`${node.url}/health`)).status).toBe(200), { timeout: 30_000, interval: 250 });
    const after = await emitWithAck(visitor, 'message:send', { clientId: 'after', text: 'after' }, 30_000);
    expect(after.ok).toBe(true);
    const conversationId = (after as { data: Message }).data.conversationId;
    const db = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await db.query<{ client_id: string }>('SELECT client_id FROM messages WHERE conversation_id = $1', [
        conversationId,
      ]);
      const committed = new Set(rows.map((row) => row.client_id));
      for (const { clientId, ack } of acks) if (ack.ok) expect(committed.has(clientId), clientId).toBe(true);
      expect(committed.has('before') && committed.has('after')).toBe(true);
    } finally {
      await db.end();
    }
    visitor.close();
  });

  it("lets the other nodes' chat go on when a node freezes inside an append, and the frozen node carries on when it resumes", async () => {
    // Short enough that the test waits little for A's frozen transaction to end; long enough that no legitimate
    // transaction (which a loaded machine can stall between its statements) is ended too: every send here must succeed.
    const short = { DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '5000' };
    const [a, b] = await Promise.all([startNode(short), startNode(short)]);
    const { visitor, conversationId, agent } = await visitorWatchedAcrossNodes(a, b, 'frozen-0', 'before the freeze');
    const heardOnB = collect(agent, 'message:new');
    const db = new pg.Pool({ connectionString: url, max: 2 });
    const holder = await db.connect();
    try {
      // The test holds the conversation's row, so node A's next append is inside its transaction, waiting for the
      // lock, when A is stopped; releasing the row then completes A's lock statement with A unable to go on.
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', [conversationId]);
      const duringFreeze = emitWithAck(visitor, 'message:send', { clientId: 'frozen-1', text: 'sent as A froze' }, 60_000);
      // Awaited below; a failure before that must not also surface as an unhandled rejection.
      duringFreeze.catch(() => undefined);
      const [waiter] = await waitUntil('node A waiting for the row lock', async () => {
        const { rows } = await db.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return rows.length > 0 && rows.map((row) => row.pid);
      });
      a.child.kill('SIGSTOP');
      try {
        await holder.query('COMMIT');
        // Node B's agent answers in the conversation A's transaction locked: it is stored once PostgreSQL has ended
        // A's idle transaction.
        const reply = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'frozen-reply', text: 'while A is frozen' }, 30_000);
        expect(reply.ok).toBe(true);
        await waitUntil("node A's frozen backend ended", async () => {
          const { rows } = await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [waiter]);
          return rows.length === 0;
        });
      } finally {
        a.child.kill('SIGCONT');
      }
      // A resumes: its transaction is gone, so the send is refused, never acknowledged; sent again, it is stored and
      // reaches node B's agent (A's change feed still listens).
      const refused = await duringFreeze;
      expect(refused.ok ? 'ok' : refused.error.code).toBe('storage_unavailable');
      const again = await emitWithAck(visitor, 'message:send', { clientId: 'frozen-1', text: 'sent as A froze' }, 30_000);
      expect(again.ok).toBe(true);
      await waitUntil('the resent message on node B', () => heardOnB.some((m) => m.clientId === 'frozen-1') || undefined);
      const { rows } = await db.query<{ client_id: string }>('SELECT client_id FROM messages WHERE conversation_id = $1 ORDER BY seq', [conversationId]);
      expect(rows.map((row) => row.client_id)).toEqual(['frozen-0', 'frozen-reply', 'frozen-1']);
    } finally {
      holder.release();
      await db.end();
      visitor.close();
      agent.close();
    }
  });

  it('cuts off a frozen node: its connections end, so it holds nothing of the database, and once it runs again its visitor syncs and hears new messages', async () => {
    const quick = { DATABASE_FROZEN_NODE_AFTER_MS: '5000' };
    const [a, b] = await Promise.all([startNode(quick), startNode(quick)]);
    // Each node names its connections after itself, and says how in its banner.
    const nameOf = (node: BridgeProcess) => /database: +\S+ as (anon-chat\/\S+)/.exec(node.output())?.[1];
    const nameA = nameOf(a)!;
    expect(nameA).toMatch(/^anon-chat\//);
    expect(nameOf(b)).not.toBe(nameA);
    const db = new pg.Pool({ connectionString: url, max: 1 });
    const backendsOfA = async () =>
      (await db.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE application_name = $1', [nameA])).rows.map((row) => row.query);
    const listeningOfA = async () => (await backendsOfA()).filter((query) => query.startsWith('LISTEN ')).length;
    const { visitor, conversationId, agent } = await visitorWatchedAcrossNodes(a, b, 'cut-0', 'before the freeze');
    const heardByVisitor = collect(visitor, 'message:new');
    const missed = collect(visitor, 'changes:missed');
    try {
      // The change feed's LISTEN connection and the adapter's.
      await waitUntil('node A listening on two connections', async () => (await listeningOfA()) >= 2);
      a.child.kill('SIGSTOP');
      try {
        await waitUntil("every connection of the frozen node A ended by the other nodes", async () => (await backendsOfA()).length === 0);
        const reply = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'cut-1', text: 'while A is cut off' }, 30_000);
        expect(reply.ok).toBe(true);
      } finally {
        a.child.kill('SIGCONT');
      }
      await waitUntil('node A listening again', async () => (await listeningOfA()) >= 2);
      // What was committed while A was cut off reaches its visitor by a sync; what comes now, live.
      await waitUntil('the visitor on node A told to sync', () => missed.length > 0 || undefined);
      const missedBefore = missed.length;
      const after = await emitWithAck(agent, 'message:send', { conversationId, clientId: 'cut-2', text: 'A is back' }, 30_000);
      expect(after.ok).toBe(true);
      // Live, or — when A's own check of its LISTEN connection timed out meanwhile (this test's threshold makes that
      // check short, and a loaded machine can stall A past it) and A listened again — by the sync A told it to make.
      await waitUntil('the visitor on node A hearing the reply sent after it came back', async () => {
        if (heardByVisitor.some((m) => m.clientId === 'cut-2')) return true;
        if (missed.length === missedBefore) return undefined;
        const synced = await emitWithAck(visitor, 'sync', { afterRev: 0 });
        return (synced.ok && synced.data.messages.some((m) => m.clientId === 'cut-2')) || undefined;
      });
    } finally {
      await db.end();
      visitor.close();
      agent.close();
    }
  });

  it('ends typing indicators of a killed node in the console and the widget on another node by their own expiry, as the bridge cannot', async () => {
    // The console's connection and the widget's transport open a global WebSocket; the console sends read receipts
    // only for a visible tab, and a hidden one keeps this test about typing.
    vi.stubGlobal('WebSocket', WebSocket);
    vi.stubGlobal('document', { visibilityState: 'hidden' });
    const [a, b] = await Promise.all([startNode(), startNode()]);
    const [tokenA, tokenB] = await Promise.all([agentToken(a), agentToken(b)]);
    // A visitor on A typing to the console on B.
    const visitor = await connectVisitor(a.url);
    const first = await emitWithAck(visitor, 'message:send', { clientId: 'killed-typing-0', text: 'typing on a node about to die' });
    expect(first.ok).toBe(true);
    const visitorConversation = (first as { data: Message }).data.conversationId;
    const consoleHost = { addController() {}, requestUpdate() {}, removeController() {}, updateComplete: Promise.resolve(true) };
    const thread = new ThreadController(consoleHost, { agent: () => ({ id: 'console-on-b', name: 'console on B' }) });
    const agentConnection = new AgentConnection(b.url, tokenB, { onConnect: () => thread.connected(), onState: () => {}, onAuthError: () => {} });
    thread.attach(agentConnection);
    // A plain agent client on B beside the console: what the bridge itself sends B's agents.
    const watcher = await connectAgent(b.url, tokenB);
    const typingOnB = collect(watcher, 'typing');
    // An agent on A typing to a widget on B.
    const widget = headlessWidget(b.url, 'killed-typing');
    const widgetTyping = new TypingController(widget.host, widget.connection);
    widget.connection.start();
    const agentOnA = await connectAgent(a.url, tokenA);
    try {
      await waitUntil('the console on B online', () => agentConnection.state === 'online' || undefined);
      await thread.open(visitorConversation, undefined);
      await waitUntil('the widget on B caught up', () => widget.caughtUps() === 1 || undefined);
      const sent = await widget.connection.transport!.send({ clientId: 'killed-typing-1', text: 'hello from B' });
      visitor.emit('typing', { typing: true });
      agentOnA.emit('typing', { conversationId: sent.conversationId, typing: true });
      await waitUntil('the console on B showing the visitor on A typing', () => thread.typing.some((t) => t.role === 'visitor') || undefined);
      await waitUntil('the widget on B showing the agent on A typing', () => widgetTyping.agentTyping !== undefined || undefined);

      // The bridge's expiry timer of an indicator runs on the node of the typing socket, and died with it.
      await a.kill('SIGKILL');
      await waitUntil('the console on B no longer showing the visitor typing', () => thread.typing.length === 0 || undefined);
      await waitUntil('the widget on B no longer showing the agent typing', () => widgetTyping.agentTyping === undefined || undefined);
      // Ended by the console's and the widget's own expiry: no node sent a stop.
      expect(typingOnB.filter((event) => !event.typing)).toEqual([]);
    } finally {
      visitor.close();
      agentOnA.close();
      watcher.close();
      agentConnection.close();
      thread.detach();
      widget.connection.stop();
      vi.unstubAllGlobals();
    }
  });
});
