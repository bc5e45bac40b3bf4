/**
 * Preloaded (`node --expose-gc --import`) into a child bridge whose retained memory a case measures. On SIGUSR2 the
 * process collects garbage until the heap stops shrinking and prints `memory {"heapUsed":…,"rss":…}` on stdout.
 * RSS alone cannot tell a leak from the allocator keeping freed pages, lazily compiled code or a busy machine's
 * slower collector; heap used after a full collection only grows with what the bridge still references.
 */
const exposed = (globalThis as { gc?: () => void }).gc;
if (!exposed) throw new Error('torture/memory-probe.ts needs node --expose-gc');
const collect: () => void = exposed;

process.on('SIGUSR2', () => {
  // Collections can free more on a second pass (weak maps, finalizers): repeat until a pass frees under 64 kB.
  let before = Infinity;
  for (let i = 0; i < 10; i++) {
    collect();
    const used = process.memoryUsage().heapUsed;
    if (before - used < 64 * 1024) break;
    before = used;
  }
  const m = process.memoryUsage();
  // A pipe write is synchronous on Linux: the whole line is out before the handler returns.
  process.stdout.write(`memory ${JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
});

export {};
