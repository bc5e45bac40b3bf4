import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { connectVisitor, emitWithAck, startTestBridge, type TestBridge } from './testing/index.ts';

let tb: TestBridge;

async function generation(dir: string): Promise<number> {
  return (JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { generation: number }).generation;
}

/**
 * Makes the store's next journal /dev/full, so every write fails with ENOSPC like a full disk; returns the link to
 * remove for recovery. Retries if a background checkpoint rotated the journal in between.
 */
async function fillDisk(bridge: TestBridge): Promise<string> {
  for (;;) {
    await bridge.store.checkpoint();
    const current = await generation(bridge.dataDir);
    const next = join(bridge.dataDir, `journal-${current + 1}.jsonl`);
    await symlink('/dev/full', next);
    await bridge.store.checkpoint();
    if ((await generation(bridge.dataDir)) === current + 1) return next;
    await unlink(next);
  }
}
beforeAll(async () => {
  tb = await startTestBridge();
});
afterAll(async () => {
  await tb.close();
});

describe('a full disk', () => {
  it('fails sends with storage_unavailable (no ack of an unstored message), reports 503 on /health, and recovers', async () => {
    const visitor = await connectVisitor(tb.url);
    try {
      expect((await emitWithAck(visitor, 'message:send', { clientId: 'before', text: 'before' })).ok).toBe(true);
      const next = await fillDisk(tb);

      const failed = await emitWithAck(visitor, 'message:send', { clientId: 'during', text: 'during' });
      expect(failed).toEqual({
        ok: false,
        error: { code: 'storage_unavailable', message: expect.not.stringContaining(tb.dataDir) },
      });
      const health = await fetch(`${tb.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, storage: { ok: false } });
      const rest = await fetch(`${tb.url}/api/conversations/${visitor.session.conversationId}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tb.agent.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: 'agent during outage' }),
      });
      expect(rest.status).toBe(503);
      expect(await rest.json()).toMatchObject({ error: { code: 'storage_unavailable' } });

      await unlink(next);
      const retried = await emitWithAck(visitor, 'message:send', { clientId: 'during', text: 'during' });
      expect(retried.ok).toBe(true);
      expect((await fetch(`${tb.url}/health`)).status).toBe(200);
      const page = await emitWithAck(visitor, 'history', {});
      expect(page.ok && page.data.messages.map((m) => m.clientId)).toEqual(['before', 'during']);
    } finally {
      visitor.close();
    }
  });
});
