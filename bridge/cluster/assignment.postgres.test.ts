/**
 * Assignment across nodes: two bridges on one database (testing/postgres-nodes.ts). A reply on node A assigns the conversation and an agent on node B hears it live; a transfer on B reaches
 * A; racing replies on both nodes leave exactly one assignee; a deactivation on B unassigns live on A. The team state
 * around it crosses nodes too: an agent going Away or Online on A changes what visitors on B are told, business hours
 * and round-robin set on A hold on B, and a saved reply an admin changes on B reaches the consoles on A.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginResult } from '../../protocol/agents.ts';
import type { PostgresStore } from '../store/postgres/postgres-store.ts';
import { startPostgresNodes, type PostgresNodes } from '../testing/postgres-nodes.ts';
import { DEFAULT_BUSINESS_HOURS, type BusinessHours } from '../../protocol/business-hours.ts';
import { collect, connectAgent, connectVisitor, connectVisitorHearingAgents, emitWithAck, nextEvent, type AgentClient } from '../testing/clients.ts';
import { waitUntil } from '../testing/wait-until.ts';
import { holdNextRead } from '../testing/held-read.ts';
import { BUSINESS_HOURS_KEY, SETTINGS_RECORDS } from '../team-availability.ts';

const ADMIN = { name: 'boss', displayName: 'Boss', role: 'admin', password: 'boss-password-1' } as const;
const AGENT = { name: 'ana', displayName: 'Ana', role: 'agent', password: 'ana-password-12' } as const;
const OTHER = { name: 'ben', displayName: 'Ben', role: 'agent', password: 'ben-password-12' } as const;
/** Opening hours on no day: the team is closed whenever they apply. */
const CLOSED: BusinessHours = { enabled: true, timeZone: 'UTC', weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] } };
let nodes: PostgresNodes;
let urls: string[];
let stores: PostgresStore[];

beforeAll(async () => {
  nodes = await startPostgresNodes({
    database: 'assignment_cluster',
    agents: [ADMIN, AGENT, OTHER],
    // Each test signs in anew, more than the default 10 times a minute in all (the limit is shared by the nodes).
    configure: (config) => ({ ...config, rateLimits: { ...config.rateLimits, loginPerMinute: 100 } }),
  });
  ({ urls, stores } = nodes);
});

afterAll(() => nodes?.close());

