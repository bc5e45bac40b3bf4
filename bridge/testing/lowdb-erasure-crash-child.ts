/**
 * Test helper process (run from its bundle): fills conversations with texts unique to this run and erases them one
 * by one (each erasure remembering its id in an `erased-conversation` record with `{ at: <id> }`) while another
 * conversation keeps receiving messages, with tiny segments and frequent checkpoints. Prints
 * `filled <id>` once a conversation is complete, `erased <id>` once its erasure resolved, `kept <clientId>` per
 * acknowledged append. The first erasure runs to its end; in the second the process kills itself (SIGKILL) at the
 * named point `killAt`, after printing `at <killAt>`:
 * - `checkpoint-start`: the erasure is under way, its checkpoint about to replace its first file;
 * - `checkpoint-middle`: that checkpoint has replaced three files;
 * - `segment-delete`: the checkpoint is done, the erased conversation's first segment file about to be deleted;
 * - `segment-deleted`: one of its segment files is deleted, the others are still there;
 * - `erased`: the erasure resolved.
 * Usage: lowdb-erasure-crash-child.ts <dataDir> <round> <killAt>
 */
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { basename, dirname } from 'node:path';
import { openCrashChildStore } from './crash-child-store.ts';

const KILL_POINTS = ['checkpoint-start', 'checkpoint-middle', 'segment-delete', 'segment-deleted', 'erased'] as const;
type KillPoint = (typeof KILL_POINTS)[number];

const [dataDir, round, killAt] = process.argv.slice(2);
if (!dataDir || !round || !KILL_POINTS.includes(killAt as KillPoint)) {
  throw new Error(`usage: lowdb-erasure-crash-child.ts <dataDir> <round> <${KILL_POINTS.join('|')}>`);
}

/** The conversation whose erasure is to be cut, while it is being erased. */
let erasing: string | undefined;
let renames = 0;
let segmentDeletions = 0;

function dieAt(point: KillPoint): void {
  if (point !== killAt) return;
  process.stdout.write(`at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}

// The store reaches the disk through node:fs/promises; wrapping two of its functions (and updating the ES module
// bindings the store imported) lets the process stop at a named step of the erasure instead of at a random instant.
const { rename, rm } = fsPromises;
fsPromises.rename = async (...args: Parameters<typeof rename>) => {
  // This call's own number, taken before it waits: a checkpoint renames its files in parallel, so the counter read
  // after the await may have moved past 3 already, and no call would ever see it equal 3.
  const n = erasing !== undefined ? ++renames : 0;
  if (n === 1) dieAt('checkpoint-start');
  await rename(...args);
  if (n === 3) dieAt('checkpoint-middle');
};
fsPromises.rm = async (...args: Parameters<typeof rm>) => {
  const path = String(args[0]);
  const segment = erasing !== undefined && basename(dirname(path)) === 'segments' && basename(path).startsWith(`${erasing}.`);
  if (segment && segmentDeletions === 0) dieAt('segment-delete');
  await rm(...args);
  if (segment && ++segmentDeletions === 1) dieAt('segment-deleted');
};
syncBuiltinESMExports();

const MESSAGES = 25;
const store = await openCrashChildStore(dataDir, { segmentSize: 10 });
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
    // Its segment files on disk, so that the erasure has files to delete.
    await store.checkpoint();
    process.stdout.write(`filled ${id}\n`);
    if (n === 1) erasing = id;
    await store.eraseConversation(id, { remember: { namespace: 'erased-conversation', key: id, value: { at: id } } });
    process.stdout.write(`erased ${id}\n`);
    if (n === 1) dieAt('erased');
  }
}

await Promise.all([keepWriting(), fillAndErase()]).finally(() => {
  stop = true;
});
