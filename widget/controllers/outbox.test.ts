import { describe, expect, it } from 'vitest';
import { Outbox, entryToMessage, newClientId, type OutboxEntry } from './outbox.ts';
import type { PersistentStorage } from './visitor-storage.ts';
import { storageKeys } from './visitor-storage.ts';

/** A storage that round-trips through JSON like localStorage does. */
function jsonStorage(): PersistentStorage & { raw: Map<string, string> } {
  const raw = new Map<string, string>();
  return {
    raw,
    read: (k) => (raw.has(k) ? (JSON.parse(raw.get(k)!) as unknown) : undefined),
    write: (k, v) => void raw.set(k, JSON.stringify(v)),
    remove: (k) => void raw.delete(k),
  };
}

const entry = (clientId: string, state: OutboxEntry['state'] = 'pending'): OutboxEntry => ({
  clientId,
  text: `hello ${clientId}`,
  createdAt: '2026-01-01T00:00:00.000Z',
  state,
  attempts: 0,
});

describe('Outbox', () => {
  it('survives a reload: a new Outbox on the same storage has the same entries in order', () => {
    const storage = jsonStorage();
    const a = new Outbox(storage, 'k');
    a.add(entry('1'));
    a.add(entry('2'));
    a.add(entry('3'));
    const b = new Outbox(storage, 'k');
    expect(b.entries.map((e) => e.clientId)).toEqual(['1', '2', '3']);
  });

  it('hands out the oldest pending entry and skips failed ones', () => {
    const box = new Outbox(jsonStorage(), 'k');
    box.add(entry('1', 'failed'));
    box.add(entry('2'));
    expect(box.nextPending()?.clientId).toBe('2');
    box.remove('2');
    expect(box.nextPending()).toBeUndefined();
    box.update({ ...entry('1'), attempts: 0 });
    expect(box.nextPending()?.clientId).toBe('1');
  });

  it('removes an entry only once and forgets the key when empty', () => {
    const storage = jsonStorage();
    const box = new Outbox(storage, 'k');
    box.add(entry('1'));
    expect(box.remove('1')).toBe(true);
    expect(box.remove('1')).toBe(false);
    expect(storage.raw.has('k')).toBe(false);
  });

  it('two tabs sharing one outbox do not drop each other\'s unsent messages', () => {
    const storage = jsonStorage();
    const tabA = new Outbox(storage, 'k');
    const tabB = new Outbox(storage, 'k');
    tabA.add(entry('a1'));
    tabB.add(entry('b1'));
    tabA.remove('a1');
    expect(new Outbox(storage, 'k').entries.map((e) => e.clientId)).toEqual(['b1']);
    tabA.add(entry('a2'));
    expect(new Outbox(storage, 'k').entries.map((e) => e.clientId)).toEqual(['b1', 'a2']);
  });

  it('ignores corrupt stored data instead of crashing', () => {
    const storage = jsonStorage();
    storage.write('k', [{ nope: 1 }, entry('ok'), 'junk']);
    expect(new Outbox(storage, 'k').entries.map((e) => e.clientId)).toEqual(['ok']);
    storage.write('k', { not: 'an array' });
    expect(new Outbox(storage, 'k').entries).toEqual([]);
  });

  it('shows pending entries as sending and failed ones with their reason', () => {
    expect(entryToMessage(entry('1'), 'c').status).toBe('sending');
    const failed = entryToMessage({ ...entry('2', 'failed'), failure: { code: 'text_too_long', reason: 'Too long' } }, 'c');
    expect(failed).toMatchObject({ status: 'failed', failure: { code: 'text_too_long' }, author: { role: 'visitor' } });
  });

  it('keys storage per bridge and site', () => {
    expect(storageKeys('https://a', 's1').outbox).not.toBe(storageKeys('https://a', 's2').outbox);
    expect(storageKeys('https://a', 's1').outbox).not.toBe(storageKeys('https://b', 's1').outbox);
  });

  it('makes client ids the protocol accepts', () => {
    const id = newClientId();
    expect(id).toMatch(/^[A-Za-z0-9._:-]{1,100}$/);
    expect(newClientId()).not.toBe(id);
  });
});

