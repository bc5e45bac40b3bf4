/**
 * A/B of the bridge on one PostgreSQL node: scenario 2 traffic (visitor↔agent pairs at fixed offered rates) against
 * prebuilt bridge bundles taken in turn (e.g. before, after, before, after), on the bench's durable PostgreSQL server,
 * printing per step the achieved rate, ack p99, lost/duplicated/unacked and CPU µs per offered message split into
 * the bridge and PostgreSQL's backends, WAL writer and other processes. Interleaving the variants is what makes the
 * comparison hold on a shared machine: compare CPU per message, not rates.
 *   tsx bench/postgres-ab.ts --variant before=dist/ab-before/bridge-server.js --variant after=dist/ab-after/bridge-server.js \
 *     [--order before,after,before,after] [--rates 600,2000] [--pairs 200] [--seconds 5] [--receipts] [--profile]
 * (--profile writes each bridge's V8 CPU profile to bench/results/profiles/, read with bench/profile-summary.ts.)
 * Bundles are built with `tsx scripts/build-bridge.ts`'s bundleNodeEntry (two folders below the root), e.g. from a
 * checkout of the old commit: `tsx bench/postgres-ab.ts --build dist/ab-before/bridge-server.js`.
 */
import { copyFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { bundleNodeEntry } from '../scripts/build-bridge.ts';
import { bundleFor, pinSelf } from './lib/server-process.ts';
import { stopBenchPostgres } from './lib/bench-postgres.ts';
import { bridgeNodeFlags, Target } from './lib/targets.ts';
import { closePairs, connectPairs, runChatLoad } from './scenarios/chat-load.ts';

const SCRIPT = 'bench/servers/bridge-server.ts';
const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true },
    order: { type: 'string' },
    rates: { type: 'string', default: '600,2000' },
    pairs: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
    receipts: { type: 'boolean', default: false },
    build: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
if (values.build !== undefined) {
  bundleNodeEntry(SCRIPT, values.build);
  console.log(`built ${values.build}`);
  process.exit(0);
}
const variants = new Map((values.variant ?? []).map((v) => v.split('=') as [string, string]));
const order = (values.order ?? [...variants.keys()].join(',')).split(',');
const rates = values.rates.split(',').map(Number);
const pairsCount = Number(values.pairs);
const durationMs = Number(values.seconds) * 1000;
if (variants.size === 0 || order.some((o) => !variants.has(o))) {
  console.error('usage: tsx bench/postgres-ab.ts --variant name=bundle.js … [--order a,b,a,b] [--rates 600,2000] [--pairs 200] [--seconds 5] [--receipts]');
  process.exit(2);
}
pinSelf(1);
if (values.profile) bridgeNodeFlags.push('--cpu-prof', '--cpu-prof-dir=bench/results/profiles');
// The bench builds dist/bench/bridge-server.js once; each variant's bundle takes its place before its target starts.
const slot = bundleFor(SCRIPT);
const top = Math.max(...rates);
const limits = {
  RATE_LIMIT_MESSAGES_PER_MINUTE: Math.ceil((top / 2) * 60 * 1.1),
  RATE_LIMIT_CONNECTIONS_PER_MINUTE: pairsCount + 10,
  ...(values.receipts ? { RATE_LIMIT_EVENTS_PER_MINUTE: Math.ceil(top * 60 * 1.1) } : {}),
};
try {
  for (const [round, name] of order.entries()) {
    copyFileSync(variants.get(name)!, slot);
    const target = await Target.start('bridge-pg', { limits });
    try {
      // A round that cannot connect its clients on an overloaded machine is reported and skipped, not the whole A/B.
      const pairs = await connectPairs(target, pairsCount);
      for (const rate of rates) {
        const r = await runChatLoad(pairs, { rate, durationMs, receipts: values.receipts, drainMs: 10_000, tag: `r${round}-${rate}` });
        const c = r.cpuPerMessageUs;
        console.log(
          [
            new Date().toISOString().slice(11, 19),
            `round ${round + 1} ${name} @${rate}/s`,
            `achieved ${r.achievedRate}/s`,
            `ack p50/p99 ${r.ack.p50.toFixed(1)}/${r.ack.p99.toFixed(1)} ms`,
            `cpu µs/msg bridge ${c.nodes.join('+')} pg backends ${c.postgresBackends} wal ${c.postgresWalWriter} other ${c.postgresOther}`,
            `lost ${r.lost} dup ${r.duplicated} unacked ${r.unacked}`,
            `errors ${JSON.stringify(r.errors)}`,
          ].join(' | '),
        );
        await new Promise((done) => setTimeout(done, 300));
      }
      closePairs(pairs);
    } catch (error) {
      console.log(`round ${round + 1} ${name} skipped: ${(error as Error).message}`);
    } finally {
      await target.stop();
    }
  }
} finally {
  await stopBenchPostgres();
}
