/**
 * The team over REST: admins add agents (with a password or an invite link), list and change them; agents get 403;
 * the last active admin stays; sign-out, deactivation and password changes end sessions at once (REST 401, sockets
 * disconnected); visitors see display names; erasure is for admins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentAccount, AgentCreated, LoginResult } from '../../protocol/agents.ts';
import { connectAgent, connectVisitor, emitWithAck, nextEvent, startTestBridge, type TestBridge } from '../testing/index.ts';
import { HandshakeError } from '../testing/clients.ts';

let tb: TestBridge;
const API_KEY = 'integration-key-0123456789abcdef';
/** How far the bridge's clock runs ahead of the wall clock (moved by the invite expiry case, then put back). */
let clockShift = 0;

async function api(path: string, init: { method?: string; token?: string | null; json?: unknown } = {}) {
  const headers = new Headers();
  if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? tb.agent.token}`);
  if (init.json !== undefined) headers.set('Content-Type', 'application/json');
  const res = await fetch(tb.url + path, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const text = await res.text();
   
  return { status: res.status, json: (text ? JSON.parse(text) : undefined), headers: res.headers };
}

async function login(name: string, password: string): Promise<LoginResult> {
  const res = await api('/api/auth/login', { token: null, json: { name, password } });
  expect(res.status).toBe(200);
  return res.json as LoginResult;
}

let counter = 0;
/** Adds an agent with a password through the API and signs them in. */
async function agentWithSession(role: 'admin' | 'agent' = 'agent') {
  const name = `agent-${++counter}`;
  const password = `password-of-${name}`;
  const created = await api('/api/agents', { json: { name, displayName: `Agent ${counter}`, role, password } });
  expect(created.status).toBe(201);
  const session = await login(name, password);
  return { ...(created.json as AgentCreated).agent, password, token: session.token };
}

beforeAll(async () => {
  tb = await startTestBridge({ config: { apiKey: API_KEY }, clock: () => new Date(Date.now() + clockShift) });
});
afterAll(async () => {
  await tb.close();
});

describe('team management', () => {
  it('adds an agent with a password (201), refuses a taken name (409) and bad input with field errors', async () => {
    const created = await api('/api/agents', { json: { name: 'bea', displayName: 'Bea M.', role: 'agent', password: 'bea-password-1' } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      agent: { id: expect.any(String), name: 'bea', displayName: 'Bea M.', role: 'agent', active: true, hasPassword: true, availability: 'online', createdAt: expect.any(String) },
    });
    expect(JSON.stringify(created.json)).not.toContain('scrypt');
    const again = await api('/api/agents', { json: { name: 'bea', displayName: 'Other', role: 'admin' } });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: 'conflict', fields: { name: 'taken' } });
    const bad = await api('/api/agents', { json: { name: 'no spaces', displayName: '\u200b', role: 'owner', password: 'short', extra: 1 } });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.json.error.fields).sort()).toEqual(['displayName', 'extra', 'name', 'password', 'role']);
    const list = await api('/api/agents');
    expect(list.status).toBe(200);
    expect((list.json.agents as AgentAccount[]).map((a) => a.name)).toEqual(expect.arrayContaining([tb.agent.name, 'bea']));
  });

  it('keeps an agent\'s e-mail address: set when added, changed, removed; a header-splitting one is refused', async () => {
    const created = await api('/api/agents', { json: { name: 'eli', displayName: 'Eli', role: 'agent', password: 'eli-password-1', email: 'eli@example.com' } });
    expect(created.json.agent).toMatchObject({ email: 'eli@example.com' });
    const id = (created.json.agent as AgentAccount).id;
    const injected = await api(`/api/agents/${id}`, { method: 'PATCH', json: { email: 'eli@example.com\r\nBcc: all@example.com' } });
    expect(injected.status).toBe(400);
    expect(injected.json.error.fields).toHaveProperty('email');
    expect((await api(`/api/agents/${id}`, { method: 'PATCH', json: { email: 'eli@example.org' } })).json.agent).toMatchObject({ email: 'eli@example.org' });
    expect((await api(`/api/agents/${id}`, { method: 'PATCH', json: { email: null } })).json.agent).not.toHaveProperty('email');
  });

  it('an invite link (no password) is valid once: the agent sets a password there and is signed in', async () => {
    const created = await api('/api/agents', { json: { name: 'ivo', displayName: 'Ivo', role: 'agent' } });
    expect(created.status).toBe(201);
    const { agent, inviteUrl } = created.json as AgentCreated;
    expect(agent.hasPassword).toBe(false);
    expect(inviteUrl).toMatch(new RegExp(`^${tb.url}/console/#invite=[A-Za-z0-9_-]{30,}$`));
    expect(created.headers.get('cache-control')).toBe('no-store');
    const token = inviteUrl!.split('#invite=')[1]!;
    // Nobody can sign in as an invited agent before the password is set.
    expect((await api('/api/auth/login', { token: null, json: { name: 'ivo', password: '' } })).status).toBe(400);
    const accepted = await api('/api/auth/invite', { token: null, json: { token, password: 'ivo-password-1' } });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ token: expect.any(String), agent: { name: 'ivo', hasPassword: true } });
    expect((await api('/api/auth/me', { token: accepted.json.token })).json.agent.name).toBe('ivo');
    const reused = await api('/api/auth/invite', { token: null, json: { token, password: 'another-password' } });
    expect(reused.status).toBe(401);
    await login('ivo', 'ivo-password-1');
    const forged = await api('/api/auth/invite', { token: null, json: { token: 'x'.repeat(32), password: 'another-password' } });
    expect(forged.status).toBe(401);
  });

  it('an invite link works for 7 days and not longer', async () => {
    const linkOf = async (name: string) => {
      const created = await api('/api/agents', { json: { name, displayName: name, role: 'agent' } });
      return (created.json as AgentCreated).inviteUrl!.split('#invite=')[1]!;
    };
    const [early, late] = [await linkOf('ina'), await linkOf('ike')];
    const accept = (token: string) => api('/api/auth/invite', { token: null, json: { token, password: 'invited-password-1' } });
    try {
      clockShift = 7 * 86_400_000 - 60_000;
      expect((await accept(early)).status).toBe(200);
      clockShift = 7 * 86_400_000 + 60_000;
      expect((await accept(late)).status).toBe(401);
    } finally {
      clockShift = 0;
    }
  });

  it('issues an invite again: the new link works, the old one does not; not for agents with a password, nor for agents', async () => {
    const created = await api('/api/agents', { json: { name: 'ria', displayName: 'Ria', role: 'agent' } });
    const { agent, inviteUrl: first } = created.json as AgentCreated;
    const again = await api(`/api/agents/${agent.id}/invite`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(again.headers.get('cache-control')).toBe('no-store');
    const { inviteUrl: second } = again.json as AgentCreated;
    expect(second).toMatch(new RegExp(`^${tb.url}/console/#invite=[A-Za-z0-9_-]{30,}$`));
    expect(second).not.toBe(first);
    const accept = (url: string) => api('/api/auth/invite', { token: null, json: { token: url.split('#invite=')[1], password: 'ria-password-1' } });
    expect((await accept(first!)).status).toBe(401);
    expect((await accept(second!)).status).toBe(200);
    const done = await api(`/api/agents/${agent.id}/invite`, { method: 'POST' });
    expect(done.status).toBe(409);
    expect(done.json.error.code).toBe('conflict');
    expect((await api('/api/agents/no-such-agent/invite', { method: 'POST' })).status).toBe(404);
    const plain = await agentWithSession('agent');
    expect((await api(`/api/agents/${agent.id}/invite`, { method: 'POST', token: plain.token })).status).toBe(403);
  });

  it('agents get 403 on the team endpoints and on erasure; admins and the API key may', async () => {
    const agent = await agentWithSession('agent');
    for (const [method, path, json] of [
      ['GET', '/api/agents', undefined],
      ['POST', '/api/agents', { name: 'sneaky', displayName: 'S', role: 'admin', password: 'sneaky-password' }],
      ['PATCH', `/api/agents/${tb.agent.id}`, { active: false }],
      ['PATCH', `/api/agents/${agent.id}`, { role: 'admin' }],
    ] as const) {
      const res = await api(path, { method, token: agent.token, ...(json ? { json } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.error.code).toBe('forbidden');
    }
    const v = await connectVisitor(tb.url);
    await emitWithAck(v, 'message:send', { clientId: 'm1', text: 'erase me' });
    const conversationId = v.session.conversationId;
    v.close();
    expect((await api(`/api/conversations/${conversationId}`, { method: 'DELETE', token: agent.token })).status).toBe(403);
    expect((await api(`/api/conversations/${conversationId}`, { method: 'DELETE', token: API_KEY })).status).toBe(204);
    expect((await api('/api/agents', { token: API_KEY })).status).toBe(200);
  });

  it('keeps the last active admin: no demotion, no deactivation; with a second admin it may', async () => {
    const admins = ((await api('/api/agents')).json.agents as AgentAccount[]).filter((a) => a.role === 'admin' && a.active);
    expect(admins.map((a) => a.id)).toEqual([tb.agent.id]);
    for (const change of [{ role: 'agent' }, { active: false }]) {
      const res = await api(`/api/agents/${tb.agent.id}`, { method: 'PATCH', json: change });
      expect(res.status).toBe(409);
      expect(res.json.error).toEqual({ code: 'conflict', message: 'The team needs at least one active admin.' });
    }
    const second = await agentWithSession('admin');
    const demoted = await api(`/api/agents/${second.id}`, { method: 'PATCH', token: second.token, json: { role: 'agent', displayName: 'Ex Admin' } });
    expect(demoted.status).toBe(200);
    expect(demoted.json.agent).toMatchObject({ role: 'agent', displayName: 'Ex Admin', active: true });
    expect((await api(`/api/agents/missing`, { method: 'PATCH', json: { active: true } })).status).toBe(404);
    expect((await api(`/api/agents/${second.id}`, { method: 'PATCH', json: {} })).status).toBe(400);
  });
});

describe('sessions', () => {
  it('logout ends that session at once (REST 401, its socket disconnected); other sessions continue', async () => {
    const agent = await agentWithSession();
    const other = await login(agent.name, agent.password);
    const socket = await connectAgent(tb.url, agent.token, { reconnection: false });
    const otherSocket = await connectAgent(tb.url, other.token, { reconnection: false });
    const disconnected = nextEvent(socket, 'disconnect');
    const out = await api('/api/auth/logout', { token: agent.token, json: {} });
    expect(out.status).toBe(204);
    await disconnected;
    expect((await api('/api/auth/me', { token: agent.token })).status).toBe(401);
    await expect(connectAgent(tb.url, agent.token, { reconnection: false })).rejects.toBeInstanceOf(HandshakeError);
    expect((await api('/api/auth/me', { token: other.token })).status).toBe(200);
    expect(otherSocket.connected).toBe(true);
    otherSocket.close();
  });

  it('deactivation ends every session and refuses sign-in; reactivation needs a new sign-in', async () => {
    const agent = await agentWithSession();
    const socket = await connectAgent(tb.url, agent.token, { reconnection: false });
    const disconnected = nextEvent(socket, 'disconnect');
    expect((await api(`/api/agents/${agent.id}`, { method: 'PATCH', json: { active: false } })).json.agent.active).toBe(false);
    await disconnected;
    expect((await api('/api/auth/me', { token: agent.token })).status).toBe(401);
    expect((await api('/api/auth/login', { token: null, json: { name: agent.name, password: agent.password } })).status).toBe(401);
    await api(`/api/agents/${agent.id}`, { method: 'PATCH', json: { active: true } });
    expect((await api('/api/auth/me', { token: agent.token })).status).toBe(401);
    await login(agent.name, agent.password);
  });

  it('a password change needs the current one, ends every other session and hands back a new one', async () => {
    const agent = await agentWithSession();
    const other = await login(agent.name, agent.password);
    const wrong = await api('/api/auth/password', { token: agent.token, json: { current: 'nope', next: 'a-new-password' } });
    expect(wrong.status).toBe(403);
    const socket = await connectAgent(tb.url, other.token, { reconnection: false });
    const disconnected = nextEvent(socket, 'disconnect');
    const changed = await api('/api/auth/password', { token: agent.token, json: { current: agent.password, next: 'a-new-password' } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('cache-control')).toBe('no-store');
    await disconnected;
    expect((await api('/api/auth/me', { token: agent.token })).status).toBe(401);
    expect((await api('/api/auth/me', { token: other.token })).status).toBe(401);
    expect((await api('/api/auth/me', { token: changed.json.token })).status).toBe(200);
    await login(agent.name, 'a-new-password');
    expect((await api('/api/auth/password', { token: API_KEY, json: { current: 'x', next: 'a-new-password' } })).status).toBe(403);
  });
});

describe('what visitors see', () => {
  it('replies carry the display name (own change included), never the login name', async () => {
    const agent = await agentWithSession();
    const renamed = await api('/api/auth/me', { method: 'PATCH', token: agent.token, json: { displayName: '  Dana K.  ' } });
    expect(renamed.json.agent).toMatchObject({ name: agent.name, displayName: 'Dana K.' });
    const v = await connectVisitor(tb.url);
    await emitWithAck(v, 'message:send', { clientId: 'q', text: 'hello?' });
    const socket = await connectAgent(tb.url, agent.token);
    const seen = nextEvent(v, 'message:new');
    const reply = await emitWithAck(socket, 'message:send', { conversationId: v.session.conversationId, clientId: 'r', text: 'Hi!' });
    expect(reply.ok).toBe(true);
    expect((await seen).author).toEqual({ role: 'agent', agentId: agent.id, name: 'Dana K.' });
    const rest = await api(`/api/conversations/${v.session.conversationId}/messages`, { token: agent.token, json: { text: 'Over REST' } });
    expect(rest.json.message.author.name).toBe('Dana K.');
    socket.close();
    v.close();
  });
});
