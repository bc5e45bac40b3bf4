/**
 * The measuring side of a server under test: answers the bench's IPC requests with event-loop delay
 * (monitorEventLoopDelay), memory (optionally after a full GC) and process-specific counters. Imported by the
 * baseline and the bridge wrapper; it adds no work to request handling.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

type Request = { type: 'stats'; id: number; reset?: boolean; gc?: boolean };

/** Installs the IPC handler and reports readiness with the listening port. */
export function installProbe(port: number, extra: () => Record<string, number>, info: Record<string, unknown> = {}): void {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (raw) => {
    const req = raw as Request;
    if (req.type !== 'stats') return;
    if (req.gc && gc) {
      gc();
      gc();
    }
    const mem = process.memoryUsage();
    const toMs = (ns: number) => Math.round(ns / 1000) / 1000;
    process.send?.({
      type: 'stats',
      id: req.id,
      eventLoop: { p50: toMs(loop.percentile(50)), p99: toMs(loop.percentile(99)), max: toMs(loop.max) },
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      extra: extra(),
    });
    if (req.reset) loop.reset();
  });
  // The bench owns this process: when the IPC channel closes the bench is gone, so leave instead of lingering.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port, info });
}
