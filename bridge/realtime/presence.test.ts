import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Namespace } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { Channel } from '../../protocol/conversation.ts';
import { AGENTS_ROOM, conversationRoom, type AgentNamespace, type VisitorNamespace } from './namespaces.ts';
import { agentsListening, isVisitorOnline, onlineAgents, onlineConversationIds } from './presence.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type FetchSockets = Namespace['adapter']['fetchSockets'];

/** A socket.io server whose namespaces put each socket in the room its handshake names (like the bridge). */
async function serve(adapterOverride?: (base: FetchSockets) => FetchSockets) {
  const httpServer = createServer();
  const server = new Server(httpServer);
  if (adapterOverride) {
    // A stand-in for a cluster adapter: it overrides fetchSockets (to add what other processes hold).
    const Base = server.adapter() as unknown as new (nsp: Namespace) => Namespace['adapter'];
    const override = adapterOverride;
    class ClusterLike extends Base {
      override fetchSockets(opts: Parameters<FetchSockets>[0]): ReturnType<FetchSockets> {
        return override(super.fetchSockets.bind(this))(opts);
      }
    }
    server.adapter(ClusterLike as unknown as Parameters<Server['adapter']>[0]);
  }
  const visitorNs = server.of('/visitor') as unknown as VisitorNamespace;
  const agentNs = server.of('/agent') as unknown as AgentNamespace;
  visitorNs.use((socket, next) => {
    socket.data = { visitorId: 'v', conversationId: String(socket.handshake.auth.conversationId), name: 'V', ip: '' };
    next();
  });
  agentNs.use((socket, next) => {
    socket.data = { agentId: String(socket.handshake.auth.agentId), agentName: 'A', displayName: 'A', sessionId: 's', ip: '' };
    next();
  });
  visitorNs.on('connection', (socket) => void socket.join(conversationRoom(socket.data.conversationId)));
  agentNs.on('connection', (socket) => void socket.join(AGENTS_ROOM));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        void server.close(() => resolve());
      }),
  );
  const open = (path: string, auth: Record<string, string>): Promise<ClientSocket> => {
    const socket = connect(url + path, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
    cleanups.push(() => socket.close());
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  };
  return { visitorNs, agentNs, open };
}

const web = (id: string) => ({ id, channel: Channel.web });

describe('presence', () => {
  it('reads the in-memory adapter: rooms, agents once each, and forgets disconnected sockets', async () => {
    const { visitorNs, agentNs, open } = await serve();
    await open('/visitor', { conversationId: 'c1' });
    const second = await open('/visitor', { conversationId: 'c2' });
    // No console yet: announcements to the agents room would reach nobody, so they may be skipped.
    expect(agentsListening(agentNs)).toBe(false);
    const firstTab = await open('/agent', { agentId: 'a1' });
    await expect.poll(() => agentsListening(agentNs)).toBe(true);
    await open('/agent', { agentId: 'a1' });
    await open('/agent', { agentId: 'a2' });
    await expect.poll(() => visitorNs.adapter.rooms.get(conversationRoom('c2'))?.size).toBe(1);
    expect(await isVisitorOnline(visitorNs, web('c1'))).toBe(true);
    expect(await isVisitorOnline(visitorNs, web('c2'))).toBe(true);
    expect(await isVisitorOnline(visitorNs, web('c3'))).toBe(false);
    expect(await onlineConversationIds(visitorNs)).toEqual(new Set(['c1', 'c2']));
    expect((await onlineAgents(agentNs)).map((a) => a.id).sort()).toEqual(['a1', 'a2']);
    second.close();
    await expect.poll(() => isVisitorOnline(visitorNs, web('c2'))).toBe(false);
    expect(await onlineConversationIds(visitorNs)).toEqual(new Set(['c1']));
    firstTab.close();
    expect(agentsListening(agentNs)).toBe(true);
  });

  it('reports agents listening again only while one is connected', async () => {
    const { agentNs, open } = await serve();
    const agent = await open('/agent', { agentId: 'a1' });
    await expect.poll(() => agentsListening(agentNs)).toBe(true);
    agent.close();
    await expect.poll(() => agentsListening(agentNs)).toBe(false);
  });

  it('asks an adapter that overrides fetchSockets (a cluster) instead of reading local rooms', async () => {
    // The "other process" holds a visitor of c9 and an agent a9; only fetchSockets knows about them.
    let asked = 0;
    const { visitorNs, agentNs, open } = await serve((local) => async (opts) => {
      asked++;
      const sockets = await local(opts);
      const remote = opts.rooms.size === 0 || opts.rooms.has(conversationRoom('c9'));
      return remote
        ? [...sockets, { id: 'remote', data: { conversationId: 'c9', agentId: 'a9', agentName: 'R' } }]
        : sockets;
    });
    // Other processes may hold agents the local rooms do not show: a cluster is always told.
    expect(agentsListening(agentNs)).toBe(true);
    await open('/visitor', { conversationId: 'c1' });
    await open('/agent', { agentId: 'a1' });
    await expect.poll(() => visitorNs.adapter.rooms.get(conversationRoom('c1'))?.size).toBe(1);
    expect(await isVisitorOnline(visitorNs, web('c9'))).toBe(true);
    expect(await isVisitorOnline(visitorNs, web('c1'))).toBe(true);
    expect(await onlineConversationIds(visitorNs)).toEqual(new Set(['c1', 'c9']));
    expect((await onlineAgents(agentNs)).map((a) => a.id).sort()).toEqual(['a1', 'a9']);
    // A WhatsApp (or XMTP) conversation has no visitor socket anywhere: nobody is asked.
    const before = asked;
    expect(await isVisitorOnline(visitorNs, { id: 'c9', channel: Channel.whatsapp })).toBe(false);
    expect(asked).toBe(before);
  });
});
