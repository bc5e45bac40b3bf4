/**
 * Real HTTP servers on loopback for the webhook tests: a scripted server that records every request (raw body
 * bytes and headers) and answers from a script — used as the fake WhatsApp Graph API and as event webhook
 * receivers. Test support only; nothing in the bridge imports it.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WAIT_DEADLINE_MS } from '../testing/wait-until.ts';

/** One request the server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
  /** The client's port of the connection the request came on (tells which local process sent it). */
  remotePort: number;
}

/**
 * One scripted answer: an HTTP response, `reset` (the socket is destroyed without a response) or `hang` (no
 * response until the client gives up or the server closes).
 */
export type ScriptedAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | 'reset' | 'hang';

/** A running scripted server. */
export interface ScriptedServer {
  url: string;
  requests: RecordedRequest[];
  /** Answers used in order for the next requests; when empty, `fallback(request)` answers. */
  script: ScriptedAnswer[];
  /** Resolves once `count` requests have been recorded in total. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

/** Starts a scripted server on 127.0.0.1 (`port` 0 = any). */
export async function startScriptedServer(
  fallback: (request: RecordedRequest, index: number) => ScriptedAnswer = () => ({ status: 200, body: { ok: true } }),
  port = 0,
): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const script: ScriptedAnswer[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
        remotePort: req.socket.remotePort ?? 0,
      };
      requests.push(recorded);
      const answer = script.shift() ?? fallback(recorded, requests.length - 1);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      if (answer === 'reset') {
        req.socket.destroy();
        return;
      }
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    requests,
    script,
    waitForRequests(count, timeoutMs = WAIT_DEADLINE_MS) {
      if (requests.length >= count) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`waited ${timeoutMs} ms for request ${count} to the loopback server; got ${requests.length}`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Graph API success body for message id `id`. */
export function graphSendOk(id: string, to = '16505551234') {
  return {
    messaging_product: 'whatsapp',
    contacts: [{ input: to, wa_id: to }],
    messages: [{ id }],
  };
}
