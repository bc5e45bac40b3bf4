/**
 * The baseline: a bare Socket.IO server doing the least possible work for the bench's traffic — receive, ack,
 * forward — with the bridge's namespaces, rooms and message shapes but no validation, no auth, no storage, no
 * rate limits. Every bridge figure is divided by the same figure of this server measured in the same run.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { installProbe } from './probe.ts';

type Ack = (res: unknown) => void;
interface SendPayload {
  conversationId?: string;
  clientId: string;
  text: string;
}
interface ReceiptPayload {
  conversationId?: string;
  upToSeq: number;
  status: string;
}

let conversations = 0;
/** Where scenario 11's static-file baseline keeps uploads (the scenario makes and removes it); unset: no such routes. */
const uploadDir = process.env.UPLOAD_DIR;
let uploads = 0;
const lastSeq = new Map<string, number>();

const httpServer = createServer((req, res) => {
  // WhatsApp-shaped status webhooks: read, parse, forward each status to the agents, answer 200.
  if (req.method === 'POST' && req.url === '/webhooks/whatsapp') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        entry: { changes: { value: { statuses?: { id: string; status: string; timestamp: string }[] } }[] }[];
      };
      for (const entry of body.entry)
        for (const change of entry.changes)
          for (const s of change.value.statuses ?? [])
            agentNs.to('agents').emit('message:status', { messageId: s.id, externalId: s.id, status: s.status, at: s.timestamp });
      res.writeHead(200).end();
    });
    return;
  }
  // Scenario 11's static-file baseline: the body streamed to a temp file, fsynced and renamed (as durable as the
  // bridge's attachment store), and served back from disk; no auth, no sniffing, no image work.
  if (uploadDir && req.method === 'POST' && req.url === '/upload') {
    const name = `f${++uploads}`;
    const temp = join(uploadDir, `${name}.tmp`);
    const out = createWriteStream(temp);
    req.pipe(out);
    out.on('finish', () => {
      void (async () => {
        const handle = await open(temp, 'r');
        await handle.sync();
        await handle.close();
        await rename(temp, join(uploadDir, name));
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: name }));
      })();
    });
    return;
  }
  const file = /^\/files\/(f\d+)$/.exec(req.url ?? '');
  if (uploadDir && req.method === 'GET' && file) {
    const path = join(uploadDir, file[1]!);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(path).size });
    createReadStream(path).pipe(res);
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, { serveClient: false });
const visitorNs = io.of('/visitor');
const agentNs = io.of('/agent');

function message(conversationId: string, role: 'visitor' | 'agent', payload: SendPayload) {
  const seq = (lastSeq.get(conversationId) ?? 0) + 1;
  lastSeq.set(conversationId, seq);
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    conversationId,
    seq,
    rev: seq,
    clientId: payload.clientId,
    author: { role },
    text: payload.text,
    createdAt: now,
    status: 'sent',
    statusAt: { sent: now },
  };
}

function forwardStatus(conversationId: string, receipt: ReceiptPayload): void {
  const change = { conversationId, messageId: '', clientId: '', seq: receipt.upToSeq, rev: 0, status: receipt.status, at: '' };
  visitorNs.to(`conv:${conversationId}`).emit('message:status', change);
  agentNs.to('agents').emit('message:status', change);
}

visitorNs.on('connection', (socket) => {
  const auth = socket.handshake.auth as { token?: string };
  const conversationId = auth.token ?? `c${++conversations}`;
  void socket.join(`conv:${conversationId}`);
  socket.emit('session', { token: conversationId, visitorId: conversationId, conversationId, expiresAt: '' });
  socket.on('message:send', (payload: SendPayload, ack: Ack) => {
    const msg = message(conversationId, 'visitor', payload);
    ack({ ok: true, data: msg });
    visitorNs.to(`conv:${conversationId}`).emit('message:new', msg);
    agentNs.to('agents').emit('message:new', msg);
  });
  socket.on('receipt', (payload: ReceiptPayload) => forwardStatus(conversationId, payload));
  socket.on('sync', (_payload: unknown, ack: Ack) => ack({ ok: true, data: { messages: [], rev: 0, hasMore: false } }));
  socket.on('history', (_payload: unknown, ack: Ack) => ack({ ok: true, data: { messages: [], hasMore: false } }));
});

agentNs.on('connection', (socket) => {
  void socket.join('agents');
  socket.on('message:send', (payload: SendPayload, ack: Ack) => {
    const conversationId = payload.conversationId ?? '';
    const msg = message(conversationId, 'agent', payload);
    ack({ ok: true, data: msg });
    visitorNs.to(`conv:${conversationId}`).emit('message:new', msg);
    agentNs.to('agents').emit('message:new', msg);
  });
  socket.on('receipt', (payload: ReceiptPayload) => forwardStatus(payload.conversationId ?? '', payload));
});

httpServer.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  installProbe(port, () => ({ visitorSockets: visitorNs.sockets.size, agentSockets: agentNs.sockets.size }));
});
