/**
 * Test helper process (run with tsx): appends messages to a LowdbStore as fast as it can, 16 in flight over four
 * conversations, with tiny segments and frequent checkpoints, and prints `<conversationId> <clientId>` for each
 * acknowledged append, and its store's debug log (`checkpoint finished` with the generation) on stderr. The crash test
 * kills it with SIGKILL mid-stream and checks every printed message and every finished checkpoint.
 * Usage: lowdb-crash-child.ts <dataDir> <clientIdPrefix>
 */
import { pino } from 'pino';
import { openCrashChildStore } from './crash-child-store.ts';

const [dataDir, prefix] = process.argv.slice(2);
if (!dataDir || !prefix) throw new Error('usage: lowdb-crash-child.ts <dataDir> <clientIdPrefix>');

// Debug lines on stderr, written synchronously: the test reads the generations of the checkpoints that finished.
const logger = pino({ level: 'debug' }, pino.destination({ dest: 2, sync: true }));
const store = await openCrashChildStore(dataDir, { segmentSize: 10, logger });
const conversations = ['conv-a', 'conv-b', 'conv-c', 'conv-d'];
for (const id of conversations) await store.createConversation({ id, channel: 'web', name: id });

let n = 0;
async function worker(): Promise<void> {
  for (;;) {
    const i = n++;
    const conversationId = conversations[i % conversations.length]!;
    const clientId = `${prefix}-${i}`;
    await store.appendMessage({
      conversationId,
      clientId,
      author: { role: i % 3 === 0 ? 'agent' : 'visitor' },
      text: `message ${i} ${'x'.repeat(i % 50)}`,
    });
    process.stdout.write(`${conversationId} ${clientId}\n`);
    if (i % 7 === 0) await store.applyReceipt(conversationId, 'visitor', i, i % 2 ? 'read' : 'delivered');
  }
}
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: 16 }, () => worker()));
