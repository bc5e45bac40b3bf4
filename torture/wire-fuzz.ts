/**
 * Case 4 over the wire: hostile payloads on every socket event of both namespaces and every HTTP/webhook body,
 * against a real bridge. Only inputs the schemas reject are sent, so the data dir must stay byte-identical;
 * the bridge must never answer 5xx, never crash, and stay healthy.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ZodType } from 'zod';
import { io, type Socket } from 'socket.io-client';
import * as schemas from '../protocol/schemas.ts';
import { startTestBridge } from '../bridge/testing/test-bridge.ts';
import { loadConfig } from '../bridge/config.ts';
import { metaSignature, timestampedSignature } from '../bridge/webhooks/signatures.ts';
import { whatsappInboundBody } from './signature-cases.ts';
import { INVALID_UTF8_BODIES, RAW_JSON_TEXTS, deepArray, deepObject, hostileValue, mutatedPayload } from './hostile.ts';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';

/** Figures of a wire fuzz run. */
export interface WireFuzzFigures {
  /** fast-check seed of the run (a long run's failure is replayed with it). */
  seed: number;
  requests: number;
  socketEvents: number;
  httpRequests: number;
  status5xx: number;
  /** Socket disconnects caused by oversized frames (expected; counted). */
  oversizedDisconnects: number;
  /** Accepted inputs that should have been refused (ack ok / 2xx on a rejected shape). */
  accepted: number;
  stateChanged: boolean;
  healthyAfter: boolean;
  /** Milliseconds spent per phase. */
  timings: Record<string, number>;
  /** Socket events that got no ack in time, by event name. */
  unanswered: Record<string, number>;
  details: string[];
}

/** Per-file digests under `dir` (relative name → sha256). */
export function fileDigests(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) visit(p);
      else out.set(p.slice(dir.length + 1), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  visit(dir);
  return out;
}

/** Files that differ between two `fileDigests` snapshots. */
export function changedFiles(a: Map<string, string>, b: Map<string, string>): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => a.get(n) !== b.get(n)).sort();
}

/** A stable digest of every file under `dir` (names, sizes and bytes). */
export function digestDir(dir: string): string {
  const hash = createHash('sha256');
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) visit(p);
      else hash.update(`${p}\0${st.size}\0`).update(readFileSync(p));
    }
  };
  visit(dir);
  return hash.digest('hex');
}

async function stableDigest(dir: string): Promise<string> {
  let last = digestDir(dir);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = digestDir(dir);
    if (now === last) return now;
    last = now;
  }
  return last;
}

interface EventSpec {
  event: string;
  schema: ZodType;
  valid: () => Record<string, unknown>;
}

const VISITOR_EVENTS: EventSpec[] = [
  { event: 'message:send', schema: schemas.visitorSendSchema, valid: () => ({ clientId: 'f-1', text: 'hi' }) },
  { event: 'sync', schema: schemas.visitorSyncSchema, valid: () => ({ afterRev: 0 }) },
  { event: 'history', schema: schemas.visitorHistorySchema, valid: () => ({ beforeSeq: 3, limit: 5 }) },
  { event: 'receipt', schema: schemas.visitorReceiptSchema, valid: () => ({ upToSeq: 1, status: 'read' }) },
];

const AGENT_EVENTS = (conversationId: string): EventSpec[] => [
  { event: 'conversations:list', schema: schemas.conversationListSchema, valid: () => ({ filter: 'all', limit: 10 }) },
  { event: 'message:send', schema: schemas.agentSendSchema, valid: () => ({ conversationId, clientId: 'a-1', text: 'x' }) },
  { event: 'message:retry', schema: schemas.agentRetrySchema, valid: () => ({ conversationId, messageId: 'm1' }) },
  { event: 'sync', schema: schemas.agentSyncSchema, valid: () => ({ conversationId, afterRev: 0 }) },
  { event: 'history', schema: schemas.agentHistorySchema, valid: () => ({ conversationId, limit: 5 }) },
  { event: 'receipt', schema: schemas.agentReceiptSchema, valid: () => ({ conversationId, upToSeq: 1, status: 'read' }) },
];

