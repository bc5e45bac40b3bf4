/**
 * Test helper process (run with tsx): fills conversations with texts unique to this run and erases them one by
 * one while another conversation keeps receiving messages, with tiny segments and frequent checkpoints. Prints
 * `filled <id>` once a conversation is complete, `erased <id>` once its erasure resolved, `kept <clientId>` per
 * acknowledged append. The erasure crash test kills it with SIGKILL at random moments.
 * Usage: erasure-crash-child.ts <dataDir> <round>
 */
import { pino } from 'pino';
import { LowdbStore } from './lowdb-store.ts';

const [dataDir, round] = process.argv.slice(2);
if (!dataDir || !round) throw new Error('usage: erasure-crash-child.ts <dataDir> <round>');

const MESSAGES = 25;
const store = new LowdbStore({
  dataDir,
  logger: pino({ level: 'silent' }),
  segmentSize: 10,
  checkpointBytes: 16 * 1024,
  checkpointIntervalMs: 50,
});
await store.open();
await store.createConversation({ id: 'kept', channel: 'web', name: 'kept' });
process.stdout.write('ready\n');

let stop = false;
async function keepWriting(): Promise<void> {
  for (let i = 0; !stop; i++) {
    const clientId = `${round}-${i}`;
    await store.appendMessage({ conversationId: 'kept', clientId, author: { role: 'visitor' }, text: `kept ${clientId}` });
    process.stdout.write(`kept ${clientId}\n`);
  }
}

async function fillAndErase(): Promise<void> {
  for (let n = 0; ; n++) {
    const id = `gone-${round}-${n}`;
    await store.createConversation({ id, channel: 'web', name: id });
    for (let i = 0; i < MESSAGES; i++) {
      await store.appendMessage({ conversationId: id, clientId: `c${i}`, author: { role: 'visitor' }, text: `secret ${id} #${i}` });
    }
    process.stdout.write(`filled ${id}\n`);
    await store.eraseConversation(id);
    process.stdout.write(`erased ${id}\n`);
  }
}

await Promise.all([keepWriting(), fillAndErase()]).finally(() => {
  stop = true;
});
