/**
 * The visitor-context story (#13) as both store engines must tell it, run by bridge/visitor-context.test.ts (lowdb, one
 * node) and bridge/cluster/visitor-context.postgres.test.ts (PostgreSQL, visitor on node A, agent on node B): a report
 * validated, kept until the first message, stored, updated, pushed live to agents, read back by a reconnecting console,
 * exported, never sent to another visitor, and erased with the conversation.
 */
import { expect } from 'vitest';
import type { ConversationExport } from '../../protocol/events.ts';
import type { VisitorContext, VisitorContextReport } from '../../protocol/visitor-context.ts';
import { VISITOR_CONTEXT_NAMESPACE } from '../visitor-context.ts';
import type { Store } from '../store/store.ts';
import { collect, connectAgent, connectVisitor, emitRaw, emitWithAck, nextEvent } from './clients.ts';
import { waitUntil } from './wait-until.ts';

/** Firefox 133 on Windows 10, as the handshake header of the visitor in the scenario. */
export const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** Where the scenario runs: the visitor's node, the agent's node (the same for one node), an admin's token. */
export interface VisitorContextRig {
  visitorUrl: string;
  agentUrl: string;
  adminToken: string;
  store: Pick<Store, 'getRecord'>;
  /** Closes every socket opened by the scenario after the test. */
  track: <T extends { close(): unknown }>(socket: T) => T;
}

const home: VisitorContextReport = {
  url: 'https://shop.example.com/',
  title: 'Example Shop',
  referrer: 'https://search.example.org/?q=shoes',
  language: 'de-DE',
  timeZone: 'Europe/Berlin',
  utcOffsetMinutes: 60,
};

/** Runs the scenario; fails on the first point that does not hold. */
export async function visitorContextScenario(rig: VisitorContextRig): Promise<void> {
  const visitor = rig.track(await connectVisitor(rig.visitorUrl, {}, { extraHeaders: { 'User-Agent': FIREFOX_ON_WINDOWS } }));
  expect(visitor.session.visitorContext).toBe(true);
  const conversationId = visitor.session.conversationId;
  const other = rig.track(await connectVisitor(rig.visitorUrl));
  const otherHeard: unknown[] = [];
  other.onAny((...args: unknown[]) => otherHeard.push(args));
  const agent = rig.track(await connectAgent(rig.agentUrl, rig.adminToken));
  const pushed = collect(agent, 'conversation:context');

  // Bad reports are refused with the field named, and change nothing.
  const bad: [Record<string, unknown>, string][] = [
    [{ ...home, url: 'javascript:alert(1)' }, 'url'],
    [{ ...home, url: `https://shop.example.com/${'a'.repeat(2048)}` }, 'url'],
    [{ ...home, title: 't'.repeat(301) }, 'title'],
    [{ ...home, referrer: 'file:///etc/passwd' }, 'referrer'],
    [{ ...home, language: 'de DE<script>' }, 'language'],
    [{ ...home, timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
    [{ ...home, utcOffsetMinutes: 900 }, 'utcOffsetMinutes'],
    [{ ...home, userAgent: 'Trusted/1.0' }, ''],
  ];
  for (const [payload, field] of bad) {
    const refused = await emitRaw(visitor, 'visitor:context', payload);
    expect(refused, JSON.stringify(payload).slice(0, 80)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    if (field) expect((refused as { error: { fields?: Record<string, string> } }).error.fields).toHaveProperty(field);
  }

  // Before the first message nothing is stored: the newest report waits for the conversation.
  expect(await emitWithAck(visitor, 'visitor:context', home)).toEqual({ ok: true, data: { stored: false } });
  expect(await rig.store.getRecord(VISITOR_CONTEXT_NAMESPACE, conversationId)).toBeUndefined();
  const first = nextEvent(agent, 'conversation:context', undefined, (c) => c.conversationId === conversationId);
  expect(await emitWithAck(visitor, 'message:send', { clientId: 'c1', text: 'Do you ship to Austria?' })).toMatchObject({ ok: true });
  const expected: Record<string, unknown> = { ...home, browser: 'Firefox 133', os: 'Windows 10', device: 'desktop', updatedAt: expect.any(String) };
  expect((await first).context).toEqual(expected);
  await waitUntil('the first context stored', async () => (await rig.store.getRecord(VISITOR_CONTEXT_NAMESPACE, conversationId)) !== undefined);

  // A single-page app navigates: the new page replaces the old one, live and stored.
  const product: VisitorContextReport = { ...home, url: 'https://shop.example.com/#/boots?size=42', title: 'Boots — Example Shop' };
  const moved = nextEvent(agent, 'conversation:context', undefined, (c) => c.context?.url === product.url);
  expect(await emitWithAck(visitor, 'visitor:context', product)).toEqual({ ok: true, data: { stored: true } });
  expect((await moved).context).toMatchObject({ url: product.url, title: product.title, browser: 'Firefox 133' });
  expect(await rig.store.getRecord<VisitorContext>(VISITOR_CONTEXT_NAMESPACE, conversationId)).toMatchObject({ url: product.url });
  expect(pushed.filter((c) => c.conversationId === conversationId).map((c) => c.context?.url)).toEqual([home.url, product.url]);

  // A console connecting afresh (a reconnect) reads it; an unknown conversation is not_found.
  const later = rig.track(await connectAgent(rig.agentUrl, rig.adminToken));
  expect(await emitWithAck(later, 'conversation:context', { conversationId })).toMatchObject({ ok: true, data: { context: { url: product.url, os: 'Windows 10' } } });
  expect(await emitWithAck(later, 'conversation:context', { conversationId: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  // A visitor has no way to read it, and another visitor heard nothing of it.
  expect(await emitRaw(other, 'conversation:context', { conversationId })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  expect(JSON.stringify(otherHeard)).not.toContain('shop.example.com');

  // Exported with the conversation, erased with it.
  const auth = { Authorization: `Bearer ${rig.adminToken}` };
  const exported = (await (await fetch(`${rig.agentUrl}/api/conversations/${conversationId}/export`, { headers: auth })).json()) as ConversationExport;
  expect(exported.visitorContext).toMatchObject({ url: product.url, title: product.title });
  expect((await fetch(`${rig.agentUrl}/api/conversations/${conversationId}`, { method: 'DELETE', headers: auth })).status).toBeLessThan(300);
  expect(await rig.store.getRecord(VISITOR_CONTEXT_NAMESPACE, conversationId)).toBeUndefined();
  expect(await emitWithAck(later, 'conversation:context', { conversationId })).toMatchObject({ ok: false, error: { code: 'not_found' } });
}
