import { describe, expect, it } from 'vitest';
import { useTestBridge } from '../testing/use-test-bridge.ts';
import { SignJWT } from 'jose';
import fc from 'fast-check';
import { Manager } from 'socket.io-client';
import type { Message } from '../../protocol/message.ts';
import { MAX_TEXT_LENGTH, TYPING_THROTTLE_MS } from '../../protocol/limits.ts';
import {
  collect,
  connectAgent,
  connectVisitor,
  emitRaw,
  emitWithAck,
  nextEvent,
  snapshotFiles,
  startTestBridge,
  type AgentClient,
  type VisitorClient,
  waitUntil,
  WAIT_DEADLINE_MS,
} from '../testing/index.ts';
import { signVisitorToken, VISITOR_AUDIENCE } from '../auth/visitor-token.ts';
import { signAgentToken } from '../auth/agent-token.ts';
import { userHash } from '../auth/user-hash.ts';
import { createAgentAccount } from '../auth/agent-accounts.ts';
import { startAgentSession } from '../auth/agent-sessions.ts';

const shared = useTestBridge();
const { track } = shared;

async function visitor(auth = {}, options = {}) {
  return track(await connectVisitor(shared.bridge.url, auth, options));
}

async function agent(): Promise<AgentClient> {
  return track(await connectAgent(shared.bridge.url, shared.bridge.agent.token));
}

async function send(socket: VisitorClient, clientId: string, text = `text ${clientId}`): Promise<Message> {
  const ack = await emitWithAck(socket, 'message:send', { clientId, text });
  if (!ack.ok) throw new Error(`send failed: ${ack.error.code}`);
  return ack.data;
}

