/**
 * Retry after a transient server error, in real Chromium against a real bridge: the bridge's storage fails for real
 * (its next journal is /dev/full, so every write gets ENOSPC as on a full disk) and answers sends with the retryable
 * `storage_unavailable`. The widget keeps the message on screen as sending, keeps it in the persisted outbox and
 * retries it with backoff; once storage is back it is delivered exactly once, in order, and never shown as failed.
 */
import { readFile, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { Message } from '../protocol/message.ts';
import { connectVisitor, emitWithAck, type TestBridge } from '../bridge/testing/index.ts';
import {
  openPanel,
  openWidget,
  pageEvents,
  renderedMessages,
  sendFromComposer,
  useWidgetRig,
  conversationOf,
} from './widget-harness.ts';

const rig = useWidgetRig();

async function generation(dir: string): Promise<number> {
  return (JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { generation: number }).generation;
}

/**
 * Makes the store's next journal /dev/full (as bridge/storage-failure.test.ts does), so every write fails with
 * ENOSPC; returns the link whose removal brings storage back. Retries if a background checkpoint rotated in between.
 */
async function fillDisk(tb: TestBridge): Promise<string> {
  for (;;) {
    await tb.store.checkpoint();
    const current = await generation(tb.dataDir);
    const next = join(tb.dataDir, `journal-${current + 1}.jsonl`);
    await symlink('/dev/full', next);
    await tb.store.checkpoint();
    if ((await generation(tb.dataDir)) === current + 1) return next;
    await unlink(next);
  }
}

async function history(conversationId: string): Promise<Message[]> {
  const res = await emitWithAck(rig.agent, 'history', { conversationId, limit: 100 });
  if (!res.ok) throw new Error(res.error.code);
  return res.data.messages;
}

/** The widget's persisted outbox (what survives a reload while the message is not stored). */
function outbox(page: Page): Promise<Array<{ text: string; state: string; attempts: number }>> {
  return page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('anon-chat:') && k.endsWith(':outbox'));
    return key ? (JSON.parse(localStorage.getItem(key) ?? '[]') as Array<{ text: string; state: string; attempts: number }>) : [];
  });
}

describe('a transient storage failure on the bridge', () => {
  it('keeps the message sending and retrying while sends fail, then delivers it exactly once when storage is back', async () => {
    const key = `site-r-${Date.now()}`;
    const { context, page, errors } = await openWidget(rig.browser, rig.site.url({ server: rig.bridge.url, site: key }));
    await openPanel(page);
    await sendFromComposer(page, 'before the outage');
    await page.locator('anon-chat .msg--own.msg--sent').waitFor();
    const conversation = await conversationOf(rig.agent, key);

    const link = await fillDisk(rig.bridge);
    let restored = false;
    try {
      // The store really fails: a direct send is refused with the retryable code, not acked.
      const probe = await connectVisitor(rig.bridge.url);
      try {
        const refused = await emitWithAck(probe, 'message:send', { clientId: 'probe', text: 'probe' });
        expect(refused).toMatchObject({ ok: false, error: { code: 'storage_unavailable' } });
      } finally {
        probe.close();
      }

      await sendFromComposer(page, 'during the outage');
      // At least two real attempts were refused (the outbox counts them), and the message is still waiting.
      await expect.poll(async () => (await outbox(page)).find((e) => e.text === 'during the outage')?.attempts ?? 0).toBeGreaterThanOrEqual(2);
      expect(await outbox(page)).toEqual([expect.objectContaining({ text: 'during the outage', state: 'pending' })]);
      expect((await renderedMessages(page)).map((m) => [m.text, m.status])).toEqual([
        ['before the outage', 'sent'],
        ['during the outage', 'sending'],
      ]);
      expect((await history(conversation.id)).map((m) => m.text)).toEqual(['before the outage']);

      await unlink(link);
      restored = true;
      await expect.poll(async () => (await renderedMessages(page)).map((m) => [m.text, m.status]), { timeout: 20_000 }).toEqual([
        ['before the outage', 'sent'],
        ['during the outage', 'sent'],
      ]);
    } finally {
      if (!restored) await unlink(link).catch(() => {});
    }

    // Exactly once, in order, on the bridge and on screen; the outbox let go of it; never reported failed.
    const stored = await history(conversation.id);
    expect(stored.map((m) => [m.text, m.seq])).toEqual([
      ['before the outage', 1],
      ['during the outage', 2],
    ]);
    expect((await renderedMessages(page)).map((m) => m.seq)).toEqual(['1', '2']);
    expect(await outbox(page)).toEqual([]);
    const statuses = (await pageEvents(page, 'anon-chat-status')).map((e) => e.detail as { text: string; status: string });
    const during = statuses.filter((s) => s.text === 'during the outage').map((s) => s.status);
    expect(during).not.toContain('failed');
    expect(during.at(-1)).toBe('sent');
    expect(errors).toEqual([]);
    await context.close();
  });
});