/** What the bridge receives for `value`: its JSON round trip (undefined members vanish, NaN becomes null). */
function onTheWire(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

/** Samples `n` payloads for `spec` that its schema rejects in the form the bridge receives them. */
function rejectedPayloads(spec: EventSpec, n: number, seed: number): unknown[] {
  const out: unknown[] = [];
  const samples = fc.sample(mutatedPayload(spec.valid, HUGE, DEPTH), { numRuns: n * 4, seed });
  for (const s of samples) {
    if (out.length >= n) break;
    if (!spec.schema.safeParse(onTheWire(s)).success) out.push(s);
  }
  return out;
}

const WHATSAPP_SECRET = 'fuzz-whatsapp-app-secret';
const STATUS_SECRET = 'fuzz-status-webhook-secret-0123';

/** Paths inside a WhatsApp webhook body where a hostile value is planted (then the body is validly signed). */
const WHATSAPP_PATHS: (string | number)[][] = [
  [],
  ['object'],
  ['entry'],
  ['entry', 0],
  ['entry', 0, 'changes'],
  ['entry', 0, 'changes', 0, 'field'],
  ['entry', 0, 'changes', 0, 'value'],
  ['entry', 0, 'changes', 0, 'value', 'metadata'],
  ['entry', 0, 'changes', 0, 'value', 'metadata', 'phone_number_id'],
  ['entry', 0, 'changes', 0, 'value', 'contacts'],
  ['entry', 0, 'changes', 0, 'value', 'contacts', 0, 'wa_id'],
  ['entry', 0, 'changes', 0, 'value', 'contacts', 0, 'profile', 'name'],
  ['entry', 0, 'changes', 0, 'value', 'messages'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'from'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'id'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'timestamp'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'type'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'text'],
  ['entry', 0, 'changes', 0, 'value', 'messages', 0, 'text', 'body'],
  ['entry', 0, 'changes', 0, 'value', 'statuses'],
];

/** A validly signed WhatsApp body with `value` planted at `path`. */
function plantedWhatsappBody(n: number, path: (string | number)[], value: unknown): string | undefined {
  const body = JSON.parse(whatsappInboundBody({ phoneNumberId: '1234', waId: `1555${n}`, wamid: `wamid.F${n}`, text: `fuzz ${n}` })) as Record<string, unknown>;
  if (path.length === 0) return JSON.stringify(value);
  let node: Record<string | number, unknown> = body;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
  return JSON.stringify(body);
}

/** Largest generated string/array: just over the frame and body limits, cheap to generate. */
const HUGE = 40_000;

/** Random nesting stays shallow-ish (each level costs both ends); a few very deep payloads are added explicitly. */
const DEPTH = 200;

/** Oversized frames per namespace: each costs a reconnect, a few prove the point. */
const MAX_OVERSIZED_PER_NAMESPACE = 20;

/** Runs the wire fuzz with about `target` requests in total. */
export async function runWireFuzz(options: { target: number; seed?: number }): Promise<WireFuzzFigures> {
  const seed = options.seed ?? 42;
  const webhooks = loadConfig(
    {
      DATA_DIR: '/nonexistent',
      VISITOR_TOKEN_SECRET: 'x'.repeat(32),
      AGENT_TOKEN_SECRET: 'y'.repeat(32),
      SITE_SECRET: 'z'.repeat(32),
      WHATSAPP_APP_SECRET: WHATSAPP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'fuzz-verify-token',
      STATUS_WEBHOOK_SECRET: STATUS_SECRET,
    },
    { persistSecrets: false },
  ).webhooks;
  const bridge = await startTestBridge({ config: { apiKey: 'fuzz-api-key-0123456789abcdef0123', webhooks } });
  const details: string[] = [];
  let status5xx = 0;
  let accepted = 0;
  let oversizedDisconnects = 0;
  let socketEvents = 0;
  let httpRequests = 0;
  const timings: Record<string, number> = {};
  const unanswered: Record<string, number> = {};
  const url = bridge.url;
  try {
    // Real state first: a conversation with messages, so rejected input has something to corrupt.
    const seedSocket: Socket = io(`${url}/visitor`, { transports: ['websocket'], forceNew: true, extraHeaders: { origin: url } });
    const session = await new Promise<{ conversationId: string; token: string }>((resolve) => seedSocket.once('session', resolve));
    for (let i = 0; i < 3; i++) await seedSocket.timeout(5000).emitWithAck('message:send', { clientId: `seed-${i}`, text: `seed ${i}` });
    const conversationId = session.conversationId;
    seedSocket.close();
    // Fold the seed into the checkpoint files now, so a timed checkpoint cannot rewrite them mid-run.
    await bridge.store.checkpoint();
    const before = await stableDigest(bridge.dataDir);

    const socketShare = Math.floor(options.target * 0.7);
    const perSpec = Math.ceil((socketShare * 1.2) / (VISITOR_EVENTS.length + AGENT_EVENTS(conversationId).length + 1));
    const maxFrame = bridge.config.maxHttpBufferSize;

    const openSocket = (ns: '/visitor' | '/agent'): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = io(url + ns, {
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          auth: ns === '/agent' ? { token: bridge.agent.token } : { token: session.token },
          extraHeaders: { origin: url },
        });
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });

    const fuzzNamespace = async (ns: '/visitor' | '/agent', specs: EventSpec[]) => {
      let socket = await openSocket(ns);
      const batch: { event: string; payload: unknown }[] = [];
      for (const [i, spec] of specs.entries()) {
        for (const payload of rejectedPayloads(spec, perSpec, seed + i)) batch.push({ event: spec.event, payload });
      }
      // A few very deep payloads per event: recursion in a parser or validator would overflow the stack here.
      // Depths are chosen to stay under the 16 KB frame limit so the payloads reach the validators.
      for (const spec of specs) {
        batch.push({ event: spec.event, payload: { ...spec.valid(), nested: deepArray(7000) } });
        batch.push({ event: spec.event, payload: deepArray(7500) });
        batch.push({ event: spec.event, payload: deepObject(1100, '__proto__') });
        batch.push({ event: spec.event, payload: { ...spec.valid(), constructor: deepObject(1800, 'a') } });
      }
      // Unknown events and events with extra arguments: nothing in the contract, must be refused too.
      for (const v of fc.sample(hostileValue(HUGE, DEPTH), { numRuns: perSpec, seed })) batch.push({ event: fc.sample(fc.constantFrom('join', 'leave', 'admin', '__proto__', 'constructor', 'disconnect_me', 'typing'), { numRuns: 1, seed: socketEvents })[0]!, payload: v });
      const inflight: Promise<void>[] = [];
      let oversized = 0;
      for (const { event, payload } of batch) {
        let size: number;
        try {
          // Bytes of the WebSocket frame the limit applies to: `42<ns>,<ack id>[<event>,<payload>]`. The ack id's
          // digits are not known here (1 to 10 of them).
          size = Buffer.byteLength(`42${ns},${JSON.stringify([event, payload])}`, 'utf8');
        } catch {
          // Too deep for this process's own JSON.stringify: the client library could not send it either.
          continue;
        }
        // Within the ack id's few bytes of the limit it is unknowable which side the frame falls on: not sent.
        if (size + 10 > maxFrame && size + 1 <= maxFrame) continue;
        if (size > maxFrame && ++oversized > MAX_OVERSIZED_PER_NAMESPACE) continue;
        if (!socket.connected) {
          await Promise.all(inflight.splice(0));
          details.push(`${ns}: connection dropped after a ${size}-byte frame below the limit`);
          socket.close();
          socket = await openSocket(ns);
        }
        socketEvents++;
        if (size > maxFrame) {
          // An oversized frame: the bridge must drop the connection, not buffer it; open a new one after.
          await Promise.all(inflight.splice(0));
          const victim = socket;
          const closed = new Promise<void>((resolve) => victim.once('disconnect', () => resolve()));
          victim.emit(event, payload, () => undefined);
          // Waits for the drop itself; the deadline only bounds a bridge that never drops it (a loaded machine is slow, not wrong).
          const dropped = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), WAIT_DEADLINE_MS))]);
          if (dropped) oversizedDisconnects++;
          else details.push(`${ns} ${event}: a ${size}-byte frame did not close the connection within ${WAIT_DEADLINE_MS} ms`);
          victim.close();
          socket = await openSocket(ns);
          continue;
        }
        if (event === 'typing') {
          socket.emit(event, payload);
          continue;
        }
        const s = socket;
        inflight.push(
          s
            .timeout(3000)
            .emitWithAck(event, payload)
            .then((res: { ok?: boolean; error?: { code?: string } }) => {
              if (res?.ok) {
                accepted++;
                if (details.length < 20) details.push(`${ns} ${event} acked ok: ${JSON.stringify(payload)?.slice(0, 120)}`);
              } else if (res?.error?.code === 'internal') {
                status5xx++;
                if (details.length < 20) details.push(`${ns} ${event} → internal: ${JSON.stringify(payload)?.slice(0, 120)}`);
              }
            })
            .catch(() => {
              // No ack within the timeout: not a failure by itself, but counted (every event should be answered).
              unanswered[event] = (unanswered[event] ?? 0) + 1;
            }),
        );
        if (inflight.length >= 64) await Promise.all(inflight.splice(0));
      }
      await Promise.all(inflight);
      socket.close();
    };
    const t0 = Date.now();
    await fuzzNamespace('/visitor', VISITOR_EVENTS);
    await fuzzNamespace('/agent', AGENT_EVENTS(conversationId));
    const afterSocket = await stableDigest(bridge.dataDir);

    // ---- HTTP ----
    const httpTarget = Math.max(0, options.target - socketEvents);
    const routes: { method: string; path: string; auth?: string; headers?: Record<string, string>; schema?: ZodType; valid?: () => Record<string, unknown> }[] = [
      { method: 'POST', path: '/api/auth/login', schema: schemas.loginSchema, valid: () => ({ name: 'x', password: 'y' }) },
      { method: 'POST', path: `/api/conversations/${conversationId}/messages`, auth: `Bearer ${bridge.agent.token}`, schema: schemas.restSendSchema, valid: () => ({ text: 'x', clientId: 'r-1' }) },
      { method: 'POST', path: `/api/conversations/${conversationId}/messages`, auth: 'Bearer fuzz-api-key-0123456789abcdef0123', schema: schemas.restSendSchema, valid: () => ({ text: 'x' }) },
      { method: 'POST', path: '/webhooks/whatsapp' },
      { method: 'POST', path: '/webhooks/status' },
      { method: 'GET', path: '/webhooks/whatsapp' },
    ];
    const bodies: { route: (typeof routes)[number]; body: Buffer | string; type: string; lenient?: boolean; signed?: boolean }[] = [];
    for (const route of routes) {
      // Raw texts the parser may legitimately accept (duplicate keys: last wins; invalid UTF-8 decodes to U+FFFD,
      // lone surrogates are strings): they go in the lenient phase, before the storage digest is taken.
      const lenient = (raw: Buffer | string): boolean => {
        if (!route.schema) return false;
        try {
          const text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(raw);
          return route.schema.safeParse(JSON.parse(text)).success;
        } catch {
          return false;
        }
      };
      for (const text of RAW_JSON_TEXTS) bodies.push({ route, body: text, type: 'application/json', lenient: lenient(text) });
      for (const b of INVALID_UTF8_BODIES) bodies.push({ route, body: b, type: 'application/json; charset=utf-8', lenient: lenient(b) });
      bodies.push({ route, body: '{"a":1}', type: 'text/plain' });
      bodies.push({ route, body: '{"a":1}', type: 'application/json; charset=latin-99' });
      bodies.push({ route, body: `{"text":"${'x'.repeat(200_000)}"}`, type: 'application/json' });
      bodies.push({ route, body: `[${'0,'.repeat(100_000)}0]`, type: 'application/json' });
    }
    // Validly signed hostile webhook bodies reach the payload parsers behind the signature check. They may be
    // accepted (Meta's payloads are open-ended) and start background work, so they run last: no 5xx is the rule.
    const signedCount = Math.floor(httpTarget * 0.25);
    const planted = fc.sample(fc.tuple(fc.constantFrom(...WHATSAPP_PATHS), hostileValue(HUGE, DEPTH)), { numRuns: signedCount, seed: seed + 7 });
    for (const [i, [path, value]] of planted.entries()) {
      let text: string | undefined;
      try {
        text = plantedWhatsappBody(i, path, value);
      } catch {
        text = undefined;
      }
      if (text === undefined || text.length > 500_000) continue;
      if (i % 4 === 3) {
        const ts = Math.floor(Date.now() / 1000);
        bodies.push({
          route: { method: 'POST', path: '/webhooks/status', headers: { 'x-anonchat-signature': timestampedSignature(STATUS_SECRET, ts, text), 'x-anonchat-delivery': `fuzz-${i}` } },
          body: text,
          type: 'application/json',
          signed: true,
        });
      } else {
        bodies.push({
          route: { method: 'POST', path: '/webhooks/whatsapp', headers: { 'x-hub-signature-256': metaSignature(text, WHATSAPP_SECRET) } },
          body: text,
          type: 'application/json',
          signed: true,
        });
      }
    }
    const perRoute = Math.max(1, Math.ceil((httpTarget - bodies.length) / routes.length));
    for (const [i, route] of routes.entries()) {
      const samples = route.schema && route.valid ? rejectedPayloads({ event: route.path, schema: route.schema, valid: route.valid }, perRoute, seed + 100 + i) : fc.sample(hostileValue(HUGE, DEPTH), { numRuns: perRoute, seed: seed + 100 + i });
      for (const s of samples) {
        let text: string | undefined;
        try {
          text = JSON.stringify(s);
        } catch {
          text = undefined;
        }
        bodies.push({ route, body: text ?? 'undefined', type: 'application/json' });
      }
    }
    // Query strings on GET routes: hostile, repeated, array-shaped parameters.
    for (const q of ['limit=0', 'limit=1e9', 'limit[]=1', 'limit=1&limit=2', 'before=-1', 'before=abc', '__proto__[x]=1', 'constructor[prototype][x]=1', 'filter=all&query=' + 'x'.repeat(5000), '%ff%fe=1']) {
      bodies.push({ route: { method: 'GET', path: `/api/conversations?${q}`, auth: `Bearer ${bridge.agent.token}` }, body: '', type: '' });
      bodies.push({ route: { method: 'GET', path: `/api/conversations/${conversationId}/messages?${q}`, auth: `Bearer ${bridge.agent.token}` }, body: '', type: '' });
    }
    for (const p of ['/api/conversations/%ff/messages', '/api/conversations/..%2f..%2fetc%2fpasswd/messages', '/api/%00', `/api/conversations/${'a'.repeat(5000)}/messages`]) {
      bodies.push({ route: { method: 'GET', path: p, auth: `Bearer ${bridge.agent.token}` }, body: '', type: '' });
    }
    const sendAll = async (items: typeof bodies, countAccepted: boolean): Promise<void> => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < items.length) {
            const { route, body, type } = items[next++]!;
            httpRequests++;
            let status: number;
            try {
              const res = await fetch(url + route.path, {
                method: route.method,
                headers: { ...(route.auth ? { authorization: route.auth } : {}), ...(type ? { 'content-type': type } : {}), ...route.headers },
                ...(route.method !== 'GET' ? { body: typeof body === 'string' ? body : new Uint8Array(body) } : {}),
              });
              status = res.status;
              await res.arrayBuffer();
            } catch (error) {
              // A connection the bridge drops for an oversized body is a refusal, not a crash.
              status = -1;
              if (details.length < 20 && !causeText(error).includes('ECONNRESET')) details.push(`${route.method} ${route.path}: ${(error as Error).message}`);
            }
            if (status >= 500) {
              status5xx++;
              if (details.length < 20) details.push(`${route.method} ${route.path} → ${status} for ${String(body).slice(0, 100)}`);
            } else if (countAccepted && status >= 200 && status < 300 && route.method !== 'GET') {
              accepted++;
              if (details.length < 20) details.push(`${route.method} ${route.path} → ${status} for ${String(body).slice(0, 100)}`);
            }
          }
        }),
      );
    };
    timings['socket'] = Date.now() - t0;
    timings['lenientBodies'] = bodies.filter((b) => b.lenient).length;
    timings['signedBodies'] = bodies.filter((b) => b.signed).length;
    await sendAll(bodies.filter((b) => b.lenient), false);
    // Accepted lenient bodies made documents dirty: once their writes have reached the journal (the directory stops
    // changing), checkpoint so a timed checkpoint cannot land mid-phase.
    await stableDigest(bridge.dataDir);
    await bridge.store.checkpoint();
    const beforeRejected = await stableDigest(bridge.dataDir);
    const beforeFiles = fileDigests(bridge.dataDir);
    const t1 = Date.now();
    await sendAll(bodies.filter((b) => !b.lenient && !b.signed), true);
    timings['http'] = Date.now() - t1;
    const after = await stableDigest(bridge.dataDir);
    if (after !== beforeRejected) details.push(`changed during the rejected HTTP phase: ${changedFiles(beforeFiles, fileDigests(bridge.dataDir)).join(', ')}`);
    await sendAll(bodies.filter((b) => b.signed), false);
    const health = await fetch(`${url}/health`);
    return {
      seed,
      requests: socketEvents + httpRequests,
      socketEvents,
      httpRequests,
      status5xx,
      oversizedDisconnects,
      accepted,
      stateChanged: before !== afterSocket || beforeRejected !== after,
      timings,
      unanswered,
      healthyAfter: health.status === 200,
      details,
    };
  } finally {
    await bridge.close();
  }
}

/** The text of a failed fetch's cause (undici puts the socket error there), '' when there is none. */
function causeText(error: unknown): string {
  const cause = (error as Error).cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : typeof cause === 'string' ? cause : '';
}