describe('visitor messages', () => {
  it('acks a send with the stored message and broadcasts it to the conversation and the agents', async () => {
    const a = await agent();
    const v = await visitor();
    const sameConversation = await visitor({ token: v.session.token });
    const agentGot = nextEvent(a, 'message:new');
    const tabGot = nextEvent(sameConversation, 'message:new');

    const ack = await emitWithAck(v, 'message:send', { clientId: 'c-1', text: 'héllo 👋' });

    expect(ack.ok).toBe(true);
    if (!ack.ok) return;
    expect(ack.data).toMatchObject({
      conversationId: v.session.conversationId,
      clientId: 'c-1',
      seq: 1,
      text: 'héllo 👋',
      status: 'sent',
      author: { role: 'visitor' },
    });
    expect(ack.data.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect((await agentGot).id).toBe(ack.data.id);
    expect((await tabGot).id).toBe(ack.data.id);
    // Acked means stored: a second store instance over the same files would see it (checked via the store API).
    expect(await shared.bridge.store.getMessage(v.session.conversationId, ack.data.id)).toMatchObject({ clientId: 'c-1' });
  });

  it('creates the conversation lazily: connecting writes nothing, the first message creates it', async () => {
    const v = await visitor();
    expect(await shared.bridge.store.getConversation(v.session.conversationId)).toBeUndefined();
    await send(v, 'first');
    expect(await shared.bridge.store.getConversation(v.session.conversationId)).toMatchObject({ channel: 'web', lastSeq: 1 });
  });

  it('returns the original message for a retried clientId and never stores or broadcasts a second copy', async () => {
    const a = await agent();
    const v = await visitor();
    const seen = collect(a, 'message:new');
    const first = await send(v, 'same');
    const [again, concurrent1, concurrent2] = await Promise.all([send(v, 'same'), send(v, 'same'), send(v, 'same')]);
    for (const m of [again, concurrent1, concurrent2]) expect(m).toEqual(first);
    // A reconnecting tab retrying the same clientId gets the same message too.
    const retryTab = await visitor({ token: v.session.token });
    expect(await send(retryTab, 'same')).toEqual(first);
    const page = await emitWithAck(v, 'history', {});
    expect(page.ok && page.data.messages.map((m) => m.clientId)).toEqual(['same']);
    // Ordered marker: every retry was acked before this send, and a broadcast goes out in the same turn as its ack, so
    // a second push for 'same' would reach the agent's connection ahead of the marker's.
    const marker = nextEvent(a, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'marker');
    await send(v, 'marker');
    await marker;
    expect(seen.filter((m) => m.clientId === 'same')).toHaveLength(1);
  });

  it('numbers concurrent sends 1..n without gaps or duplicates and returns history in seq order', async () => {
    const v = await visitor();
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => send(v, `burst-${i}`)));
    expect(acks.map((m) => m.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const page = await emitWithAck(v, 'history', { limit: 100 });
    if (!page.ok) throw new Error('history failed');
    expect(page.data.messages.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(page.data.hasMore).toBe(false);
  });

  it('pages history backwards with beforeSeq and hasMore', async () => {
    const v = await visitor();
    for (let i = 1; i <= 120; i++) await send(v, `p-${i}`);
    const first = await emitWithAck(v, 'history', {});
    if (!first.ok) throw new Error('history failed');
    expect(first.data.messages.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 71 + i));
    expect(first.data.hasMore).toBe(true);
    const second = await emitWithAck(v, 'history', { beforeSeq: 71, limit: 50 });
    if (!second.ok) throw new Error('history failed');
    expect(second.data.messages[0]?.seq).toBe(21);
    expect(second.data.hasMore).toBe(true);
    const last = await emitWithAck(v, 'history', { beforeSeq: 21, limit: 100 });
    if (!last.ok) throw new Error('history failed');
    expect(last.data.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 1 + i));
    expect(last.data.hasMore).toBe(false);
    const tooBig = await emitWithAck(v, 'history', { limit: 101 });
    expect(tooBig.ok === false && tooBig.error.code).toBe('bad_request');
  });

  it('syncs by rev: pages of new messages and status changes until hasMore is false', async () => {
    const a = await agent();
    const v = await visitor();
    for (let i = 1; i <= 130; i++) await send(v, `s-${i}`);
    const page1 = await emitWithAck(v, 'sync', { afterRev: 0 });
    if (!page1.ok) throw new Error('sync failed');
    expect(page1.data.messages).toHaveLength(100);
    expect(page1.data.hasMore).toBe(true);
    const page2 = await emitWithAck(v, 'sync', { afterRev: page1.data.rev });
    if (!page2.ok) throw new Error('sync failed');
    expect(page2.data.messages.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 101 + i));
    expect(page2.data.hasMore).toBe(false);

    const receipt = await emitWithAck(a, 'receipt', {
      conversationId: v.session.conversationId,
      upToSeq: 3,
      status: 'read',
    });
    expect(receipt).toEqual({ ok: true, data: { changed: 3 } });
    const page3 = await emitWithAck(v, 'sync', { afterRev: page2.data.rev });
    if (!page3.ok) throw new Error('sync failed');
    expect(page3.data.messages.map((m) => [m.seq, m.status])).toEqual([
      [1, 'read'],
      [2, 'read'],
      [3, 'read'],
    ]);
    const empty = await emitWithAck(v, 'sync', { afterRev: page3.data.rev });
    expect(empty.ok && empty.data).toEqual({ messages: [], rev: page3.data.rev, hasMore: false });
  });

  it('carries the first sync page from the handshake afterRev in session, exactly as sync answers it', async () => {
    const v = await visitor();
    const m1 = await send(v, 'r-1');
    await send(v, 'r-2');
    await send(v, 'r-3');
    const again = await visitor({ token: v.session.token, afterRev: m1.rev });
    const catchUp = again.session.catchUp;
    expect(catchUp?.afterRev).toBe(m1.rev);
    expect(catchUp?.messages.map((m) => m.clientId)).toEqual(['r-2', 'r-3']);
    expect(catchUp?.hasMore).toBe(false);
    const sync = await emitWithAck(again, 'sync', { afterRev: m1.rev });
    expect(sync.ok && sync.data).toEqual({ messages: catchUp?.messages, rev: catchUp?.rev, hasMore: false });
    // Up to date, or no afterRev at all: an empty page at the current rev, or nothing.
    const upToDate = await visitor({ token: v.session.token, afterRev: catchUp?.rev });
    expect(upToDate.session.catchUp).toEqual({ afterRev: catchUp?.rev, messages: [], rev: catchUp?.rev, hasMore: false });
    expect((await visitor({ token: v.session.token })).session.catchUp).toBeUndefined();
  });

  it('pages a long gap in the session catch-up (hasMore) and includes status changes by rev', async () => {
    const a = await agent();
    const v = await visitor();
    for (let i = 1; i <= 105; i++) await send(v, `g-${i}`);
    const receipt = await emitWithAck(a, 'receipt', { conversationId: v.session.conversationId, upToSeq: 2, status: 'read' });
    expect(receipt).toEqual({ ok: true, data: { changed: 2 } });
    const again = await visitor({ token: v.session.token, afterRev: 0 });
    const first = again.session.catchUp;
    if (!first) throw new Error('no catch-up in session');
    expect(first.messages).toHaveLength(100);
    expect(first.hasMore).toBe(true);
    const rest = await emitWithAck(again, 'sync', { afterRev: first.rev });
    if (!rest.ok) throw new Error('sync failed');
    expect(rest.data.hasMore).toBe(false);
    // Every message exactly once over both pages, the read ones with their new status.
    const seen = [...first.messages, ...rest.data.messages];
    expect(seen.map((m) => m.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 105 }, (_, i) => i + 1));
    expect(seen.filter((m) => m.status === 'read').map((m) => m.seq).sort()).toEqual([1, 2]);
  });
});

