/**
 * The abuse of case 8 in its own process (spawned by torture/abuse.ts): reads its options as JSON on stdin, runs
 * the flood, oversized frames and bodies and half-open connections, and prints its report as one JSON line.
 */
import { generateAbuse } from './abuse.ts';

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const report = await generateAbuse(JSON.parse(input) as Parameters<typeof generateAbuse>[0]);
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
