/**
 * Memory after abuse, measured in-process so the heap can be collected: an in-process bridge with six normal
 * visitors, then ROUNDS (default 3) runs of the abuse generator (or, with NOABUSE=1, the same time without abuse as
 * a control); prints RSS and V8 heap after a forced GC. Retained state grows heapUsed every round; allocator
 * high-water shows as RSS without heapUsed. Run: `node --expose-gc --import tsx torture/abuse-memory-probe.ts`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startTestBridge } from '../bridge/testing/test-bridge.ts';
import { TortureVisitor } from './visitor-client.ts';

const exposed = (globalThis as { gc?: () => void }).gc;
if (!exposed) throw new Error('run with node --expose-gc');
const gc: () => void = exposed;
function mem(label: string): void {
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  console.log(label, JSON.stringify({ rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) }));
}
const tb = await startTestBridge({ config: { rateLimits: { messagesPerMinute: 600, eventsPerMinute: 1200 }, http: { headersTimeoutMs: 2000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 5000, connectionsCheckIntervalMs: 1000, maxConnectionsPerIp: 256 } } });
const visitors = Array.from({ length: 6 }, (_, i) => new TortureVisitor({ url: tb.url, name: `n${i}`, ackTimeoutMs: 5000 }));
await Promise.all(visitors.map((v) => v.ready()));
for (const v of visitors) v.pump();
const timer = setInterval(() => {
  for (const v of visitors) v.queue();
}, 200);
await new Promise((r) => setTimeout(r, 3000));
mem('baseline');
for (let round = 1; round <= Number(process.env.ROUNDS ?? 3); round++) {
  const g = spawn(process.execPath, process.env.NOABUSE ? ['-e', 'setTimeout(() => {}, 9000)'] : ['--import', 'tsx', join(import.meta.dirname, 'abuse-generator.ts')], { cwd: join(import.meta.dirname, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  g.stdin.on('error', () => undefined);
  g.stdin.end(JSON.stringify({ url: tb.url, port: tb.port, floodPerSecond: 1000, halfOpen: 2000, durationMs: 5500, requestTimeoutMs: 4000 }));
  let peak = 0;
  const s = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  await new Promise((r) => g.once('exit', r));
  clearInterval(s);
  console.log('peak rss', Math.round(peak / 1048576));
  await new Promise((r) => setTimeout(r, 2000));
  mem(`after round ${round}`);
}
clearInterval(timer);
if (process.env.SNAP) {
  const { writeHeapSnapshot } = await import('node:v8');
  console.log(writeHeapSnapshot(process.env.SNAP));
}
for (const v of visitors) v.close();
await tb.close();
process.exit(0);
