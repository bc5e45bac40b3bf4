/**
 * A push service on loopback for Web Push tests, standing in for FCM/Mozilla's autopush: every POST to
 * `/push/<name>` is checked as a push service checks it — the VAPID JWT (RFC 8292: ES256 by the key in `k=`, `aud`
 * the endpoint's origin, `exp` within 24 h) — and its `aes128gcm` body is decrypted (RFC 8291 key derivation over
 * RFC 8188 records) with the browser-side keys `subscription()` made, as the browser would. Tests read what arrived.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDecipheriv, createECDH, hkdfSync, randomBytes, type ECDH } from 'node:crypto';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';

/** One push the service accepted, decrypted. */
export interface ReceivedPush {
  /** The subscription's name (`/push/<name>`). */
  name: string;
  /** The decrypted payload, parsed as JSON. */
  payload: unknown;
  claims: JWTPayload;
  ttl: string | undefined;
  urgency: string | undefined;
}

/** A browser's subscription as `PushSubscription.toJSON()` gives it. */
export interface TestSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** A running loopback push service. */
export interface TestPushService {
  url: string;
  /** Pushes accepted (answered 201), in arrival order. */
  received: ReceivedPush[];
  /** Every request with what it was answered, accepted or not. */
  requests: { name: string; status: number; problem?: string }[];
  /** A new subscription `name` whose keys this service holds (as a browser holds its private key). */
  subscription(name: string): TestSubscription;
  /** Answers the next requests to `name` with these statuses (e.g. 503, then 410) before accepting again. */
  answerNext(name: string, ...statuses: number[]): void;
  close(): Promise<void>;
}

/** Starts the service on 127.0.0.1; `vapidPublicKey` is the bridge's, which every request's `k=` must be. */
export async function startTestPushService(vapidPublicKey: string): Promise<TestPushService> {
  const browsers = new Map<string, { ecdh: ECDH; auth: Buffer }>();
  const scripted = new Map<string, number[]>();
  const received: ReceivedPush[] = [];
  const requests: TestPushService['requests'] = [];
  let url = '';

  const server: Server = createServer((req, res) => {
    void (async () => {
      const name = /^\/push\/([\w-]+)$/.exec(req.url ?? '')?.[1] ?? '';
      const body = await readBody(req);
      const answer = (status: number, problem?: string) => {
        requests.push({ name, status, ...(problem ? { problem } : {}) });
        res.writeHead(status).end();
      };
      const browser = browsers.get(name);
      if (req.method !== 'POST' || !browser) return answer(404, 'no such subscription');
      const next = scripted.get(name)?.shift();
      if (next !== undefined) return answer(next, 'scripted');
      let claims: JWTPayload;
      try {
        claims = await verifyVapid(req.headers.authorization, vapidPublicKey, url);
      } catch (error) {
        return answer(401, `VAPID: ${(error as Error).message}`);
      }
      if (req.headers['content-encoding'] !== 'aes128gcm') return answer(400, `content-encoding ${req.headers['content-encoding']}`);
      let payload: unknown;
      try {
        payload = JSON.parse(decryptAes128gcm(body, browser.ecdh, browser.auth).toString('utf8'));
      } catch (error) {
        return answer(400, `decrypt: ${(error as Error).message}`);
      }
      received.push({ name, payload, claims, ttl: header(req, 'ttl'), urgency: header(req, 'urgency') });
      answer(201);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    received,
    requests,
    subscription(name) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      browsers.set(name, { ecdh, auth });
      return { endpoint: `${url}/push/${name}`, keys: { p256dh: ecdh.getPublicKey('base64url'), auth: auth.toString('base64url') } };
    },
    answerNext(name, ...statuses) {
      scripted.set(name, [...(scripted.get(name) ?? []), ...statuses]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `Authorization: vapid t=<JWT>, k=<public key>` (RFC 8292 §3): the key is the bridge's and signs the JWT. */
async function verifyVapid(authorization: string | undefined, expectedKey: string, origin: string): Promise<JWTPayload> {
  const match = /^vapid t=([\w.-]+), k=([\w-]+)$/.exec(authorization ?? '');
  if (!match) throw new Error(`no vapid authorization (${authorization})`);
  const [, token, key] = match as unknown as [string, string, string];
  if (key !== expectedKey) throw new Error('k= is not the bridge key');
  const raw = Buffer.from(key, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') };
  const { payload } = await jwtVerify(token, await importJWK(jwk, 'ES256'), { algorithms: ['ES256'], audience: origin });
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp === undefined || payload.exp <= now || payload.exp > now + 24 * 3600) throw new Error(`exp ${payload.exp} not within 24 h`);
  if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) throw new Error(`sub ${payload.sub}`);
  return payload;
}

/**
 * Decrypts an `aes128gcm` push body (RFC 8188 header: salt, record size, key id = the sender's ephemeral public key)
 * with the browser's key pair and auth secret (RFC 8291 §3.4); one record, as Web Push sends.
 */
export function decryptAes128gcm(body: Buffer, browser: ECDH, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const idLength = body.readUInt8(20);
  const senderPublic = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  const shared = browser.computeSecret(senderPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), browser.getPublicKey(), senderPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02 followed by zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('no last-record delimiter');
  return padded.subarray(0, end);
}
