/**
 * Case 7: isolation. Several victims hold conversations; an attacker visitor tries their conversation ids, room
 * names and tampered tokens on every socket event, both namespaces and every REST route. Any ack `ok`, any
 * accepted handshake for someone else's conversation, any 2xx, any foreign event received or any change to a
 * victim's stored messages counts as a success for the attacker (must stay 0).
 */
import { SignJWT } from 'jose';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../protocol/errors.ts';
import type { Message } from '../protocol/message.ts';
import { connectAgent, connectVisitor, type ConnectedVisitor } from '../bridge/testing/clients.ts';
import { startTestBridge, type TestBridge } from '../bridge/testing/test-bridge.ts';

/** Figures of an isolation run. */
export interface IsolationFigures {
  attempts: number;
  successes: number;
  /** Events a visitor received about a conversation other than its own. */
  foreignEvents: number;
  visitors: number;
  eventsChecked: number;
  details: string[];
}

type Attempt = () => Promise<string | undefined>;

const b64url = (s: string) => Buffer.from(s).toString('base64url');

function retokenise(token: string, mutate: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  mutate(claims);
  return `${header}.${b64url(JSON.stringify(claims))}.${signature}`;
}

async function connectOutcome(url: string, namespace: string, auth: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ connected: boolean; conversationId?: string }> {
  const socket: Socket = io(url + namespace, { transports: ['websocket'], forceNew: true, reconnection: false, auth, extraHeaders: headers });
  try {
    return await new Promise((resolve, reject) => {
      // Every attempt ends in an answer (session or connect when accepted, connect_error when refused): wait for it.
      const timer = setTimeout(
        () => reject(new Error(`waited ${WAIT_DEADLINE_MS} ms for ${namespace} to accept (session, connect) or refuse (connect_error) a connection`)),
        WAIT_DEADLINE_MS,
      );
      socket.on('session', (s: { conversationId: string }) => {
        clearTimeout(timer);
        resolve({ connected: true, conversationId: s.conversationId });
      });
      socket.on('connect', () => {
        if (namespace === '/agent') {
          clearTimeout(timer);
          resolve({ connected: true });
        }
      });
      socket.on('connect_error', () => {
        clearTimeout(timer);
        resolve({ connected: false });
      });
      // Accepted at the transport, then dropped before the visitor's session: not connected either.
      socket.on('disconnect', () => {
        clearTimeout(timer);
        resolve({ connected: false });
      });
    });
  } finally {
    socket.close();
  }
}

