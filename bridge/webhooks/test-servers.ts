/**
 * Real HTTP servers on loopback for the webhook tests: a scripted server that records every request (raw body
 * bytes and headers) and answers from a script — used as the fake WhatsApp Graph API and as event webhook
 * receivers. Test support only; nothing in the bridge imports it.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
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
export type ScriptedAnswer =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Bytes as they are (e.g. a media file), `application/octet-stream` unless `headers` says otherwise. */
  | { status: number; raw: Buffer; headers?: Record<string, string> }
  | 'reset'
  | 'hang';

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

/** Starts a scripted server on 127.0.0.1 (`port` 0 = any); a fallback may answer later (a held request). */
export async function startScriptedServer(
  fallback: (request: RecordedRequest, index: number) => ScriptedAnswer | Promise<ScriptedAnswer> = () => ({ status: 200, body: { ok: true } }),
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
      const scripted = script.shift() ?? fallback(recorded, requests.length - 1);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      void Promise.resolve(scripted).then((answer) => {
        if (answer === 'reset') {
          req.socket.destroy();
          return;
        }
        if (answer === 'hang') return;
        if ('raw' in answer) {
          res.writeHead(answer.status, { 'Content-Type': 'application/octet-stream', ...answer.headers });
          res.end(answer.raw);
          return;
        }
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
        res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      });
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

/** Meta's permanent refusal of a send (outside the 24-hour window): the send is dead at once. */
export const GRAPH_SEND_REFUSED: ScriptedAnswer = { status: 400, body: { error: { message: '(#131047) Re-engagement message', code: 131047 } } };

/** A fake Graph API whose answers to sends are planned per recipient number. */
export interface PlannedGraphApi {
  server: ScriptedServer;
  /** Answers Meta gives to sends to a number, in order; when none is left, Meta accepts with `wamid.<to>.<n>`. */
  plans: Map<string, (() => ScriptedAnswer | Promise<ScriptedAnswer>)[]>;
  /** The sends to `waId` Meta has received. */
  sendsTo: (waId: string) => RecordedRequest[];
}

/** Starts a fake Graph API answering sends from per-number plans (see PlannedGraphApi). */
export async function startPlannedGraphApi(): Promise<PlannedGraphApi> {
  const plans: PlannedGraphApi['plans'] = new Map();
  const toOf = (request: RecordedRequest) => (JSON.parse(request.body.toString('utf8')) as { to?: string }).to;
  const sendsTo = (waId: string): RecordedRequest[] => server.requests.filter((r) => r.path.endsWith('/messages') && toOf(r) === waId);
  const server: ScriptedServer = await startScriptedServer((request) => {
    const to = toOf(request) ?? '';
    const planned = plans.get(to)?.shift();
    return planned ? planned() : { status: 200, body: graphSendOk(`wamid.${to}.${sendsTo(to).length}`, to) };
  });
  return { server, plans, sendsTo };
}

/** A media file the fake Graph API holds for download. */
export interface FakeMedia {
  bytes: Buffer;
  mimeType: string;
}

/** The loopback fake of Meta's Graph API (`startFakeGraphApi`) and what it received. */
export interface FakeGraphApi {
  server: ScriptedServer;
  /** `WHATSAPP_API_BASE` for a bridge using it. */
  apiBase: string;
  /** Inbound media by Meta media id; tests add to it. */
  media: Map<string, FakeMedia>;
  /**
   * Media ids whose lookup (the first step) is not answered until the promise settles: a download held in flight,
   * deterministically, for as long as a test needs.
   */
  held: Map<string, Promise<void>>;
  /** Media ids whose bytes (the second step) are not served until the promise settles: the file itself in flight. */
  heldBytes: Map<string, Promise<void>>;
  /** Parts of the API answering 500 (Meta's error code 2, temporary) until removed from the set. */
  failing: Set<'lookup' | 'download' | 'upload' | 'send'>;
  /** Requests to each part of the API (scripted failures included). */
  lookups(): RecordedRequest[];
  downloads(): RecordedRequest[];
  uploads(): RecordedRequest[];
  sends(): RecordedRequest[];
}

/**
 * A fake Graph API on loopback that follows Meta's documented flows with real HTTP: `GET /<version>/<MEDIA_ID>`
 * answers `{url, mime_type, sha256, file_size, id}` with a URL on this server, `GET <url>` serves the bytes,
 * `POST /<version>/<PHONE_NUMBER_ID>/media` takes a multipart upload and answers `{id}`, `POST …/messages` answers a
 * wamid. Every request must carry `Authorization: Bearer <accessToken>` (401 with Meta's error 190 otherwise).
 * Scripted answers pushed to `server.script` go first (failures).
 */
export async function startFakeGraphApi(accessToken: string, version = 'v21.0'): Promise<FakeGraphApi> {
  const media = new Map<string, FakeMedia>();
  const failing = new Set<'lookup' | 'download' | 'upload' | 'send'>();
  const held = new Map<string, Promise<void>>();
  const heldBytes = new Map<string, Promise<void>>();
  let uploaded = 0;
  let sent = 0;
  const base = `/${version}/`;
  const kindOf = (request: RecordedRequest): 'lookup' | 'download' | 'upload' | 'send' | 'other' => {
    if (request.path.startsWith('/media-bytes/')) return 'download';
    if (!request.path.startsWith(base)) return 'other';
    if (request.method === 'POST' && request.path.endsWith('/media')) return 'upload';
    if (request.method === 'POST' && request.path.endsWith('/messages')) return 'send';
    return request.method === 'GET' ? 'lookup' : 'other';
  };
  let url = '';
  const answer = (request: RecordedRequest): ScriptedAnswer => {
    if (request.headers.authorization !== `Bearer ${accessToken}`) {
      return { status: 401, body: { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } } };
    }
    const kind = kindOf(request);
    if (kind !== 'other' && failing.has(kind)) return { status: 500, body: { error: { message: 'Service temporarily unavailable', code: 2 } } };
    const id = decodeURIComponent(request.path.slice(request.path.lastIndexOf('/') + 1).split('?')[0] ?? '');
    const file = media.get(id);
    if ((kind === 'lookup' || kind === 'download') && !file) {
      return { status: 404, body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100 } } };
    }
    if (kind === 'lookup' && file) {
      return {
        status: 200,
        body: {
          messaging_product: 'whatsapp',
          url: `${url}/media-bytes/${encodeURIComponent(id)}`,
          mime_type: file.mimeType,
          sha256: createHash('sha256').update(file.bytes).digest('hex'),
          file_size: file.bytes.byteLength,
          id,
        },
      };
    }
    if (kind === 'download' && file) return { status: 200, raw: file.bytes, headers: { 'Content-Type': file.mimeType } };
    if (kind === 'upload') return { status: 200, body: { id: `media-up-${++uploaded}` } };
    if (kind === 'send') return { status: 200, body: graphSendOk(`wamid.OUT${++sent}`) };
    return { status: 400, body: { error: { message: 'Unknown path.', code: 100 } } };
  };
  const server = await startScriptedServer((request) => {
    const id = decodeURIComponent(request.path.slice(request.path.lastIndexOf('/') + 1));
    const kind = kindOf(request);
    const hold = kind === 'lookup' ? held.get(id) : kind === 'download' ? heldBytes.get(id) : undefined;
    return hold ? hold.then(() => answer(request)) : answer(request);
  });
  url = server.url;
  const of = (kind: ReturnType<typeof kindOf>) => () => server.requests.filter((request) => kindOf(request) === kind);
  return {
    server,
    apiBase: `${server.url}/${version}`,
    media,
    held,
    heldBytes,
    failing,
    lookups: of('lookup'),
    downloads: of('download'),
    uploads: of('upload'),
    sends: of('send'),
  };
}
