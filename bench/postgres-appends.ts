/**
 * Appends per second of PostgresStore on one node (group commit): a throwaway cluster, `senders` closed-loop
 * senders over 100 conversations for `seconds`, on a durable server (fsync, synchronous_commit and full page writes
 * on; it prints them).
 *   tsx bench/postgres-appends.ts [senders=8,50] [seconds=5]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../bridge/logger.ts';
import { createDatabase, startTestPostgres } from '../bridge/testing/postgres.ts';
import { migrate } from '../bridge/store/postgres/migrations.ts';
import { PostgresStore } from '../bridge/store/postgres/postgres-store.ts';

const USAGE = 'usage: tsx bench/postgres-appends.ts [senders=8,50] [seconds=5]';
let positionals: string[];
try {
  ({ positionals } = parseArgs({ allowPositionals: true }));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
const senderCounts = (positionals[0] ?? '8,50').split(',').map(Number);
const seconds = Number(positionals[1] ?? 5);
if (positionals.length > 2 || !senderCounts.every((n) => Number.isSafeInteger(n) && n > 0) || !(seconds > 0)) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
const cluster = await startTestPostgres({ durable: true });
try {
  for (const senders of senderCounts) {
    const pool = new pg.Pool({ connectionString: await createDatabase(cluster.adminUrl, 'bench'), max: 10 });
    await migrate(pool, silentLogger());
    const { rows } = await pool.query<{ fsync: string; synchronous_commit: string }>(
      "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit",
    );
    const store = new PostgresStore({ pool, logger: silentLogger() });
    await store.open();
    for (let c = 0; c < 100; c++) await store.createConversation({ id: `c${c}`, channel: 'web', name: `V${c}` });
    let n = 0;
    const end = Date.now() + seconds * 1000;
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: senders }, async (_, s) => {
        while (Date.now() < end) {
          const i = n++;
          await store.appendMessage({ conversationId: `c${i % 100}`, clientId: `s${s}-${i}`, author: { role: 'visitor' }, text: `message ${i}` });
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    const stored = store.health().messages;
    console.log(
      `${senders} senders: ${Math.round(stored / seconds)} durable appends/s (${stored} in ${seconds} s; fsync=${rows[0]!.fsync}, synchronous_commit=${rows[0]!.synchronous_commit}; bridge CPU ${Math.round(((used.user + used.system) / stored))} µs/append)`,
    );
    await store.close();
    await pool.end();
  }
} finally {
  await cluster.stop();
}
