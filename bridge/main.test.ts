import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import type { Message } from '../protocol/message.ts';
import {
  connectAgent,
  connectVisitor,
  emitWithAck,
  nextEvent,
  PROCESS_ADMIN,
  startBridgeProcess,
  type BridgeProcess,
  type ConnectedVisitor,
  WAIT_DEADLINE_MS,
  waitUntil,
} from './testing/index.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-main-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function start(dataDir: string, port?: number, env?: Record<string, string>): Promise<BridgeProcess> {
  const bridge = await startBridgeProcess({ dataDir, ...(port !== undefined ? { port } : {}), ...(env ? { env } : {}) });
  cleanups.push(() => bridge.kill('SIGKILL'));
  return bridge;
}

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(PROCESS_ADMIN),
  });
  const body = (await res.json()) as { token: string };
  return body.token;
}

async function allMessages(visitor: ConnectedVisitor): Promise<Message[]> {
  const messages: Message[] = [];
  let afterRev = 0;
  for (;;) {
    const page = await emitWithAck(visitor, 'sync', { afterRev });
    if (!page.ok) throw new Error(page.error.code);
    messages.push(...page.data.messages);
    afterRev = page.data.rev;
    if (!page.data.hasMore) return messages;
  }
}

describe('bridge process', () => {
  it('prints a banner and the listening line with the real port, and the bootstrap password only once', async () => {
    const dir = await tempDir();
    // A start that cannot listen (busy port) creates no admin and prints no password: the next start does.
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const busyPort = (busy.address() as AddressInfo).port;
    const failed = await startBridgeProcess({ dataDir: dir, port: busyPort, env: { AGENT_BOOTSTRAP_PASSWORD: '' } }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/already in use/);
    expect(failed).not.toContain('password:');
    const first = await startBridgeProcess({ dataDir: dir, env: { AGENT_BOOTSTRAP_PASSWORD: '' } });
    cleanups.push(() => first.kill('SIGKILL'));
    expect(first.port).toBeGreaterThan(0);
    const out = first.output();
    expect(out).toContain(`${first.url}/console/`);
    expect(out).toContain(`${first.url}/demo/theming.html`);
    // No WhatsApp or status webhook configured: their URLs are not advertised.
    expect(out).not.toContain('/webhooks/');
    const password = /password: (\S+)/.exec(out)?.[1];
    expect(password).toBeDefined();
    const res = await fetch(`${first.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password }),
    });
    expect(res.status).toBe(200);
    // The origin allowlist follows the real port when PORT=0, so the bridge's own pages may connect.
    const own = await connectVisitor(first.url, {}, { extraHeaders: { Origin: first.url } });
    own.close();
    expect(await first.stop()).toBe(0);
    const second = await start(dir, undefined, {
      PUBLIC_URL: 'https://chat.example.com',
      WHATSAPP_VERIFY_TOKEN: 'verify-token-123',
      STATUS_WEBHOOK_SECRET: 'status-secret-0123456789',
    });
    const banner = second.output();
    expect(banner).not.toContain('password:');
    expect(banner).toContain('whatsapp:      https://chat.example.com/webhooks/whatsapp');
    expect(banner).toContain('status hook:   https://chat.example.com/webhooks/status');
    expect(banner.trimEnd().split('\n').at(-1)).toBe(`anon-chat listening on ${second.url}`);
  });

  it('refuses a bad variable and a second process on the same data directory with clear messages', async () => {
    const dir = await tempDir();
    await expect(startBridgeProcess({ dataDir: dir, env: { LOG_LEVEL: 'chatty' } })).rejects.toThrow(/LOG_LEVEL/);
    await start(dir);
    await expect(startBridgeProcess({ dataDir: dir })).rejects.toThrow(/in use|lock/i);
  });

  it('refuses to start on a corrupt store or secrets file, naming the file, and leaves it untouched', async () => {
    const dir = await tempDir();
    const first = await start(dir);
    expect(await first.stop()).toBe(0);
    await writeFile(join(dir, 'manifest.json'), '{"version":1,"gener');
    await expect(startBridgeProcess({ dataDir: dir })).rejects.toThrow(/cannot open storage: .*manifest\.json/);
    expect(await readFile(join(dir, 'manifest.json'), 'utf8')).toBe('{"version":1,"gener');
    await writeFile(join(dir, 'secrets.json'), 'not json');
    await expect(startBridgeProcess({ dataDir: dir })).rejects.toThrow(/secrets\.json/);
  });

  it('replays messages and status changes by rev after a restart, and shuts down cleanly on SIGTERM', async () => {
    const dir = await tempDir();
    const first = await start(dir);
    const visitor = await connectVisitor(first.url);
    for (let i = 1; i <= 3; i++) await emitWithAck(visitor, 'message:send', { clientId: `v${i}`, text: `visitor ${i}` });
    const agent = await connectAgent(first.url, await login(first.url));
    const reply = await emitWithAck(agent, 'message:send', {
      conversationId: visitor.session.conversationId,
      clientId: 'a1',
      text: 'agent reply',
    });
    expect(reply.ok).toBe(true);
    const before = await allMessages(visitor);
    const revBefore = Math.max(...before.map((m) => m.rev));
    await emitWithAck(agent, 'receipt', { conversationId: visitor.session.conversationId, upToSeq: 2, status: 'read' });
    const token = visitor.session.token;
    agent.close();
    // SIGTERM with a visitor still connected: the bridge closes its socket, flushes and exits 0.
    const disconnected = nextEvent(visitor, 'disconnect', WAIT_DEADLINE_MS);
    const lateSend = emitWithAck(visitor, 'message:send', { clientId: 'v4', text: 'just before shutdown' }, 5000).catch(
      () => undefined,
    );
    const exitCode = first.stop();
    // A transport close (not "io server disconnect") so that widgets reconnect on their own when the bridge is back.
    expect(await disconnected).toBe('transport close');
    expect(await exitCode).toBe(0);
    const lateAck = await lateSend;

    const second = await start(dir, first.port);
    expect(second.port).toBe(first.port);
    const back = await connectVisitor(second.url, { token });
    cleanups.push(async () => back.close());
    expect(back.session.conversationId).toBe(visitor.session.conversationId);
    const all = (await allMessages(back)).filter((m) => m.clientId !== 'v4');
    expect(all.map((m) => [m.clientId, m.status])).toEqual([
      ['v1', 'read'],
      ['v2', 'read'],
      ['v3', 'sent'],
      ['a1', 'sent'],
    ]);
    // A send acked during shutdown was flushed before exit.
    const page = await emitWithAck(back, 'history', {});
    if (lateAck?.ok) expect(page.ok && page.data.messages.map((m) => m.clientId)).toContain('v4');
    const changed = await emitWithAck(back, 'sync', { afterRev: revBefore });
    expect(changed.ok && changed.data.messages.map((m) => m.clientId).filter((id) => id !== 'v4')).toEqual(['v1', 'v2']);
  });

  it('keeps every acked message exactly once across SIGKILLs in the middle of a send stream', async () => {
    const dir = await tempDir();
    let port: number | undefined;
    let token: string | undefined;
    const acked = new Set<string>();
    let counter = 0;
    for (let round = 0; round < 3; round++) {
      const bridge = await start(dir, port);
      port = bridge.port;
      const visitor = await connectVisitor(bridge.url, token ? { token } : {});
      token = visitor.session.token;
      let stop = false;
      // Four senders keep acks in flight while the process dies. A send whose ack does not come counts as not acked
      // (it may or may not be stored; either is right). Only the kill ends a sender: one whose ack is merely later than
      // 2 s (a slow fsync on a loaded machine) goes on, so the wait for this round's acks never depends on the machine.
      const senders = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const clientId = `k-${counter++}`;
          try {
            const ack = await emitWithAck(visitor, 'message:send', { clientId, text: clientId }, 2000);
            if (ack.ok) acked.add(clientId);
          } catch {
            if (!visitor.connected) return;
          }
        }
      });
      // Killed once this round has had acks (at a different depth each round), with the senders still going.
      const ackedBefore = acked.size;
      await waitUntil(`round ${round}: ${8 + round * 8} acked sends`, () => acked.size - ackedBefore >= 8 + round * 8);
      await bridge.kill('SIGKILL');
      stop = true;
      await Promise.all(senders);
      visitor.close();
    }
    expect(acked.size).toBeGreaterThan(20);
    const bridge = await start(dir, port);
    const visitor = await connectVisitor(bridge.url, { token: token! });
    cleanups.push(async () => visitor.close());
    const stored = await allMessages(visitor);
    const ids = stored.map((m) => m.clientId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const clientId of acked) expect(ids).toContain(clientId);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
  });
});