describe('receipts and statuses', () => {
  it('pushes each status change to the sender and never moves a status backwards under shuffled duplicates', async () => {
    const n = 6;
    const receipt = fc.record({
      upToSeq: fc.integer({ min: 1, max: n }),
      status: fc.constantFrom('delivered' as const, 'read' as const),
    });
    let run = 0;
    // A fixed seed: the same inputs every run, so a failure replays as it is and no run passes or fails by the draw.
    await fc.assert(
      fc.asyncProperty(fc.array(receipt, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 8 }), async (receipts, batch) => {
        run++;
        const a = await agent();
        const v = await visitor();
        for (let i = 1; i <= n; i++) await send(v, `st-${run}-${i}`);
        const changes = collect(v, 'message:status');
        // Duplicates come from the small domain; batches of concurrent receipts interleave in the store.
        for (let i = 0; i < receipts.length; i += batch) {
          await Promise.all(
            receipts
              .slice(i, i + batch)
              .map((r) => emitWithAck(a, 'receipt', { conversationId: v.session.conversationId, ...r })),
          );
        }
        const maxRead = Math.max(0, ...receipts.filter((r) => r.status === 'read').map((r) => r.upToSeq));
        const maxDelivered = Math.max(0, ...receipts.map((r) => r.upToSeq));
        const page = await emitWithAck(v, 'history', {});
        if (!page.ok) throw new Error('history failed');
        for (const m of page.data.messages) {
          const expected = m.seq <= maxRead ? 'read' : m.seq <= maxDelivered ? 'delivered' : 'sent';
          expect(m.status).toBe(expected);
          if (m.status === 'read') expect(m.statusAt.delivered).toBeDefined();
        }
        // Every stored status change reaches the sender: wait for the last push of each message to be its stored status.
        const lastPushed = () => new Map(changes.map((c) => [c.messageId, c.status]));
        await waitUntil('a status push of each advanced message matching its stored status', () =>
          page.data.messages.every((m) => m.status === 'sent' || lastPushed().get(m.id) === m.status),
        );
        // Pushed changes per message only ever go up, and each status is announced at most once.
        const rank = { sent: 1, failed: 2, delivered: 3, read: 4 } as const;
        const byMessage = new Map<string, number[]>();
        for (const c of changes) byMessage.set(c.messageId, [...(byMessage.get(c.messageId) ?? []), rank[c.status]]);
        for (const ranks of byMessage.values()) expect(ranks).toEqual([...new Set(ranks)].sort((x, y) => x - y));
        a.close();
        v.close();
      }),
      { numRuns: 8, seed: 42 },
    );
  });

  it('lets the visitor mark agent replies read, and the agents see it', async () => {
    const a = await agent();
    const v = await visitor();
    await send(v, 'hi');
    const reply = await emitWithAck(a, 'message:send', {
      conversationId: v.session.conversationId,
      clientId: 'agent-1',
      text: 'Hello, how can I help?',
    });
    if (!reply.ok) throw new Error('agent send failed');
    // Visitors see the display name, never the login name.
    expect(reply.data.author).toEqual({ role: 'agent', agentId: shared.bridge.agent.id, name: shared.bridge.agent.displayName });
    const statusSeen = nextEvent(a, 'message:status', WAIT_DEADLINE_MS, (c) => c.status === 'read');
    const ack = await emitWithAck(v, 'receipt', { upToSeq: reply.data.seq, status: 'read' });
    expect(ack).toEqual({ ok: true, data: { changed: 1 } });
    expect(await statusSeen).toMatchObject({ messageId: reply.data.id, status: 'read' });
    const dup = await emitWithAck(v, 'receipt', { upToSeq: reply.data.seq, status: 'delivered' });
    expect(dup).toEqual({ ok: true, data: { changed: 0 } });
  });
});

