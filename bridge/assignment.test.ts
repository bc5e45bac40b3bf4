/**
 * Assignment over real Socket.IO and REST: a reply assigns an unassigned conversation to the replier, agents assign
 * and transfer (every agent hears it), the inbox filters Mine / Unassigned / All, a deactivated agent's
 * conversations become unassigned, round-robin (admins' setting) takes turns among Online agents with a console
 * open; saved replies are managed by admins and read by everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentCreated, LoginResult } from '../protocol/agents.ts';
import type { ConversationSummary } from '../protocol/conversation.ts';
import type { SavedReply, TeamMember } from '../protocol/assignment.ts';
import {
  collect,
  connectAgent,
  connectVisitor,
  emitRaw,
  emitWithAck,
  nextEvent,
  startTestBridge,
  waitUntil,
  type AgentClient,
  type TestBridge,
} from './testing/index.ts';

let tb: TestBridge;
const API_KEY = 'assignment-key-0123456789abcdef';
const open: { close(): void }[] = [];

async function api(path: string, init: { method?: string; token?: string; json?: unknown } = {}) {
  const headers = new Headers({ Authorization: `Bearer ${init.token ?? tb.agent.token}` });
  if (init.json !== undefined) headers.set('Content-Type', 'application/json');
  const res = await fetch(tb.url + path, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const text = await res.text();
   
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) };
}

let counter = 0;
/** A new agent with a session and a connected console socket. */
async function teammate(role: 'admin' | 'agent' = 'agent') {
  const name = `assign-${++counter}`;
  const password = `password-of-${name}`;
  const created = await api('/api/agents', { json: { name, displayName: `Teammate ${counter}`, role, password } });
  expect(created.status).toBe(201);
  const login = await api('/api/auth/login', { json: { name, password } });
  const { token } = login.json as LoginResult;
  const socket = await connectAgent(tb.url, token, { reconnection: false });
  open.push(socket);
  return { id: (created.json as AgentCreated).agent.id, token, socket };
}

/** A visitor conversation with one message; the visitor stays connected. */
async function visitorConversation(text = 'hello') {
  const visitor = await connectVisitor(tb.url);
  open.push(visitor);
  const sent = await emitWithAck(visitor, 'message:send', { clientId: `v-${++counter}`, text });
  expect(sent.ok).toBe(true);
  return { visitor, conversationId: visitor.session.conversationId };
}

function updateOf(socket: AgentClient, conversationId: string, accept: (c: ConversationSummary) => boolean) {
  return nextEvent(socket, 'conversation:updated', undefined, (c) => c.id === conversationId && accept(c));
}

async function listIds(socket: AgentClient, assignee?: 'mine' | 'unassigned'): Promise<string[]> {
  const res = await emitWithAck(socket, 'conversations:list', assignee ? { assignee } : {});
  if (!res.ok) throw new Error(res.error.message);
  return res.data.conversations.map((c) => c.id);
}

beforeAll(async () => {
  tb = await startTestBridge({ config: { apiKey: API_KEY } });
});
afterAll(async () => {
  for (const socket of open) socket.close();
  await tb.close();
});

