/**
 * The widget against a real bridge in real Chromium: optimistic sends that reconcile without duplicates, the
 * offline outbox across a reload and a bridge restart, read ticks, replies missed while offline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import type { Message } from '../protocol/message.ts';
import {
  connectAgent,
  emitWithAck,
  nextEvent,
  startBridgeProcess,
  startTestBridge,
  PROCESS_ADMIN,
  type AgentClient,
  WAIT_DEADLINE_MS,
} from '../bridge/testing/index.ts';
import {
  openPanel,
  openWidget,
  renderedMessages,
  sendFromComposer,
  startCuttableLink,
  useWidgetRig,
  conversationOf,
} from './widget-harness.ts';

const rig = useWidgetRig();
let siteCounter = 0;

async function history(conversationId: string, a: AgentClient = rig.agent): Promise<Message[]> {
  const res = await emitWithAck(a, 'history', { conversationId, limit: 100 });
  if (!res.ok) throw new Error(res.error.code);
  return res.data.messages;
}

const newSite = (): string => `site-m${++siteCounter}-${Date.now()}`;

let shared: BrowserContext | undefined;
/**
 * The file's one browser context: each case is a new visitor (a site key of its own, so its token, outbox and cached
 * history are keys of their own in localStorage) in a page it closes.
 */
async function sharedContext(): Promise<BrowserContext> {
  shared ??= await rig.browser.newContext();
  return shared;
}

