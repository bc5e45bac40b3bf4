/**
 * Case 4, below the client library: malformed Engine.IO / Socket.IO packets written straight onto a WebSocket
 * (invalid UTF-8 text frames, truncated JSON, binary-attachment placeholders of CVE-2023-32695, reserved event
 * names, absurd ack ids, unknown namespaces). Each may cost its own connection; the bridge must stay up and keep
 * serving a well-behaved visitor, and store nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectVisitor } from '../bridge/testing/clients.ts';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';
import { startTestBridge, type TestBridge } from '../bridge/testing/test-bridge.ts';
import { digestDir } from './wire-fuzz.ts';

const PACKETS: (string | Buffer)[] = [
  Buffer.from([0x34, 0x32, 0xff, 0xfe, 0xfd]),
  Buffer.from('42/visitor,["message:send",{"clientId":"a","text":"\xed\xa0\x80"}]', 'latin1'),
  '42/visitor,["message:send"',
  '42/visitor,',
  '42/visitor,7',
  '42/visitor,99999999999999999999["sync",{"afterRev":0}]',
  '42/visitor,-1["sync",{"afterRev":0}]',
  '451-/visitor,["message:send",{"_placeholder":true,"num":99}]',
  '451-/visitor,["message:send",{"_placeholder":true,"num":"__proto__"}]',
  '452-/visitor,0["sync",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
  '42/visitor,["connect"]',
  '42/visitor,["disconnect"]',
  '42/visitor,["newListener",{}]',
  '42/visitor,[{"not":"a name"}]',
  '42/visitor,[]',
  '42/visitor,{"__proto__":{"x":1}}',
  '42/visitor,["__proto__",{"afterRev":0}]',
  '40/nonexistent,',
  '40/agent,{"token":"x"}',
  '40/visitor,{"token":' + '['.repeat(3000) + ']'.repeat(3000) + '}',
  '41/visitor,',
  '43/visitor,0[{"ok":true}]',
  '44/visitor,{"message":"x"}',
  '49/visitor,',
  '4',
  '9',
  '6',
  '2probe',
  '',
];

/**
 * Sends `packet` on a fresh connection that joined /visitor, then a probe the server answers only after it has
 * read the packet (a connect to the main namespace, answered with `40{…}` or `44{…}`): 'open' once that answer
 * comes, 'closed' if the server dropped the connection instead.
 */
function sendRaw(url: string, packet: string | Buffer): Promise<'closed' | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { origin: url } });
    let sent = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`waited ${WAIT_DEADLINE_MS} ms for the bridge to answer or close after ${JSON.stringify(String(packet).slice(0, 80))}`));
    }, WAIT_DEADLINE_MS);
    const done = (how: 'closed' | 'open') => {
      clearTimeout(timer);
      ws.terminate();
      resolve(how);
    };
    ws.on('error', () => done('closed'));
    ws.on('close', () => done('closed'));
    ws.on('open', () => ws.send('40/visitor,{}'));
    ws.on('message', (data) => {
      const frame = (data as Buffer).toString('utf8');
      if (!sent && frame.startsWith('40/visitor,')) {
        sent = true;
        // Buffers go out as text frames too: the invalid-UTF-8 cases must reach the server's text decoder.
        ws.send(packet, { binary: false });
        ws.send('40');
      } else if (sent && (frame.startsWith('40{') || frame.startsWith('44{'))) {
        done('open');
      }
    });
  });
}

describe('raw malformed frames', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge();
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('every malformed packet is absorbed: the bridge stays healthy, a normal visitor still works, nothing is stored', async () => {
    await bridge.store.checkpoint();
    const before = digestDir(bridge.dataDir);
    const outcomes = [];
    for (const packet of PACKETS) outcomes.push(await sendRaw(bridge.url, packet));
    expect(outcomes).toHaveLength(PACKETS.length);
    expect((await fetch(`${bridge.url}/health`)).status).toBe(200);
    expect(digestDir(bridge.dataDir)).toBe(before);
    const visitor = await connectVisitor(bridge.url, {}, { extraHeaders: { origin: bridge.url } });
    const ack = await visitor.timeout(5000).emitWithAck('message:send', { clientId: 'after-raw', text: 'still fine' });
    visitor.close();
    expect(ack.ok).toBe(true);
  });
});
