/**
 * Availability as visitors see it (#13), on a real bridge with real Socket.IO clients: the team is online only while
 * an agent who set themselves Online has a console connected; Away reaches visitors live and survives a reconnect;
 * business hours (admins only, validated) switch the whole team to Away outside them, read with the injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentPublic } from '../protocol/events.ts';
import { DEFAULT_BUSINESS_HOURS, type BusinessHours } from '../protocol/business-hours.ts';
import { connectAgent, connectVisitorHearingAgents, waitUntil, type VisitorClient } from './testing/index.ts';
import { holdNextRead } from './testing/held-read.ts';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { ASSIGNMENT_KEY, BUSINESS_HOURS_KEY, SETTINGS_RECORDS } from './team-availability.ts';

// Monday 2 March 2026, 10:00 UTC = 11:00 in Berlin.
let now = Date.parse('2026-03-02T10:00:00.000Z');
const shared = useTestBridge({ clock: () => new Date(now) });
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const socket of opened.splice(0)) socket.close();
  await api('/api/settings/business-hours', { method: 'PUT', json: DEFAULT_BUSINESS_HOURS });
  await api('/api/auth/availability', { method: 'PUT', json: { availability: 'online' } });
});

async function api(path: string, init: { method?: string; token?: string; json?: unknown } = {}) {
  const res = await fetch(shared.bridge.url + path, {
    method: init.method ?? 'GET',
    headers: {
      Authorization: `Bearer ${init.token ?? shared.bridge.agent.token}`,
      ...(init.json !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

/** A visitor socket that records every `agents:presence` from the first one on (listening before it connects). */
async function visitor(): Promise<{ socket: VisitorClient; seen: number[] }> {
  const { visitor: socket, agentCounts: seen } = await connectVisitorHearingAgents(shared.bridge.url);
  opened.push(socket);
  await waitUntil('the first agents:presence of a new visitor', () => seen.length > 0);
  return { socket, seen };
}

const last = (seen: number[]): number | undefined => seen[seen.length - 1];

describe('availability for visitors', () => {
  it('is online only while an Online agent has a console connected; Away reaches visitors live and is kept', async () => {
    const watcher = await visitor();
    expect(last(watcher.seen)).toBe(0);
    const agent = await connectAgent(shared.bridge.url, shared.bridge.agent.token);
    opened.push(agent);
    const team: AgentPublic[][] = [];
    agent.on('agents:presence', ({ online }) => void team.push(online));
    await waitUntil('the visitor told one agent is online', () => last(watcher.seen) === 1);
    expect(last((await visitor()).seen)).toBe(1);

    const away = await api('/api/auth/availability', { method: 'PUT', json: { availability: 'away' } });
    expect(away).toMatchObject({ status: 200, json: { agent: { availability: 'away' } } });
    await waitUntil('the visitor told nobody is online', () => last(watcher.seen) === 0);
    await waitUntil('agents told the agent is away', () => team.at(-1)?.[0]?.availability === 'away');
    expect(team.at(-1)).toEqual([{ id: shared.bridge.agent.id, name: shared.bridge.agent.name, availability: 'away' }]);
    // Stored: a console that reconnects stays Away, and a new visitor sees nobody.
    agent.close();
    const again = await connectAgent(shared.bridge.url, shared.bridge.agent.token);
    opened.push(again);
    expect(last((await visitor()).seen)).toBe(0);
    expect((await api('/api/agents')).json.agents).toEqual([expect.objectContaining({ availability: 'away' })]);

    await api('/api/auth/availability', { method: 'PUT', json: { availability: 'online' } });
    await waitUntil('the visitor told the agent is back', () => last(watcher.seen) === 1);
    // Online without a console counts for nobody.
    again.close();
    await waitUntil('the visitor told the last console closed', () => last(watcher.seen) === 0);
  });

  it('refuses an availability that is not Online or Away', async () => {
    const res = await api('/api/auth/availability', { method: 'PUT', json: { availability: 'busy' } });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'bad_request' } });
  });
});