describe('widget messaging against a real bridge', () => {
  it('shows a send at once and reconciles it with the stored copy without a duplicate', async () => {
    const key = newSite();
    const { page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'hello there');
    // Optimistic: on screen before any round trip could finish, as sending or already sent.
    const first = await renderedMessages(page);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ text: 'hello there', own: true });
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const after = await renderedMessages(page);
    expect(after).toEqual([{ text: 'hello there', own: true, status: 'sent', seq: '1' }]);
    const stored = await history((await conversationOf(rig.agent, key)).id);
    expect(stored.map((m) => m.text)).toEqual(['hello there']);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('advances the ticks to read when an agent reads, and delivered/read receipts flow back for agent replies', async () => {
    const key = newSite();
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'please read me');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const conversation = await conversationOf(rig.agent, key);
    const delivered = await emitWithAck(rig.agent, 'receipt', { conversationId: conversation.id, upToSeq: 1, status: 'delivered' });
    expect(delivered.ok).toBe(true);
    await page.locator('anon-chat .msg--own.msg--delivered').waitFor();
    await emitWithAck(rig.agent, 'receipt', { conversationId: conversation.id, upToSeq: 1, status: 'read' });
    await page.locator('anon-chat .msg--own.msg--read').waitFor();
    const ticks = page.locator('anon-chat .msg--own .ticks');
    expect(await ticks.getAttribute('aria-label')).toBe('Read');
    expect(await ticks.textContent()).toBe('✓✓');
    // The panel is open and visible: an agent reply is marked read by the visitor.
    const reply = await emitWithAck(rig.agent, 'message:send', { conversationId: conversation.id, clientId: 'agent-r1', text: 'got it' });
    expect(reply.ok).toBe(true);
    await expect.poll(async () => (await history(conversation.id)).find((m) => m.clientId === 'agent-r1')?.status).toBe('read');
    await page.close();
  });

  it('shows an agent reply sent while the visitor was cut off, and sends what was queued, after reconnecting', async () => {
    const key = newSite();
    const link = await startCuttableLink(rig.bridge.url);
    const { page } = await openWidget(rig.browser, rig.site.url({ server: link.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'before the cut');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const conversation = await conversationOf(rig.agent, key);
    link.cut();
    await page.locator('anon-chat .connection').waitFor();
    const reply = await emitWithAck(rig.agent, 'message:send', { conversationId: conversation.id, clientId: 'agent-off-1', text: 'reply while you were away' });
    expect(reply.ok).toBe(true);
    await sendFromComposer(page, 'written while cut off');
    await page.locator('anon-chat .msg--own.msg--sending').waitFor();
    link.restore();
    await page.locator('anon-chat .msg--other', { hasText: 'reply while you were away' }).waitFor();
    await expect.poll(async () => (await renderedMessages(page)).map((m) => `${m.text}|${m.status === 'sending' ? 'sending' : 'stored'}`)).toEqual([
      'before the cut|stored',
      'reply while you were away|stored',
      'written while cut off|stored',
    ]);
    expect((await history(conversation.id)).map((m) => m.text)).toEqual(['before the cut', 'reply while you were away', 'written while cut off']);
    await page.close();
    await link.close();
  });

  it('queues sends while the bridge is down, keeps them across a reload, and delivers each exactly once in order', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-widget-e2e-'));
    const env = { ALLOWED_ORIGINS: rig.site.origin };
    let proc = await startBridgeProcess({ dataDir, env });
    const port = proc.port;
    const key = newSite();
    try {
      const { page } = await openWidget(rig.browser, rig.site.url({ server: proc.url, site: key }), await sharedContext());
      await openPanel(page);
      await sendFromComposer(page, 'first, while up');
      await page.locator('anon-chat .msg--own.msg--sent').waitFor();
      await proc.kill('SIGKILL');
      await page.locator('anon-chat .connection').waitFor();
      for (const text of ['queued one', 'queued two', 'queued three']) await sendFromComposer(page, text);
      await expect.poll(async () => (await renderedMessages(page)).filter((m) => m.status === 'sending').length).toBe(3);
      await page.reload();
      await openPanel(page);
      // After the reload the outbox is back on screen, still waiting.
      expect((await renderedMessages(page)).map((m) => `${m.text}|${m.status}`)).toEqual([
        'first, while up|sent',
        'queued one|sending',
        'queued two|sending',
        'queued three|sending',
      ]);
      proc = await startBridgeProcess({ dataDir, env, port });
      await expect
        .poll(async () => (await renderedMessages(page)).map((m) => `${m.text}|${m.seq}`), { timeout: 40_000 })
        .toEqual(['first, while up|1', 'queued one|2', 'queued two|3', 'queued three|4']);
      const login = (await (
        await fetch(`${proc.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(PROCESS_ADMIN),
        })
      ).json()) as { token: string };
      const processAgent = await connectAgent(proc.url, login.token);
      try {
        const conversation = await conversationOf(processAgent, key);
        expect((await history(conversation.id, processAgent)).map((m) => `${m.seq}:${m.text}`)).toEqual([
          '1:first, while up',
          '2:queued one',
          '3:queued two',
          '4:queued three',
        ]);
      } finally {
        processAgent.disconnect();
      }
      // The outbox is empty once everything is stored: a further reload shows no pending copies.
      await page.reload();
      await openPanel(page);
      await expect.poll(async () => (await renderedMessages(page)).map((m) => m.text)).toEqual(['first, while up', 'queued one', 'queued two', 'queued three']);
      await page.close();
    } finally {
      await proc.kill('SIGKILL').catch(() => null);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('becomes a fresh visitor when its token is refused, and reset() forgets the visitor on purpose', async () => {
    const key = newSite();
    const tokenKey = (): Promise<string | undefined> =>
      page.evaluate((site) => Object.keys(localStorage).find((k) => k.endsWith(`|${site}:token`)), key);
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await sendFromComposer(page, 'old identity');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const first = await conversationOf(rig.agent, key);
    const storageKey = (await tokenKey())!;
    await page.evaluate((k) => localStorage.setItem(k, JSON.stringify('not.a.valid-token')), storageKey);
    await page.reload();
    await openPanel(page);
    await sendFromComposer(page, 'new identity');
    await expect.poll(async () => (await renderedMessages(page)).map((m) => `${m.text}|${m.seq}`)).toEqual(['new identity|1']);
    const token = await page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? 'null') as string | null, storageKey);
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(token).not.toBe('not.a.valid-token');
    const list = await emitWithAck(rig.agent, 'conversations:list', { filter: 'all' });
    const mine = list.ok ? list.data.conversations.filter((c) => c.site === key) : [];
    expect(mine.map((c) => c.id)).toContain(first.id);
    expect(mine).toHaveLength(2);
    expect((await history(first.id)).map((m) => m.text)).toEqual(['old identity']);

    await page.evaluate(() => document.querySelector('anon-chat')!.reset());
    await expect.poll(async () => (await renderedMessages(page)).length).toBe(0);
    await sendFromComposer(page, 'after reset');
    await expect.poll(async () => (await renderedMessages(page)).map((m) => `${m.text}|${m.seq}`)).toEqual(['after reset|1']);
    await expect.poll(async () => {
      const again = await emitWithAck(rig.agent, 'conversations:list', { filter: 'all' });
      return again.ok ? again.data.conversations.filter((c) => c.site === key).length : 0;
    }).toBe(3);
    await page.close();
  });

  it('shows agent availability and typing, and tells the agent when the visitor types', async () => {
    const key = newSite();
    const { page } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }), await sharedContext());
    await openPanel(page);
    await expect.poll(() => page.locator('anon-chat .availability').textContent()).toContain('We are online');
    expect(await page.locator('anon-chat .transport').textContent()).toBe('Realtime');
    await sendFromComposer(page, 'hello');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const conversation = await conversationOf(rig.agent, key);
    const visitorTyping = nextEvent(rig.agent, 'typing', WAIT_DEADLINE_MS, (e) => e.conversationId === conversation.id && e.role === 'visitor' && e.typing);
    await page.locator('anon-chat textarea').pressSequentially('typing away', { delay: 20 });
    expect(await visitorTyping).toMatchObject({ role: 'visitor', typing: true });
    rig.agent.emit('typing', { conversationId: conversation.id, typing: true });
    await page.locator('anon-chat .typing').waitFor();
    expect(await page.locator('anon-chat .typing').textContent()).toMatch(/is typing…$/);
    await emitWithAck(rig.agent, 'message:send', { conversationId: conversation.id, clientId: 'typing-reply', text: 'done typing' });
    await page.locator('anon-chat .msg--other').waitFor();
    expect(await page.locator('anon-chat .typing').count()).toBe(0);
    // Screen readers hear the reply through the live region.
    expect(await page.locator('anon-chat [aria-live="polite"]').last().textContent()).toContain('done typing');
    await page.close();
  });

  it('rides out rate limiting: retried after the bridge says, each message stored once, in the order written', async () => {
    // The bridge's clock stands still, so its bucket does not refill while the burst runs however slow the machine;
    // when it refuses a send, the clock moves on by one refill period before the refusal goes out. The widget then
    // waits the retryAfterMs it was told (real time) and finds the bucket full again: one refusal, known in advance.
    let clockMs = Date.now();
    const refusedAfterMs: number[] = [];
    const limited = await startTestBridge({ config: { allowedOrigins: [rig.site.origin], rateLimits: { messagesPerMinute: 60 } }, clock: () => new Date(clockMs) });
    limited.bridge.io.of('/visitor').on('connection', (socket) => {
      socket.use((packet, next) => {
        const ack: unknown = packet.at(-1);
        if (packet[0] === 'message:send' && typeof ack === 'function') {
          packet[packet.length - 1] = (answer: { ok: boolean; error?: { code: string; retryAfterMs?: number } }): void => {
            if (!answer.ok && answer.error?.code === 'rate_limited') {
              refusedAfterMs.push(answer.error.retryAfterMs ?? 0);
              clockMs += 60_000;
            }
            (ack as (answer: unknown) => void)(answer);
          };
        }
        next();
      });
    });
    const limitedAgent = await connectAgent(limited.url, limited.agent.token);
    try {
      const key = newSite();
      const { page } = await openWidget(rig.browser, rig.site.url({ server: limited.url, site: key }), await sharedContext());
      await openPanel(page);
      // 65 sends at once: the bucket holds 60, the 61st is refused with retryAfterMs (a second at 60 a minute) and must
      // be retried; the four after it wait behind it in the outbox.
      const results = await page.evaluate(() => {
        const chat = document.querySelector('anon-chat')!;
        return Promise.all(Array.from({ length: 65 }, (_, i) => chat.send(`burst ${i}`).then((m) => m.seq)));
      });
      expect(results).toEqual(Array.from({ length: 65 }, (_, i) => i + 1));
      expect(refusedAfterMs).toHaveLength(1);
      expect(refusedAfterMs[0]).toBeGreaterThan(0);
      const conversation = await conversationOf(limitedAgent, key);
      const stored = await emitWithAck(limitedAgent, 'history', { conversationId: conversation.id, limit: 100 });
      expect((stored.ok ? stored.data.messages : []).map((m) => m.text)).toEqual(Array.from({ length: 65 }, (_, i) => `burst ${i}`));
      expect(await page.locator('anon-chat .msg--failed').count()).toBe(0);
      await page.close();
    } finally {
      limitedAgent.disconnect();
      await limited.close();
    }
  });

  it('on a page whose origin the bridge refuses: says the chat is not available here, warns once, and does not hammer the bridge', async () => {
    const refusing = await startTestBridge({ config: { allowedOrigins: ['https://elsewhere.example'] } });
    try {
      const page = await (await sharedContext()).newPage();
      const warnings: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'warning') warnings.push(message.text());
      });
      let handshakes = 0;
      page.on('websocket', () => void (handshakes += 1));
      // Timers under test control: a retry due within minutes shows up as a handshake when the clock is moved.
      await page.clock.install();
      await page.goto(rig.site.url({ server: refusing.url, site: newSite() }));
      await page.locator('anon-chat .launcher').first().waitFor();
      await openPanel(page);
      await expect.poll(() => page.locator('anon-chat .connection').textContent(), { timeout: 20_000 }).toBe('This chat is not available here');
      expect(handshakes).toBe(1);
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`ALLOWED_ORIGINS`))]);
      expect(warnings[0]).toContain(rig.site.origin);
      // A minute later (the old widget retried every second or so): still the one refused handshake.
      await page.clock.runFor(60_000);
      expect(handshakes).toBe(1);
      // After the long back-off it asks again, is refused again, and does not warn a second time.
      await page.clock.runFor(5 * 60_000);
      await expect.poll(() => handshakes, { timeout: 20_000 }).toBe(2);
      expect(await page.locator('anon-chat .connection').textContent()).toBe('This chat is not available here');
      expect(warnings).toHaveLength(1);
      await page.close();
    } finally {
      await refusing.close();
    }
  });
});
