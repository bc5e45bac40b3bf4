/** The team's saved replies, kept as durable records (one per shortcut) on either engine. */
import { MAX_SAVED_REPLIES, type SavedReply } from '../protocol/assignment.ts';
import type { Store } from './store/store.ts';
import { BridgeError } from './api-error.ts';

const NAMESPACE = 'saved-replies';

interface StoredSavedReply {
  text: string;
  updatedAt: string;
}

/** Every saved reply, by shortcut. */
export async function listSavedReplies(store: Store): Promise<SavedReply[]> {
  const records = await store.listRecords(NAMESPACE, MAX_SAVED_REPLIES + 1);
  return records.map((record) => {
    const value = record.value as StoredSavedReply;
    return { shortcut: record.key, text: value.text, updatedAt: value.updatedAt };
  });
}

/**
 * Creates or replaces the saved reply under `shortcut`; `created` tells which. A new one beyond MAX_SAVED_REPLIES is a
 * `conflict` (two admins adding the last ones at the same instant on two nodes may both pass).
 */
export async function putSavedReply(
  store: Store,
  shortcut: string,
  text: string,
  now: Date,
): Promise<{ savedReply: SavedReply; created: boolean }> {
  const existing = await store.getRecord<StoredSavedReply>(NAMESPACE, shortcut);
  if (!existing && (await store.listRecords(NAMESPACE, MAX_SAVED_REPLIES)).length >= MAX_SAVED_REPLIES) {
    throw new BridgeError('conflict', `A team keeps at most ${MAX_SAVED_REPLIES} saved replies.`);
  }
  const value: StoredSavedReply = { text, updatedAt: now.toISOString() };
  await store.putRecord(NAMESPACE, shortcut, value);
  return { savedReply: { shortcut, ...value }, created: !existing };
}

/** Removes the saved reply; false when there was none. */
export async function deleteSavedReply(store: Store, shortcut: string): Promise<boolean> {
  if (!(await store.getRecord(NAMESPACE, shortcut))) return false;
  await store.deleteRecord(NAMESPACE, shortcut);
  return true;
}