describe('assignment', () => {
  it('a reply assigns an unassigned conversation to the replier, atomically, and keeps it when another agent replies', async () => {
    const ana = await teammate();
    const ben = await teammate();
    const { conversationId } = await visitorConversation();
    expect((await tb.store.getConversation(conversationId))!.assigneeId).toBeUndefined();
    const benHears = updateOf(ben.socket, conversationId, (c) => c.assigneeId === ana.id);
    const reply = await emitWithAck(ana.socket, 'message:send', { conversationId, clientId: 'a1', text: 'On it' });
    expect(reply.ok).toBe(true);
    await benHears;
    await emitWithAck(ben.socket, 'message:send', { conversationId, clientId: 'b1', text: 'me too' });
    expect((await tb.store.getConversation(conversationId))!.assigneeId).toBe(ana.id);
    // REST replies follow the same rule: an unassigned conversation goes to the REST caller.
    const other = await visitorConversation();
    const sent = await api(`/api/conversations/${other.conversationId}/messages`, { token: ben.token, json: { text: 'hi' } });
    expect(sent.status).toBe(201);
    expect((await tb.store.getConversation(other.conversationId))!.assigneeId).toBe(ben.id);
  });

  it('agents assign, transfer and unassign over the socket and REST; every agent hears it; bad input is refused', async () => {
    const ana = await teammate();
    const ben = await teammate();
    const { conversationId } = await visitorConversation();
    const benHears = updateOf(ben.socket, conversationId, (c) => c.assigneeId === ana.id);
    const assigned = await emitWithAck(ana.socket, 'conversation:assign', { conversationId, assigneeId: ana.id });
    expect(assigned).toMatchObject({ ok: true, data: { id: conversationId, assigneeId: ana.id, visitorOnline: true } });
    await benHears;
    const anaHears = updateOf(ana.socket, conversationId, (c) => c.assigneeId === ben.id);
    const transferred = await api(`/api/conversations/${conversationId}/assignee`, { method: 'PUT', token: ana.token, json: { assigneeId: ben.id } });
    expect(transferred.status).toBe(200);
    expect(transferred.json.conversation.assigneeId).toBe(ben.id);
    await anaHears;
    const anaHearsNone = updateOf(ana.socket, conversationId, (c) => c.assigneeId === undefined);
    const unassigned = await emitWithAck(ben.socket, 'conversation:assign', { conversationId, assigneeId: null });
    expect(unassigned.ok && unassigned.data.assigneeId).toBeUndefined();
    await anaHearsNone;

    const unknown = await emitWithAck(ana.socket, 'conversation:assign', { conversationId, assigneeId: 'nobody' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'bad_request', fields: { assigneeId: 'no such active agent' } } });
    const extra = await emitRaw(ana.socket, 'conversation:assign', { conversationId, assigneeId: ana.id, force: true });
    expect(extra).toMatchObject({ ok: false, error: { code: 'bad_request', fields: { force: 'unknown field' } } });
    const missing = await emitWithAck(ana.socket, 'conversation:assign', { conversationId: 'absent', assigneeId: ana.id });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const restBad = await api(`/api/conversations/${conversationId}/assignee`, { method: 'PUT', json: { assigneeId: 42 } });
    expect(restBad.status).toBe(400);
    expect((await tb.store.getConversation(conversationId))!.assigneeId).toBeUndefined();
  });

  it('filters the inbox: Mine, Unassigned, All (socket and REST); the API key has no "mine"', async () => {
    const ana = await teammate();
    const ben = await teammate();
    const mine = await visitorConversation('mine');
    const bens = await visitorConversation('bens');
    const nobodys = await visitorConversation('nobodys');
    await emitWithAck(ana.socket, 'conversation:assign', { conversationId: mine.conversationId, assigneeId: ana.id });
    await emitWithAck(ana.socket, 'conversation:assign', { conversationId: bens.conversationId, assigneeId: ben.id });
    expect(await listIds(ana.socket, 'mine')).toEqual([mine.conversationId]);
    expect(await listIds(ben.socket, 'mine')).toEqual([bens.conversationId]);
    const unassigned = await listIds(ana.socket, 'unassigned');
    expect(unassigned).toContain(nobodys.conversationId);
    expect(unassigned).not.toContain(mine.conversationId);
    expect(unassigned).not.toContain(bens.conversationId);
    expect(await listIds(ana.socket)).toEqual(expect.arrayContaining([mine.conversationId, bens.conversationId, nobodys.conversationId]));
    const rest = await api('/api/conversations?assignee=mine', { token: ben.token });
    expect((rest.json.conversations as ConversationSummary[]).map((c) => c.id)).toEqual([bens.conversationId]);
    const keyMine = await api('/api/conversations?assignee=mine', { token: API_KEY });
    expect(keyMine.status).toBe(400);
    expect((await api('/api/conversations?assignee=someone')).status).toBe(400);
  });

  it("a deactivated agent's conversations become unassigned, and every agent hears of each", async () => {
    const ana = await teammate();
    const leaving = await teammate();
    const first = await visitorConversation();
    const second = await visitorConversation();
    for (const { conversationId } of [first, second]) {
      await emitWithAck(leaving.socket, 'message:send', { conversationId, clientId: `l-${conversationId}`, text: 'mine now' });
    }
    expect((await tb.store.getConversation(first.conversationId))!.assigneeId).toBe(leaving.id);
    const heard = Promise.all(
      [first, second].map(({ conversationId }) => updateOf(ana.socket, conversationId, (c) => c.assigneeId === undefined)),
    );
    const patched = await api(`/api/agents/${leaving.id}`, { method: 'PATCH', json: { active: false } });
    expect(patched.status).toBe(200);
    await heard;
    expect(await tb.store.listConversations({ assigneeId: leaving.id })).toEqual([]);
    // Nobody can be given a conversation while deactivated.
    const refused = await emitWithAck(ana.socket, 'conversation:assign', { conversationId: first.conversationId, assigneeId: leaving.id });
    expect(refused).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('GET /api/team lists active teammates for every agent', async () => {
    const ana = await teammate();
    const res = await api('/api/team', { token: ana.token });
    expect(res.status).toBe(200);
    const team = res.json.agents as TeamMember[];
    expect(team).toContainEqual({ id: ana.id, displayName: expect.stringMatching(/^Teammate /) });
    expect(team).toContainEqual({ id: tb.agent.id, displayName: tb.agent.displayName });
    expect(JSON.stringify(team)).not.toContain('passwordHash');
  });
});

describe('round-robin', () => {
  it('is an admin setting; when on, visitor conversations take turns among Online agents with a console open', async () => {
    // Only the agents of this test are connected from here on.
    for (const socket of open.splice(0)) socket.close();
    await waitUntil("the earlier tests' consoles to be disconnected", () => tb.bridge.context.agentNs.sockets.size === 0);
    const adminSocket = await connectAgent(tb.url, tb.agent.token, { reconnection: false });
    open.push(adminSocket);
    const ana = await teammate();
    const ben = await teammate();
    const away = await teammate();
    for (const token of [away.token, tb.agent.token]) {
      expect((await api('/api/auth/availability', { method: 'PUT', token, json: { availability: 'away' } })).status).toBe(200);
    }

    expect(await api('/api/settings/assignment')).toMatchObject({ status: 200, json: { roundRobin: false } });
    expect((await api('/api/settings/assignment', { token: ana.token })).status).toBe(403);
    expect((await api('/api/settings/assignment', { method: 'PUT', token: ana.token, json: { roundRobin: true } })).status).toBe(403);
    expect((await api('/api/settings/assignment', { method: 'PUT', json: { roundRobin: 'yes' } })).status).toBe(400);
    const off = await visitorConversation();
    expect((await tb.store.getConversation(off.conversationId))!.assigneeId).toBeUndefined();

    expect(await api('/api/settings/assignment', { method: 'PUT', json: { roundRobin: true } })).toMatchObject({
      status: 200,
      json: { roundRobin: true },
    });
    const takers = await waitUntil('only Ana and Ben to take chats', async () => {
      const ids = (await tb.bridge.context.availability.agentsTakingChats()).sort();
      return ids.length === 2 && ids.includes(ana.id) && ids.includes(ben.id) && ids;
    });
    expect(takers).toHaveLength(2);
    const assignees: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { conversationId } = await visitorConversation();
      assignees.push((await tb.store.getConversation(conversationId))!.assigneeId ?? 'none');
    }
    expect(assignees, JSON.stringify({ assignees, ana: ana.id, ben: ben.id, takers })).toHaveLength(4);
    expect(new Set(assignees)).toEqual(new Set([ana.id, ben.id]));
    expect(assignees[0]).not.toBe(assignees[1]);
    expect(assignees[2]).toBe(assignees[0]);
    expect(assignees[3]).toBe(assignees[1]);
    // A conversation that has an assignee keeps it when its visitor writes again.
    const kept = await visitorConversation();
    const keeper = (await tb.store.getConversation(kept.conversationId))!.assigneeId;
    await emitWithAck(kept.visitor, 'message:send', { clientId: 'again', text: 'still there?' });
    expect((await tb.store.getConversation(kept.conversationId))!.assigneeId).toBe(keeper);

    // Without an Online agent connected (Away ones are), conversations stay unassigned.
    ana.socket.close();
    ben.socket.close();
    await waitUntil("Ana's and Ben's consoles to be disconnected", async () => (await tb.bridge.context.availability.agentsTakingChats()).length === 0);
    const nobody = await visitorConversation();
    expect((await tb.store.getConversation(nobody.conversationId))!.assigneeId).toBeUndefined();
    await api('/api/settings/assignment', { method: 'PUT', json: { roundRobin: false } });
    await api('/api/auth/availability', { method: 'PUT', json: { availability: 'online' } });
  });
});

