/**
 * The abuse of case 8 in its own process (spawned by torture/abuse.ts): reads its options as one JSON line on stdin,
 * then the commands `abuse` / `quiet` (one window each) and `end`, and answers each with a JSON line on stdout
 * (`ready`, `abusing`, `quiet`, `report`). Progress goes to stderr, which the parent shows if a step times out.
 * With `durationMs` in the options it runs one window of that length by itself and reports (abuse-memory-probe.ts).
 */
import { createInterface } from 'node:readline';
import { AbuseGenerator, type GeneratorOptions } from './abuse.ts';

const started = Date.now();
const log = (line: string) => process.stderr.write(`[+${Date.now() - started} ms] ${line}\n`);
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await lines.next();
const options = JSON.parse(String(first.value)) as GeneratorOptions & { durationMs?: number };
const generator = new AbuseGenerator({ ...options, rounds: options.rounds ?? 1 }, log);
await generator.start();
say({ event: 'ready' });
if (options.durationMs !== undefined) {
  await generator.abuse();
  await new Promise((r) => setTimeout(r, options.durationMs));
  await generator.quiet();
  say({ event: 'report', report: generator.finish() });
  process.exit(0);
}
for (;;) {
  const next = await lines.next();
  const command = next.done ? 'end' : String(next.value).trim();
  if (command === 'abuse') {
    await generator.abuse();
    say({ event: 'abusing' });
  } else if (command === 'quiet') {
    await generator.quiet();
    say({ event: 'quiet' });
  } else if (command === 'end') {
    say({ event: 'report', report: generator.finish() });
    process.exit(0);
  } else {
    log(`unknown command ${JSON.stringify(command)}`);
  }
}