async function login(node: number, who: { name: string; password: string }): Promise<{ token: string; id: string }> {
  const res = await fetch(`${urls[node]}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: who.name, password: who.password }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as LoginResult;
  return { token: body.token, id: body.agent.id };
}

const sockets: { close(): void }[] = [];
afterAll(() => {
  for (const socket of sockets) socket.close();
});

async function console_(node: number, who: { name: string; password: string }): Promise<{ id: string; token: string; socket: AgentClient }> {
  const session = await login(node, who);
  const socket = await connectAgent(urls[node]!, session.token, { reconnection: false });
  sockets.push(socket);
  return { ...session, socket };
}

describe('assignment across nodes', () => {
  it('a reply on one node, a transfer on the other, racing replies and a deactivation are seen live on both', async () => {
    const ana = await console_(0, AGENT);
    const ben = await console_(1, OTHER);
    const boss = await login(1, ADMIN);
    const visitor = await connectVisitor(urls[0]!);
    sockets.push(visitor);
    expect((await emitWithAck(visitor, 'message:send', { clientId: 'v1', text: 'hello' })).ok).toBe(true);
    const conversationId = visitor.session.conversationId;

    const benHears = nextEvent(ben.socket, 'conversation:updated', undefined, (c) => c.id === conversationId && c.assigneeId === ana.id);
    expect((await emitWithAck(ana.socket, 'message:send', { conversationId, clientId: 'a1', text: 'On it' })).ok).toBe(true);
    await benHears;

    const anaHears = nextEvent(ana.socket, 'conversation:updated', undefined, (c) => c.id === conversationId && c.assigneeId === ben.id);
    const transferred = await emitWithAck(ben.socket, 'conversation:assign', { conversationId, assigneeId: ben.id });
    expect(transferred.ok && transferred.data.assigneeId).toBe(ben.id);
    await anaHears;
    expect((await stores[0]!.getConversation(conversationId))!.assigneeId).toBe(ben.id);

    // Racing first replies on the two nodes: exactly one replier is the assignee, and both nodes say the same.
    const second = await connectVisitor(urls[1]!);
    sockets.push(second);
    await emitWithAck(second, 'message:send', { clientId: 'v2', text: 'anyone?' });
    const raced = second.session.conversationId;
    await Promise.all([
      emitWithAck(ana.socket, 'message:send', { conversationId: raced, clientId: 'ra', text: 'me' }),
      emitWithAck(ben.socket, 'message:send', { conversationId: raced, clientId: 'rb', text: 'me' }),
    ]);
    const winner = (await stores[0]!.getConversation(raced))!.assigneeId;
    expect([ana.id, ben.id]).toContain(winner);
    expect((await stores[1]!.getConversation(raced))!.assigneeId).toBe(winner);

    // Deactivating Ben on node B: node A's agent sees his conversations unassigned.
    const released = nextEvent(ana.socket, 'conversation:updated', undefined, (c) => c.id === conversationId && c.assigneeId === undefined);
    const res = await fetch(`${urls[1]}/api/agents/${ben.id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${boss.token}` },
      body: JSON.stringify({ active: false }),
    });
    expect(res.status).toBe(200);
    await released;
    const mine = await emitWithAck(ana.socket, 'conversations:list', { assignee: 'unassigned' });
    expect(mine.ok && mine.data.conversations.map((c) => c.id)).toContain(conversationId);
  });
});

describe('team state across nodes', () => {
  async function rest(node: number, method: string, path: string, token: string, json?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${urls[node]}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Every `agents:presence` a new visitor on `node` hears, from the first one on (listening before it connects). */
  async function visitorHeard(node: number): Promise<number[]> {
    const { visitor, agentCounts: seen } = await connectVisitorHearingAgents(urls[node]!);
    sockets.push(visitor);
    await waitUntil(`the first agents:presence of a new visitor on node ${node}`, () => seen.length > 0);
    return seen;
  }

  /**
   * Expects that a visitor on node B `heard` nothing after its first `told` counts, up to a marker: B announcing the
   * admin's console connecting to it (the second agent taking chats), which reaches the visitor after whatever B told
   * it before (one node, one socket, in order).
   */
  async function expectNothingToldBefore(heard: number[], told: number): Promise<void> {
    const marker = await console_(1, ADMIN);
    await waitUntil("the visitor on node B told of the admin's console", () => heard.at(-1) === 2);
    expect(heard.slice(told)).toEqual([2]);
    marker.socket.close();
    await waitUntil("the visitor on node B told the admin's console closed", () => heard.at(-1) === 1);
  }

  /**
   * Ana's console on node A, a visitor on node B that heard her online, then the hours closed by an admin on A: the
   * visitor told, node B holding them.
   */
  async function hoursClosedOnA() {
    await console_(0, AGENT);
    const boss = await login(0, ADMIN);
    const heard = await visitorHeard(1);
    await waitUntil('the visitor on node B told Ana is online', () => heard.at(-1) === 1);
    const onB = nodes.bridges[1]!.context.availability;
    expect((await rest(0, 'PUT', '/api/settings/business-hours', boss.token, CLOSED)).status).toBe(200);
    await waitUntil('the visitor on node B told the team is away outside business hours', () => heard.at(-1) === 0);
    await waitUntil('node B holding the closed hours', async () => (await onB.businessHours()).enabled);
    return { boss, heard, onB };
  }

  /** The latest `agents:presence` count a new visitor on `node` heard. */
  async function visitorOn(node: number): Promise<() => number | undefined> {
    const seen = await visitorHeard(node);
    return () => seen.at(-1);
  }

  it('an agent going Away and Online on node A changes what visitors on node B are told', async () => {
    const ana = await console_(0, AGENT);
    const watcher = await visitorOn(1);
    await waitUntil('the visitor on node B told Ana (on node A) is online', () => watcher() === 1);

    expect((await rest(0, 'PUT', '/api/auth/availability', ana.token, { availability: 'away' })).status).toBe(200);
    await waitUntil('the visitor on node B told nobody is online', () => watcher() === 0);
    // A visitor arriving on B now reads the availability of A's sockets: nobody.
    expect((await visitorOn(1))()).toBe(0);

    expect((await rest(0, 'PUT', '/api/auth/availability', ana.token, { availability: 'online' })).status).toBe(200);
    await waitUntil('the visitor on node B told Ana is back', () => watcher() === 1);
    expect((await visitorOn(1))()).toBe(1);
  });

  it('business hours and round-robin set on node A hold on node B: for its visitors and its next visitor message', async () => {
    const ana = await console_(0, AGENT);
    const boss = await login(0, ADMIN);
    const watcher = await visitorOn(1);
    await waitUntil('the visitor on node B told Ana is online', () => watcher() === 1);
    const settingOnB = async <T>(path: string) => (await rest(1, 'GET', path, boss.token)).body as T;

    expect((await rest(0, 'PUT', '/api/settings/business-hours', boss.token, CLOSED)).status).toBe(200);
    await waitUntil('the visitor on node B told the team is away outside business hours', () => watcher() === 0);
    await waitUntil('node B holding the new business hours', async () => (await settingOnB<BusinessHours>('/api/settings/business-hours')).enabled);
    expect((await visitorOn(1))()).toBe(0);
    expect((await rest(0, 'PUT', '/api/settings/business-hours', boss.token, DEFAULT_BUSINESS_HOURS)).status).toBe(200);
    await waitUntil('the visitor on node B told the team is back', () => watcher() === 1);
    await waitUntil('node B holding business hours off', async () => !(await settingOnB<BusinessHours>('/api/settings/business-hours')).enabled);

    expect((await rest(0, 'PUT', '/api/settings/assignment', boss.token, { roundRobin: true })).status).toBe(200);
    try {
      await waitUntil('node B holding round-robin on', async () => (await settingOnB<{ roundRobin: boolean }>('/api/settings/assignment')).roundRobin);
      const visitor = await connectVisitor(urls[1]!);
      sockets.push(visitor);
      expect((await emitWithAck(visitor, 'message:send', { clientId: 'rr1', text: 'round robin?' })).ok).toBe(true);
      // Ana (Online, console on node A) is the only agent taking chats.
      await waitUntil('the conversation on node B assigned to Ana', async () => (await stores[1]!.getConversation(visitor.session.conversationId))?.assigneeId === ana.id);
    } finally {
      await rest(0, 'PUT', '/api/settings/assignment', boss.token, { roundRobin: false });
    }
  });

  it("a check on node B whose read was overtaken by business hours reopened on node A tells B's visitors nothing stale", async () => {
    const { boss, heard, onB } = await hoursClosedOnA();

    // B's periodic check reads the closed hours and is held there; A reopens them meanwhile, and B hears of it.
    const read = holdNextRead(stores[1]!, SETTINGS_RECORDS, BUSINESS_HOURS_KEY);
    const checked = onB.check();
    await read.reached;
    expect((await rest(0, 'PUT', '/api/settings/business-hours', boss.token, DEFAULT_BUSINESS_HOURS)).status).toBe(200);
    await waitUntil('the visitor on node B told the team is back', () => heard.at(-1) === 1);
    await waitUntil('node B holding business hours off', async () => !(await onB.businessHours()).enabled);
    const told = heard.length;
    read.release();
    await checked;
    expect(await onB.businessHours()).toEqual(DEFAULT_BUSINESS_HOURS);
    // Its next check finds nothing to tell: A told B's visitors of the reopening already.
    await onB.check();

    await expectNothingToldBefore(heard, told);
  });

  it("a check on node B that read the hours before node A reopened them, and ended first, tells B's visitors nothing", async () => {
    const { boss, heard, onB } = await hoursClosedOnA();

    // B's check reads the closed hours; A reopens them, and B's re-read on hearing of it is held until the check ends.
    const checkRead = holdNextRead(stores[1]!, SETTINGS_RECORDS, BUSINESS_HOURS_KEY);
    const checked = onB.check();
    await checkRead.reached;
    const changeRead = holdNextRead(stores[1]!, SETTINGS_RECORDS, BUSINESS_HOURS_KEY);
    expect((await rest(0, 'PUT', '/api/settings/business-hours', boss.token, DEFAULT_BUSINESS_HOURS)).status).toBe(200);
    await waitUntil('the visitor on node B told the team is back', () => heard.at(-1) === 1);
    await changeRead.reached;
    const told = heard.length;
    // The closing these hours mean was announced by A when it closed them: nothing to tell.
    checkRead.release();
    await checked;
    changeRead.release();
    await waitUntil('node B holding business hours off', async () => !(await onB.businessHours()).enabled);
    // Nor is the reopening B's to tell: A told every visitor.
    await onB.check();

    await expectNothingToldBefore(heard, told);
  });

  it('a saved reply changed by an admin on node B reaches a console on node A, which lists it', async () => {
    const ana = await console_(0, AGENT);
    const boss = await login(1, ADMIN);
    const changes = collect(ana.socket, 'saved-replies:changed');
    expect((await rest(1, 'PUT', '/api/saved-replies/thanks', boss.token, { text: 'Thanks for waiting!' })).status).toBe(201);
    await waitUntil('the console on node A told of the new saved reply', () => changes.length === 1);
    expect((await rest(0, 'GET', '/api/saved-replies', ana.token)).body).toEqual({
      savedReplies: [{ shortcut: 'thanks', text: 'Thanks for waiting!', updatedAt: expect.any(String) }],
    });
    expect((await rest(1, 'DELETE', '/api/saved-replies/thanks', boss.token)).status).toBe(204);
    await waitUntil('the console on node A told of the deletion', () => changes.length === 2);
  });
});
