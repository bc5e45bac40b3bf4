/**
 * Test helper process: stores attachments (64 KiB – 1 MiB, bytes derived from their number) and a message carrying
 * each, 4 at a time in one conversation, with frequent checkpoints. Prints `a <attachmentId> <sha256>` once an
 * attachment is acknowledged and `m <clientId> <attachmentId>` once its message is. The crash test kills it with
 * SIGKILL mid-way and checks what the store holds afterwards.
 * Usage: lowdb-attachment-crash-child.ts <dataDir> <clientIdPrefix>
 */
import { createHash } from 'node:crypto';
import { openCrashChildStore } from './crash-child-store.ts';

const [dataDir, prefix] = process.argv.slice(2);
if (!dataDir || !prefix) throw new Error('usage: lowdb-attachment-crash-child.ts <dataDir> <clientIdPrefix>');

const store = await openCrashChildStore(dataDir);
const conversationId = 'conv-files';
await store.createConversation({ id: conversationId, channel: 'web', name: 'files' });

const seed = createHash('sha256').update(prefix).digest().readUInt32LE(0);

/** Bytes of attachment `i` of this run: a size and a pattern of their own, so a torn or mixed-up file shows. */
function contentOf(i: number): Buffer {
  const size = 64 * 1024 + ((i * 7919) % (960 * 1024));
  const bytes = Buffer.alloc(size);
  for (let p = 0; p + 4 <= size; p += 4) bytes.writeUInt32LE((p * 2654435761 + i + seed) >>> 0, p);
  return bytes;
}

let n = 0;
async function worker(): Promise<void> {
  for (;;) {
    const i = n++;
    const content = contentOf(i);
    const { attachment } = await store.putAttachment({
      conversationId,
      uploader: 'visitor',
      uploadKey: `${prefix}-${i}`,
      name: `file-${i}.bin`,
      type: 'application/pdf',
      content,
      ...(i % 2 === 0 ? { thumbnail: content.subarray(0, 1000) } : {}),
    });
    process.stdout.write(`a ${attachment.id} ${createHash('sha256').update(content).digest('hex')}\n`);
    const clientId = `${prefix}-m${i}`;
    await store.appendMessage({
      conversationId,
      clientId,
      author: { role: 'visitor' },
      text: '',
      attachments: [{ id: attachment.id, name: attachment.name, type: attachment.type, size: attachment.size }],
    });
    process.stdout.write(`m ${clientId} ${attachment.id}\n`);
  }
}
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: 4 }, () => worker()));