describe('business hours', () => {
  const berlinAfternoons: BusinessHours = {
    enabled: true,
    timeZone: 'Europe/Berlin',
    weekly: { ...DEFAULT_BUSINESS_HOURS.weekly, mon: [{ from: '12:00', to: '18:00' }] },
  };

  it('are off by default; admins set them and outside them visitors see the whole team Away', async () => {
    expect(await api('/api/settings/business-hours')).toEqual({ status: 200, json: DEFAULT_BUSINESS_HOURS });
    const agent = await connectAgent(shared.bridge.url, shared.bridge.agent.token);
    opened.push(agent);
    const watcher = await visitor();
    await waitUntil('the visitor told one agent is online', () => last(watcher.seen) === 1);

    expect(await api('/api/settings/business-hours', { method: 'PUT', json: berlinAfternoons })).toEqual({ status: 200, json: berlinAfternoons });
    // 11:00 in Berlin on a Monday: closed.
    await waitUntil('the visitor told the team is away outside business hours', () => last(watcher.seen) === 0);
    expect(last((await visitor()).seen)).toBe(0);
    expect((await api('/api/settings/business-hours')).json).toEqual(berlinAfternoons);

    // 13:30 in Berlin: the periodic check opens them.
    now = Date.parse('2026-03-02T12:30:00.000Z');
    await shared.bridge.bridge.context.availability.check();
    await waitUntil('the visitor told the team is back within business hours', () => last(watcher.seen) === 1);
    expect(last((await visitor()).seen)).toBe(1);
    // 18:00 in Berlin: closed again (the end is exclusive).
    now = Date.parse('2026-03-02T17:00:00.000Z');
    await shared.bridge.bridge.context.availability.check();
    await waitUntil('the visitor told the business hours ended', () => last(watcher.seen) === 0);
    now = Date.parse('2026-03-02T10:00:00.000Z');
  });

  it('a check whose read a change overtook neither puts the old hours back nor tells visitors what they meant', async () => {
    const agent = await connectAgent(shared.bridge.url, shared.bridge.agent.token);
    opened.push(agent);
    const watcher = await visitor();
    expect((await api('/api/settings/business-hours', { method: 'PUT', json: berlinAfternoons })).status).toBe(200);
    await waitUntil('the visitor told the team is away outside business hours', () => last(watcher.seen) === 0);

    // The periodic check reads the hours (closed now) and is held there; an admin switches them off meanwhile.
    const { availability } = shared.bridge.bridge.context;
    const read = holdNextRead(shared.bridge.store, SETTINGS_RECORDS, BUSINESS_HOURS_KEY);
    const checked = availability.check();
    await read.reached;
    expect((await api('/api/settings/business-hours', { method: 'PUT', json: DEFAULT_BUSINESS_HOURS })).status).toBe(200);
    await waitUntil('the visitor told the agent takes chats again', () => last(watcher.seen) === 1);
    const told = watcher.seen.length;
    read.release();
    await checked;

    expect((await api('/api/settings/business-hours')).json).toEqual(DEFAULT_BUSINESS_HOURS);
    // Anything the check told the visitor arrives before this announcement (one socket, one node, in order).
    await availability.announce();
    await waitUntil('the visitor told of the announcement', () => watcher.seen.length > told && last(watcher.seen) === 1);
    expect(watcher.seen.slice(told)).toEqual([1]);
  });

  it('a check whose read a change of round-robin overtook does not put the old setting back', async () => {
    const { availability } = shared.bridge.bridge.context;
    const read = holdNextRead(shared.bridge.store, SETTINGS_RECORDS, ASSIGNMENT_KEY);
    const checked = availability.check();
    await read.reached;
    try {
      expect((await api('/api/settings/assignment', { method: 'PUT', json: { roundRobin: true } })).status).toBe(200);
      read.release();
      await checked;
      expect((await api('/api/settings/assignment')).json).toEqual({ roundRobin: true });
    } finally {
      read.release();
      await api('/api/settings/assignment', { method: 'PUT', json: { roundRobin: false } });
    }
  });

  it('are for admins only and validated', async () => {
    const created = await api('/api/agents', {
      method: 'POST',
      json: { name: 'hours-agent', displayName: 'Hours Agent', role: 'agent', password: 'hours-agent-password' },
    });
    expect(created.status).toBe(201);
    const login = await fetch(shared.bridge.url + '/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'hours-agent', password: 'hours-agent-password' }),
    });
    const { token } = (await login.json()) as { token: string };
    expect((await api('/api/settings/business-hours', { token })).status).toBe(403);
    expect((await api('/api/settings/business-hours', { method: 'PUT', token, json: berlinAfternoons })).status).toBe(403);

    const refused = async (hours: unknown): Promise<unknown> => {
      const res = await api('/api/settings/business-hours', { method: 'PUT', json: hours });
      expect(res.status).toBe(400);
      return res.json;
    };
    expect(await refused({ ...berlinAfternoons, timeZone: 'Mars/Olympus' })).toMatchObject({ error: { fields: { timeZone: expect.any(String) } } });
    await refused({ ...berlinAfternoons, weekly: { ...berlinAfternoons.weekly, tue: [{ from: '18:00', to: '09:00' }] } });
    await refused({ ...berlinAfternoons, weekly: { ...berlinAfternoons.weekly, tue: [{ from: '9:00', to: '17:00' }] } });
    await refused({
      ...berlinAfternoons,
      weekly: { ...berlinAfternoons.weekly, tue: [{ from: '09:00', to: '13:00' }, { from: '12:00', to: '17:00' }] },
    });
    await refused({ enabled: true, timeZone: 'UTC' });
    expect((await api('/api/settings/business-hours')).json).toEqual(DEFAULT_BUSINESS_HOURS);
  });
});
