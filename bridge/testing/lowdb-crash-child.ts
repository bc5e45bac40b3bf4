/**
 * Test helper process (run with tsx): appends messages to a LowdbStore as fast as it can, 16 in flight over four
 * conversations, with tiny segments and frequent checkpoints, and prints `<conversationId> <clientId>` for each
 * acknowledged append. The crash test kills it with SIGKILL at random moments and checks every printed message.
 * Usage: lowdb-crash-child.ts <dataDir> <clientIdPrefix>
 */
import { openCrashChildStore } from './crash-child-store.ts';

const [dataDir, prefix] = process.argv.slice(2);
if (!dataDir || !prefix) throw new Error('usage: lowdb-crash-child.ts <dataDir> <clientIdPrefix>');

const store = await openCrashChildStore(dataDir, { segmentSize: 10 });
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