/** Runs the isolation attack (`attempts` at least) against a fresh test bridge. */
export async function runIsolation(options: { minAttempts: number; victims?: number }): Promise<IsolationFigures> {
  const bridge: TestBridge = await startTestBridge();
  const details: string[] = [];
  let eventsChecked = 0;
  let foreignEvents = 0;
  const url = bridge.url;
  try {
    const victimCount = options.victims ?? 6;
    const victims: ConnectedVisitor[] = [];
    const seen: { own: string; events: { kind: string; conversationId: string }[] }[] = [];
    for (let i = 0; i < victimCount; i++) {
      const v = await connectVisitor(url, {}, { extraHeaders: { origin: url } });
      const log = { own: v.session.conversationId, events: [] as { kind: string; conversationId: string }[] };
      v.on('message:new', (m) => log.events.push({ kind: 'message:new', conversationId: m.conversationId }));
      v.on('message:status', (c) => log.events.push({ kind: 'message:status', conversationId: c.conversationId }));
      v.on('typing', (t) => log.events.push({ kind: `typing:${t.role}`, conversationId: t.conversationId }));
      victims.push(v);
      seen.push(log);
    }
    const agent = await connectAgent(url, bridge.agent.token);
    // Every victim talks, an agent answers each, receipts flow: real traffic to leak.
    for (const [i, v] of victims.entries()) {
      for (let j = 0; j < 3; j++) {
        const ack = (await v.timeout(WAIT_DEADLINE_MS).emitWithAck('message:send', { clientId: `victim${i}-${j}`, text: `secret of victim ${i} #${j}` })) as Ack<unknown>;
        if (!ack.ok) throw new Error(`victim send failed: ${ack.error.code}`);
      }
      const reply = (await agent.timeout(WAIT_DEADLINE_MS).emitWithAck('message:send', { conversationId: v.session.conversationId, clientId: `agent-${i}`, text: `reply to ${i}` })) as Ack<unknown>;
      if (!reply.ok) throw new Error(`agent send failed: ${reply.error.code}`);
      await v.timeout(WAIT_DEADLINE_MS).emitWithAck('receipt', { upToSeq: 4, status: 'read' });
    }
    const victimIds = victims.map((v) => v.session.conversationId);
    const victimTokens = victims.map((v) => v.session.token);
    const snapshot = async (): Promise<string> =>
      JSON.stringify(await Promise.all(victimIds.map((id) => bridge.store.getMessages(id, { limit: 100 }))));
    const before = await snapshot();

    const attacker = await connectVisitor(url, {}, { extraHeaders: { origin: url } });
    const attackerToken = attacker.session.token;
    const attackerEvents: { kind: string; conversationId?: string }[] = [];
    attacker.onAny((event: string, payload: { conversationId?: string }) => attackerEvents.push({ kind: event, conversationId: payload?.conversationId }));
    await attacker.timeout(WAIT_DEADLINE_MS).emitWithAck('message:send', { clientId: 'attacker-0', text: 'hello' });
    const attackerConversation = attacker.session.conversationId;

    const victimMsg: Message[] = await bridge.store.getMessages(victimIds[0]!, { limit: 1 });
    const foreignMessageId = victimMsg[0]!.id;
    const roomNames = (id: string) => [id, `conv:${id}`, `conv:${id}#x`, `../${id}`, `${id}/..`, 'agents', '/agent', `${id}\u0000`, id.toUpperCase()];

    const ackOk = (res: unknown): boolean => typeof res === 'object' && res !== null && (res as { ok?: unknown }).ok === true;
    const leaks = (res: unknown): boolean => {
      const text = JSON.stringify(res ?? null);
      return victimIds.some((id) => text.includes(id)) || text.includes('secret of victim');
    };
    const visitorEvent = (event: string, payload: unknown): Attempt => async () => {
      if (event === 'typing') {
        // Typing has no ack; what matters is that no victim ever receives it (checked on the victims' logs).
        (attacker as unknown as Socket).emit(event, payload);
        return undefined;
      }
      let res: unknown;
      try {
        res = await (attacker as unknown as Socket).timeout(1500).emitWithAck(event, payload);
      } catch {
        return undefined; // no ack at all: nothing happened for the attacker
      }
      if (leaks(res)) return `${event} ${JSON.stringify(payload).slice(0, 80)} leaked victim data`;
      if (ackOk(res) && ['message:send', 'receipt'].includes(event) && JSON.stringify(payload).includes('conversationId')) {
        return `${event} accepted a payload naming a conversation`;
      }
      if (ackOk(res) && !['message:send', 'sync', 'history', 'receipt'].includes(event)) return `${event} acked ok on /visitor`;
      return undefined;
    };
    const rest = (method: string, path: string, auth: string | undefined, body?: unknown): Attempt => async () => {
      const res = await fetch(url + path, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (res.status < 400) return `${method} ${path} → ${res.status}`;
      if (res.status >= 500) return `${method} ${path} → ${res.status} (5xx)`;
      if (text.includes('secret of victim')) return `${method} ${path} leaked in an error`;
      return undefined;
    };
    const handshake = (namespace: string, auth: Record<string, unknown>, headers: Record<string, string> = {}, label = ''): Attempt => async () => {
      const outcome = await connectOutcome(url, namespace, auth, { origin: url, ...headers });
      if (namespace === '/agent' && outcome.connected) return `/agent accepted ${label}`;
      if (namespace === '/visitor' && outcome.conversationId && victimIds.includes(outcome.conversationId)) {
        return `/visitor handshake ${label} opened a victim conversation`;
      }
      if (namespace === '/visitor' && outcome.connected && headers['origin'] && headers['origin'] !== url) return `foreign origin ${headers['origin']} accepted`;
      return undefined;
    };

    const wrongSecrets = ['secret', '', 'anon-chat', 'changeme', bridge.config.secrets.agentToken, bridge.config.secrets.site];
    const attempts: Attempt[] = [];
    for (const [i, id] of victimIds.entries()) {
      for (const room of roomNames(id)) {
        attempts.push(
          visitorEvent('message:send', { clientId: `x${attempts.length}`, text: 'pwn', conversationId: room }),
          visitorEvent('sync', { afterRev: 0, conversationId: room }),
          visitorEvent('history', { conversationId: room }),
          visitorEvent('history', { limit: 100, beforeSeq: 1e6, conversationId: room }),
          visitorEvent('receipt', { upToSeq: 1e6, status: 'read', conversationId: room }),
          visitorEvent('typing', { typing: true, conversationId: room }),
          visitorEvent('conversations:list', { filter: 'all' }),
          visitorEvent('message:retry', { conversationId: room, messageId: foreignMessageId }),
          visitorEvent('join', room),
          visitorEvent('subscribe', { room }),
          visitorEvent('sync', { afterRev: 0, room }),
          visitorEvent('message:send', { clientId: `victim${i}-0`, text: 'dedupe probe' }),
          rest('GET', `/api/conversations/${encodeURIComponent(room)}/messages`, `Bearer ${attackerToken}`),
          rest('POST', `/api/conversations/${encodeURIComponent(room)}/messages`, `Bearer ${attackerToken}`, { text: 'pwn' }),
          rest('POST', `/api/conversations/${encodeURIComponent(room)}/read`, `Bearer ${attackerToken}`, {}),
          rest('GET', `/api/conversations/${encodeURIComponent(room)}/messages`, undefined),
          rest('GET', `/api/conversations/${encodeURIComponent(room)}/messages`, `Bearer ${victimTokens[i]}`),
        );
      }
      const tampered = [
        retokenise(attackerToken, (c) => (c['cid'] = id)),
        retokenise(attackerToken, (c) => {
          c['cid'] = id;
          c['sub'] = 'someone';
        }),
        `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: 'x', cid: id, aud: 'anon-chat:visitor', exp: 4e9 }))}.`,
        `${b64url(JSON.stringify({ alg: 'HS512', typ: 'JWT' }))}.${attackerToken.split('.')[1]}.${attackerToken.split('.')[2]}`,
        `${victimTokens[i]}x`,
        victimTokens[i]!.slice(0, -4),
        retokenise(victimTokens[i]!, (c) => (c['exp'] = 4e9)),
        retokenise(bridge.agent.token, (c) => (c['aud'] = 'anon-chat:visitor')),
        `${victimTokens[i]!.split('.').slice(0, 2).join('.')}.${attackerToken.split('.')[2]}`,
      ];
      for (const secret of wrongSecrets) {
        tampered.push(
          await new SignJWT({ cid: id })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .setSubject('forged')
            .setAudience('anon-chat:visitor')
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode(secret || 'x')),
        );
      }
      for (const token of tampered) {
        attempts.push(
          handshake('/visitor', { token }, {}, 'tampered token'),
          handshake('/agent', { token }, {}, 'tampered token'),
          rest('GET', '/api/conversations', `Bearer ${token}`),
          rest('GET', `/api/conversations/${id}/messages`, `Bearer ${token}`),
          rest('GET', '/api/auth/me', `Bearer ${token}`),
        );
      }
      attempts.push(
        // A real agent token is no visitor token (audience), whatever conversation the attacker hopes for.
        handshake('/visitor', { token: bridge.agent.token }, {}, 'an agent token'),
        handshake('/visitor', { token: attackerToken, conversationId: id }, {}, 'with extra conversationId'),
        handshake('/visitor', { userId: `user-${i}`, userHash: '0'.repeat(64) }, {}, 'with a forged user hash'),
        handshake('/agent', { token: victimTokens[i] }, {}, 'a visitor token'),
        handshake('/agent', { token: attackerToken }, {}, 'a visitor token'),
        handshake('/agent', {}, {}, 'no token'),
        handshake('/visitor', {}, { origin: 'https://evil.example' }, 'foreign origin'),
        handshake('/visitor', { token: victimTokens[i] }, { origin: 'http://127.0.0.1.evil.example' }, 'foreign origin'),
        handshake('/visitor', {}, { origin: 'null' }, 'null origin'),
        rest('GET', '/api/conversations', `Bearer ${victimTokens[i]}`),
        rest('GET', '/api/conversations', undefined),
        rest('GET', '/api/conversations', 'Basic YWRtaW46YWRtaW4='),
        rest('GET', '/api/conversations', `Bearer ${bridge.config.secrets.site}`),
      );
    }
    // Repeat the whole battery until the floor is reached; each pass re-checks everything.
    const battery = [...attempts];
    while (attempts.length < options.minAttempts) attempts.push(...battery);

    let successes = 0;
    const concurrency = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < attempts.length) {
          const attempt = attempts[next++]!;
          const result = await attempt();
          if (result) {
            successes++;
            if (details.length < 20) details.push(result);
          }
        }
      }),
    );

    // Nothing the attacker did changed a victim's messages (statuses and revs included).
    if ((await snapshot()) !== before) {
      successes++;
      details.push("a victim's stored messages changed during the attack");
    }
    for (const e of attackerEvents) {
      if (e.conversationId && e.conversationId !== attackerConversation) {
        successes++;
        if (details.length < 20) details.push(`attacker received ${e.kind} of ${e.conversationId}`);
      }
    }
    for (const log of seen) {
      for (const e of log.events) {
        eventsChecked++;
        if (e.conversationId !== log.own || e.kind === 'typing:visitor') {
          foreignEvents++;
          if (details.length < 20) details.push(`victim ${log.own} received ${e.kind} of ${e.conversationId}`);
        }
      }
    }
    for (const v of victims) v.close();
    attacker.close();
    agent.close();
    return { attempts: attempts.length, successes, foreignEvents, visitors: victimCount + 1, eventsChecked, details };
  } finally {
    await bridge.close();
  }
}
