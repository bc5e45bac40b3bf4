/**
 * Case 6 at the store: every order of {sent, delivered, read, failed}, with duplicates and replays (also after a
 * close/reopen), ends at the highest rank; each advance is applied once; no returned change ever moves backwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LowdbStore } from '../bridge/store/lowdb/lowdb-store.ts';
import { STATUS_RANK } from '../protocol/status.ts';
import type { StoredStatus } from '../protocol/status.ts';

const STATUSES: StoredStatus[] = ['sent', 'delivered', 'read', 'failed'];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('status ordering at the store', () => {
  let dataDir: string;
  let store: LowdbStore;
  let n = 0;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'torture-status-'));
    store = new LowdbStore({ dataDir, logger });
    await store.open();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Applies `sequence` to a fresh agent message and checks every step; returns the conversation and message ids. */
  async function applySequence(sequence: StoredStatus[]): Promise<{ conversationId: string; messageId: string; applied: number }> {
    const conversationId = `st${++n}`;
    await store.createConversation({ id: conversationId, channel: 'whatsapp', name: 'status' });
    const { message } = await store.appendMessage({ conversationId, clientId: 'c1', author: { role: 'agent', name: 'a' }, text: 'x' });
    expect(message.status).toBe('sent');
    let current: StoredStatus = 'sent';
    let applied = 0;
    let lastRev = message.rev;
    for (const status of sequence) {
      const result = await store.applyStatus(conversationId, message.id, {
        status,
        ...(status === 'failed' ? { failure: { code: '131047', reason: 're-engagement window closed' } } : {}),
      });
      const advance = STATUS_RANK[status] > STATUS_RANK[current];
      if (advance) {
        expect(result.changed).toHaveLength(1);
        const changed = result.changed[0]!;
        expect(changed.status).toBe(status);
        expect(STATUS_RANK[changed.status]).toBeGreaterThan(STATUS_RANK[current]);
        expect(changed.rev).toBeGreaterThan(lastRev);
        lastRev = changed.rev;
        current = status;
        applied++;
      } else {
        expect(result.changed).toEqual([]);
      }
    }
    const stored = await store.getMessage(conversationId, message.id);
    expect(stored?.status).toBe(current);
    if (current === 'read') expect(stored?.statusAt.delivered).toBeDefined();
    if (current === 'failed') expect(stored?.failure?.code).toBe('131047');
    return { conversationId, messageId: message.id, applied };
  }

  it('all 24 orders of the four statuses end at the highest rank, each advance applied once', async () => {
    const orders = permutations(STATUSES);
    expect(orders).toHaveLength(24);
    for (const order of orders) {
      const { conversationId, messageId } = await applySequence(order);
      const stored = await store.getMessage(conversationId, messageId);
      expect(stored?.status).toBe('read');
    }
  });

  it('random sequences with duplicates and replays: final = max rank, replays change nothing', async () => {
    // A fixed seed: the same inputs every run, so a failure replays as it is and no run passes or fails by the draw.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...STATUSES), { minLength: 1, maxLength: 12 }), async (sequence) => {
        const { conversationId, messageId, applied } = await applySequence(sequence);
        const expected = sequence.reduce<StoredStatus>((a, b) => (STATUS_RANK[b] > STATUS_RANK[a] ? b : a), 'sent');
        const before = await store.getMessage(conversationId, messageId);
        expect(before?.status).toBe(expected);
        expect(applied).toBeLessThanOrEqual(3);
        // A replay of the whole sequence (a webhook provider resending) changes nothing, rev included.
        for (const status of sequence) {
          expect((await store.applyStatus(conversationId, messageId, { status })).changed).toEqual([]);
        }
        expect(await store.getMessage(conversationId, messageId)).toEqual(before);
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('receipts and statuses interleaved never regress, and a replay after close/reopen changes nothing', async () => {
    const conversationId = 'receipts-replay';
    await store.createConversation({ id: conversationId, channel: 'web', name: 'r' });
    for (let i = 0; i < 5; i++) {
      await store.appendMessage({ conversationId, clientId: `a${i}`, author: { role: 'agent', name: 'a' }, text: `m${i}` });
    }
    const ops: (() => Promise<unknown>)[] = [
      () => store.applyReceipt(conversationId, 'agent', 3, 'read'),
      () => store.applyReceipt(conversationId, 'agent', 5, 'delivered'),
      () => store.applyReceipt(conversationId, 'agent', 2, 'delivered'),
      () => store.applyReceipt(conversationId, 'agent', 1, 'read'),
    ];
    for (const op of [...ops, ...ops]) await op();
    const snapshot = await store.getMessages(conversationId, { limit: 10 });
    expect(snapshot.map((m) => m.status)).toEqual(['read', 'read', 'read', 'delivered', 'delivered']);
    await store.close();
    store = new LowdbStore({ dataDir, logger });
    await store.open();
    for (const op of ops) await op();
    for (const m of snapshot) {
      expect((await store.applyStatus(conversationId, m.id, { status: 'sent' })).changed).toEqual([]);
      expect((await store.applyStatus(conversationId, m.id, { status: 'failed' })).changed).toEqual([]);
    }
    expect(await store.getMessages(conversationId, { limit: 10 })).toEqual(snapshot);
  });
});