describe('saved replies', () => {
  it('admins create, replace and delete them; every agent lists them and hears each change live; bad input and agents are refused', async () => {
    const ana = await teammate();
    const changes = collect(ana.socket, 'saved-replies:changed');
    const created = await api('/api/saved-replies/thanks', { method: 'PUT', json: { text: 'Thank you for waiting!' } });
    expect(created.status).toBe(201);
    expect(created.json.savedReply).toEqual({ shortcut: 'thanks', text: 'Thank you for waiting!', updatedAt: expect.any(String) });
    expect((await api('/api/saved-replies/hello', { method: 'PUT', json: { text: 'Hello!' } })).status).toBe(201);
    expect((await api('/api/saved-replies/thanks', { method: 'PUT', json: { text: 'Thanks!' } })).status).toBe(200);
    await waitUntil("the agent's console told of each of the three changes", () => changes.length === 3);
    const listed = await api('/api/saved-replies', { token: ana.token });
    expect(listed.status).toBe(200);
    expect((listed.json.savedReplies as SavedReply[]).map((r) => [r.shortcut, r.text])).toEqual([
      ['hello', 'Hello!'],
      ['thanks', 'Thanks!'],
    ]);
    expect((await api('/api/saved-replies/hi', { method: 'PUT', token: ana.token, json: { text: 'x' } })).status).toBe(403);
    expect((await api('/api/saved-replies/thanks', { method: 'DELETE', token: ana.token })).status).toBe(403);
    const badShortcut = await api('/api/saved-replies/Not%20OK', { method: 'PUT', json: { text: 'x' } });
    expect(badShortcut.status).toBe(400);
    expect(badShortcut.json.error.fields).toHaveProperty('shortcut');
    const badText = await api('/api/saved-replies/empty', { method: 'PUT', json: { text: '   ' } });
    expect(badText.json.error.code).toBe('text_empty');
    expect((await api('/api/saved-replies/x', { method: 'PUT', json: { text: 'x', extra: 1 } })).status).toBe(400);
    expect((await api('/api/saved-replies/hello', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/api/saved-replies/hello', { method: 'DELETE' })).status).toBe(404);
    expect(((await api('/api/saved-replies')).json.savedReplies as SavedReply[]).map((r) => r.shortcut)).toEqual(['thanks']);
    // The deletion is told too; the refused requests were not.
    await waitUntil("the agent's console told of the deletion", () => changes.length === 4);
    expect(changes).toHaveLength(4);
  });
});