describe('isolation between visitors', () => {
  it('keeps B out of A by payload id, room name, and forged, tampered, alg:none, expired or agent tokens', async () => {
    const a = await visitor();
    const b = await visitor();
    await send(a, 'secret-1', 'A private message');
    const aId = a.session.conversationId;
    expect(b.session.conversationId).not.toBe(aId);
    const bSeen = collect(b, 'message:new');

    // Payload ids are not part of the visitor contract: strict schemas refuse them.
    const viaId = await emitRaw(b, 'message:send', { conversationId: aId, clientId: 'x', text: 'intrude' });
    expect(viaId).toMatchObject({ ok: false, error: { code: 'bad_request', fields: { conversationId: 'unknown field' } } });
    const historyById = await emitRaw(b, 'history', { conversationId: aId });
    expect(historyById).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    // There is no join event; a room name is just an unknown event.
    const join = await emitRaw(b, 'join', `conv:${aId}`);
    expect(join).toMatchObject({ ok: false, error: { code: 'bad_request' } });

    const secret = shared.bridge.config.secrets.visitorToken;
    const [header, payload, signature] = b.session.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, cid: aId })).toString('base64url')}.${signature}`;
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ ...claims, cid: aId }),
    ).toString('base64url')}.`;
    const forged = (
      await signVisitorToken('another-secret-of-32-characters!!', { visitorId: 'v', conversationId: aId }, new Date())
    ).token;
    const expired = (
      await signVisitorToken(secret, { visitorId: 'v', conversationId: aId }, new Date(Date.now() - 31 * 86_400_000))
    ).token;
    const wrongAudience = await new SignJWT({ cid: aId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('v')
      .setAudience('anon-chat:agent')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    const hs512 = await new SignJWT({ cid: aId })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('v')
      .setAudience(VISITOR_AUDIENCE)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    const agentToken = (await signAgentToken(shared.bridge.config.secrets.agentToken, { agentId: 'x', sessionId: 'x' }, new Date())).token;
    for (const token of [tampered, none, forged, expired, wrongAudience, hs512, agentToken, 'garbage']) {
      await expect(connectVisitor(shared.bridge.url, { token })).rejects.toMatchObject({ code: 'invalid_token' });
    }

    await send(a, 'secret-2', 'Another private message');
    const bHistory = await emitWithAck(b, 'history', {});
    expect(bHistory).toEqual({ ok: true, data: { messages: [], hasMore: false } });
    const bSync = await emitWithAck(b, 'sync', { afterRev: 0 });
    expect(bSync.ok && bSync.data.messages).toEqual([]);
    // Ordered marker: A's sends were broadcast in the turn of their acks, before B sends anything, so a push of them to
    // B would reach B's connection ahead of B's own message.
    const bMarker = nextEvent(b, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'b-marker');
    await send(b, 'b-marker');
    await bMarker;
    expect(bSeen.map((m) => m.clientId)).toEqual(['b-marker']);
    const aPage = await emitWithAck(a, 'history', {});
    expect(aPage.ok && aPage.data.messages.map((m) => m.clientId)).toEqual(['secret-1', 'secret-2']);
  });

  it('refuses agent-only events to visitors and the /agent namespace to visitor tokens', async () => {
    const v = await visitor();
    await send(v, 'm');
    for (const [event, payload] of [
      ['conversations:list', {}],
      ['message:retry', { conversationId: v.session.conversationId, messageId: 'x' }],
    ] as const) {
      expect(await emitRaw(v, event, payload)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    const errors = collect(v, 'chat:error');
    (v as unknown as { emit(event: string, payload: unknown): void }).emit('conversations:list', {});
    await waitUntil("the bridge's chat:error for an unacknowledged bad event", () => errors.length > 0);
    expect(errors.map((e) => e.code)).toEqual(['bad_request']);

    await expect(connectAgent(shared.bridge.url, v.session.token)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(connectAgent(shared.bridge.url, '')).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('links verified users across devices and refuses a wrong user hash', async () => {
    const site = shared.bridge.config.secrets.site;
    const first = await visitor({ userId: 'user-42', userHash: userHash(site, 'user-42') });
    expect(first.session.userId).toBe('user-42');
    await send(first, 'from-device-1');
    const secondDevice = await visitor({ userId: 'user-42', userHash: userHash(site, 'user-42').toUpperCase() });
    expect(secondDevice.session.conversationId).toBe(first.session.conversationId);

    await expect(
      connectVisitor(shared.bridge.url, { userId: 'user-42', userHash: userHash(site, 'user-43') }),
    ).rejects.toMatchObject({ code: 'invalid_user_hash' });
    // An unverified id links nothing.
    const unverified = await visitor({ userId: 'user-42' });
    expect(unverified.session.conversationId).not.toBe(first.session.conversationId);
    expect(unverified.session.userId).toBeUndefined();
    // Two new devices of a new user at once still share one conversation.
    const hash = userHash(site, 'user-77');
    const devices = await Promise.all(Array.from({ length: 8 }, () => visitor({ userId: 'user-77', userHash: hash })));
    expect(new Set(devices.map((d) => d.session.conversationId)).size).toBe(1);
    // After logout the old verified token does not reopen the user's conversation.
    const loggedOut = await visitor({ token: first.session.token });
    expect(loggedOut.session.conversationId).not.toBe(first.session.conversationId);
  });
});

describe('origin allowlist', () => {
  it('refuses a foreign Origin in the handshake and accepts the bridge own origin', async () => {
    await expect(
      connectVisitor(shared.bridge.url, {}, { extraHeaders: { Origin: 'https://evil.example' } }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(
      connectVisitor(shared.bridge.url, {}, { transports: ['polling'], extraHeaders: { Origin: 'https://evil.example' } }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    const ok = await visitor({}, { extraHeaders: { Origin: shared.bridge.url } });
    expect(ok.connected).toBe(true);
  });
});

describe('bad payloads', () => {
  it('answers each with a clear error and leaves the store files byte-identical', async () => {
    const v = await visitor();
    await send(v, 'baseline');
    // A store at rest: the baseline folded into the documents and no checkpoint left to run (nothing is dirty, so
    // none starts while the bad payloads come in — unless one of them changed something).
    await shared.bridge.store.checkpoint();
    const before = await snapshotFiles(shared.bridge.dataDir);
    const protoPayload = JSON.parse('{"__proto__":{"admin":true},"clientId":"p","text":"hi"}') as unknown;
    const cases: [unknown[], string][] = [
      [[], 'bad_request'],
      [['just a string'], 'bad_request'],
      [[null], 'bad_request'],
      [[[1, 2]], 'bad_request'],
      [[{ clientId: 'only-id' }], 'bad_request'],
      [[{ clientId: 'a', text: 42 }], 'bad_request'],
      [[{ clientId: 'a', text: '' }], 'text_empty'],
      [[{ clientId: 'a', text: ' \n\t ' }], 'text_empty'],
      // Only invisible characters: NUL, zero-width space/joiner, BOM, other controls, a Hangul filler.
      [[{ clientId: 'a', text: '\u0000' }], 'text_empty'],
      [[{ clientId: 'a', text: '\u200b\u200d\ufeff' }], 'text_empty'],
      [[{ clientId: 'a', text: '\u0007\u001b\u2060\u3164\u00a0' }], 'text_empty'],
      // Lone UTF-16 surrogates, high or low, alone or inside visible text.
      [[{ clientId: 'a', text: '\ud83d' }], 'text_invalid'],
      [[{ clientId: 'a', text: 'ok \udc00 ok' }], 'text_invalid'],
      [[{ clientId: 'a', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }], 'text_too_long'],
      [[{ clientId: 'has space', text: 'hi' }], 'bad_request'],
      [[{ clientId: 'x'.repeat(101), text: 'hi' }], 'bad_request'],
      [[{ clientId: 'a', text: 'hi', extra: 1 }], 'bad_request'],
      [[protoPayload], 'bad_request'],
      [[{ clientId: 'a', text: 'hi' }, 'extra argument'], 'bad_request'],
    ];
    for (const [args, code] of cases) {
      const ack = (await emitRaw(v, 'message:send', ...args)) as { ok: boolean; error?: { code: string; message: string } };
      expect(ack.ok, JSON.stringify(args).slice(0, 80)).toBe(false);
      expect(ack.error?.code, JSON.stringify(args).slice(0, 80)).toBe(code);
      expect(ack.error?.message).toMatch(/^[A-Z]/);
    }
    expect(await emitRaw(v, 'sync', { afterRev: -1 })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await emitRaw(v, 'receipt', { upToSeq: 1, status: 'sent' })).toMatchObject({
      ok: false,
      error: { code: 'bad_request', fields: { status: expect.any(String) } },
    });
    expect(await emitRaw(v, 'history', { beforeSeq: 'x' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    // Errors without an ack arrive as chat:error.
    const errors = collect(v, 'chat:error');
    const emitNoAck = (event: string, payload: unknown) =>
      (v as unknown as { emit(event: string, payload: unknown): void }).emit(event, payload);
    emitNoAck('message:send', { clientId: 'no-ack', text: '' });
    emitNoAck('typing', { typing: 'yes' });
    await expect.poll(() => errors.map((e) => e.code)).toEqual(['text_empty', 'bad_request']);
    // A packet over maxHttpBufferSize closes the connection instead of being parsed.
    const disconnected = nextEvent(v, 'disconnect');
    emitNoAck('message:send', { clientId: 'huge', text: 'x'.repeat(40_000) });
    await disconnected;

    expect(await snapshotFiles(shared.bridge.dataDir)).toEqual(before);
    const fresh = await visitor({ token: v.session.token });
    const page = await emitWithAck(fresh, 'history', {});
    expect(page.ok && page.data.messages.map((m) => m.clientId)).toEqual(['baseline']);
  });
});

describe('typing and presence', () => {
  it('forwards typing only to the right rooms and ends it when the typist leaves', async () => {
    const a = await agent();
    const v = await visitor();
    const other = await visitor();
    const otherTyping = collect(other, 'typing');
    const agentTyping = nextEvent(a, 'typing');
    v.emit('typing', { typing: true });
    expect(await agentTyping).toEqual({ conversationId: v.session.conversationId, role: 'visitor', typing: true });

    const visitorSees = nextEvent(v, 'typing');
    a.emit('typing', { conversationId: v.session.conversationId, typing: true });
    expect(await visitorSees).toEqual({
      conversationId: v.session.conversationId,
      role: 'agent',
      name: shared.bridge.agent.displayName,
      typing: true,
    });

    const stopped = nextEvent(a, 'typing', WAIT_DEADLINE_MS, (e) => !e.typing);
    v.close();
    expect(await stopped).toMatchObject({ conversationId: v.session.conversationId, typing: false });
    // Ordered marker: each typing event above was forwarded before the test saw it arrive, so one sent to the other
    // conversation's visitor would reach its connection ahead of that visitor's own message.
    const otherMarker = nextEvent(other, 'message:new', WAIT_DEADLINE_MS, (m) => m.clientId === 'other-marker');
    await send(other, 'other-marker');
    await otherMarker;
    expect(otherTyping).toEqual([]);
  });

  it('expires a typing indicator that is not refreshed', async () => {
    const a = await agent();
    const v = await visitor();
    const events = collect(a, 'typing');
    v.emit('typing', { typing: true });
    v.emit('typing', { typing: true });
    // The bridge ends an indicator nobody refreshed on its own timer; wait for that 'typing: false' itself.
    await waitUntil('the unrefreshed typing indicator to expire', () => events.length >= 2);
    expect(events.map((e) => e.typing)).toEqual([true, false]);
  });

  it('throttles typing by the bridge clock (ctx.clock), not the wall clock', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clocked = await startTestBridge({ clock: () => new Date(now) });
    try {
      const a = track(await connectAgent(clocked.url, clocked.agent.token));
      const v = track(await connectVisitor(clocked.url));
      const seen = collect(a, 'typing');
      const first = nextEvent(a, 'typing');
      v.emit('typing', { typing: true });
      await first;
      // Same bridge time: a refresh is within the throttle window and is not forwarded; the stop always is.
      v.emit('typing', { typing: true });
      const stopped = nextEvent(a, 'typing', WAIT_DEADLINE_MS, (e) => !e.typing);
      v.emit('typing', { typing: false });
      await stopped;
      v.emit('typing', { typing: true });
      const refreshed = nextEvent(a, 'typing', WAIT_DEADLINE_MS, (e) => e.typing);
      await refreshed;
      // The throttle counts from the last forwarded start, so after the bridge clock moves past it a refresh goes out.
      now += TYPING_THROTTLE_MS;
      const again = nextEvent(a, 'typing', WAIT_DEADLINE_MS, (e) => e.typing);
      v.emit('typing', { typing: true });
      await again;
      expect(seen.map((e) => e.typing)).toEqual([true, false, true, true]);
    } finally {
      await clocked.close();
    }
  });

  it('tells agents when a visitor comes and goes and visitors how many agents are online', async () => {
    const watcher = await agent();
    const online = nextEvent(watcher, 'visitor:presence', WAIT_DEADLINE_MS, (p) => p.online);
    const v = await visitor();
    expect(await online).toEqual({ conversationId: v.session.conversationId, online: true });
    await send(v, 'present');
    const list = await emitWithAck(watcher, 'conversations:list', {});
    if (!list.ok) throw new Error('list failed');
    expect(list.data.conversations.find((c) => c.id === v.session.conversationId)).toMatchObject({
      visitorOnline: true,
      lastMessage: { text: 'text present' },
    });
    const offline = nextEvent(watcher, 'visitor:presence', WAIT_DEADLINE_MS, (p) => !p.online);
    v.close();
    expect(await offline).toEqual({ conversationId: v.session.conversationId, online: false });

    const v2 = await visitor();
    const agentsBefore = nextEvent(v2, 'agents:presence', WAIT_DEADLINE_MS, (p) => p.online === 2);
    // A second tab of the same agent is still one agent; another account makes two.
    const sameAgentTab = await agent();
    const record = await createAgentAccount(
      shared.bridge.store,
      { name: `second-${Date.now()}`, displayName: 'Second', role: 'agent', password: 'second-password' },
      new Date(),
    );
    const { token } = await startAgentSession(shared.bridge.store, shared.bridge.config.secrets.agentToken, record, new Date());
    const second = track(await connectAgent(shared.bridge.url, token));
    expect(await agentsBefore).toEqual({ online: 2 });
    sameAgentTab.close();
    const agentsAfter = nextEvent(v2, 'agents:presence', WAIT_DEADLINE_MS, (p) => p.online === 1);
    second.close();
    expect(await agentsAfter).toEqual({ online: 1 });
  });

  it('shows a visitor who came back before any console as online to a console that connects later', async () => {
    // Presence announcements are skipped while no agent is connected (a restart storm): nothing may be lost by that.
    const fresh = await startTestBridge();
    try {
      const v = track(await connectVisitor(fresh.url));
      await send(v, 'before-console');
      const again = track(await connectVisitor(fresh.url, { token: v.session.token }));
      const console = track(await connectAgent(fresh.url, fresh.agent.token));
      const list = await emitWithAck(console, 'conversations:list', {});
      if (!list.ok) throw new Error('list failed');
      expect(list.data.conversations.find((c) => c.id === v.session.conversationId)).toMatchObject({ visitorOnline: true });
      const offline = nextEvent(console, 'visitor:presence', WAIT_DEADLINE_MS, (p) => !p.online);
      const stillOnline = nextEvent(console, 'visitor:presence', WAIT_DEADLINE_MS, (p) => p.online);
      v.close();
      expect(await stillOnline).toEqual({ conversationId: v.session.conversationId, online: true });
      again.close();
      expect(await offline).toEqual({ conversationId: v.session.conversationId, online: false });
    } finally {
      await fresh.close();
    }
  });
});

describe('abuse limits', () => {
  it('closes a connection that never completes the namespace handshake', async () => {
    const quick = await startTestBridge({ config: { connectTimeoutMs: 300 } });
    // The engine.io connection as the bridge sees it, and why it ended there: `forced close` only when the server
    // closed it itself (a client closing gives `transport close`, a missed heartbeat `ping timeout`, after 45 s).
    let serverReason: string | undefined;
    quick.bridge.io.engine.once('connection', (connection: { once(event: 'close', listener: (reason: string) => void): void }) =>
      connection.once('close', (reason) => (serverReason = reason)),
    );
    const manager = new Manager(quick.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    let clientReason: string | undefined;
    manager.on('close', (reason) => (clientReason = reason));
    try {
      // Opened at the engine.io level only: no socket, so no namespace connect packet is ever sent.
      await new Promise<void>((resolve, reject) => manager.open((error) => (error ? reject(error) : resolve())));
      await waitUntil('the bridge to close a connection that joined no namespace', () => serverReason);
      expect(serverReason).toBe('forced close');
      await waitUntil('the client to see its connection closed', () => clientReason);
      expect(clientReason).toBe('transport close');
    } finally {
      manager.engine?.close();
      await quick.close();
    }
  });

  it('answers over-limit sends, typing and connections with rate_limited', async () => {
    const limited = await startTestBridge({
      config: { rateLimits: { messagesPerMinute: 3, typingPerMinute: 2, connectionsPerMinute: 4 } },
    });
    try {
      const v = track(await connectVisitor(limited.url));
      for (let i = 0; i < 3; i++) {
        expect((await emitWithAck(v, 'message:send', { clientId: `rl-${i}`, text: 'x' })).ok).toBe(true);
      }
      const over = await emitWithAck(v, 'message:send', { clientId: 'rl-4', text: 'x' });
      expect(over).toMatchObject({ ok: false, error: { code: 'rate_limited', retryAfterMs: expect.any(Number) } });
      expect(await limited.store.getMessages(v.session.conversationId, { limit: 10 })).toHaveLength(3);

      const errors = collect(v, 'chat:error');
      for (let i = 0; i < 3; i++) v.emit('typing', { typing: i % 2 === 0 });
      // The first two are within the limit and answer nothing, so the third's error is the first to arrive.
      await waitUntil('a chat:error for the third typing event', () => errors.length > 0);
      expect(errors.map((e) => e.code)).toEqual(['rate_limited']);

      const more = [];
      for (let i = 0; i < 3; i++) more.push(track(await connectVisitor(limited.url)));
      await expect(connectVisitor(limited.url)).rejects.toMatchObject({ code: 'rate_limited' });
    } finally {
      shared.closeTracked();
      await limited.close();
    }
  });
});
