/**
 * listRecords reads a namespace's keys from an index built at its first listing (bucketed-collection.ts): every change
 * made after that listing — put, delete, addRecordOnce, the expiry sweep of a checkpoint — shows in the next one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { silentLogger } from '../../logger.ts';
import { LowdbStore } from './lowdb-store.ts';

let dir: string | undefined;
let store: LowdbStore | undefined;

afterEach(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('lists a namespace as it is after changes made since its first listing', async () => {
  dir = await mkdtemp(join(tmpdir(), 'anon-chat-records-'));
  let now = Date.parse('2026-12-03T00:00:00Z');
  store = new LowdbStore({ dataDir: dir, logger: silentLogger(), clock: () => new Date(now) });
  await store.open();
  const keys = async (namespace: string) => (await store!.listRecords(namespace, 10)).map((r) => r.key);

  await store.putRecord('subs:a', 'x', 1);
  expect(await keys('subs:a')).toEqual(['x']);
  expect(await keys('subs:b')).toEqual([]);

  await store.putRecord('subs:a', 'w', 2);
  await store.putRecord('subs:a', 'x', 3);
  await store.putRecord('subs:ab', 'v', 4);
  await store.putRecord('subs:b', 'y', 5, new Date(now + 1000).toISOString());
  expect(await store.addRecordOnce('subs:b', 'z', 6)).toBe(true);
  expect(await store.listRecords('subs:a', 10)).toEqual([
    { namespace: 'subs:a', key: 'w', value: 2 },
    { namespace: 'subs:a', key: 'x', value: 3 },
  ]);
  expect(await keys('subs:b')).toEqual(['y', 'z']);

  await store.deleteRecord('subs:a', 'w');
  now += 2000;
  expect(await keys('subs:a')).toEqual(['x']);
  expect(await keys('subs:b')).toEqual(['z']);
  await store.checkpoint();
  await store.deleteRecord('subs:b', 'z');
  expect(await keys('subs:b')).toEqual([]);
  expect(await keys('subs:ab')).toEqual(['v']);
});
