/**
 * Attachments in a widget embedded on another origin under a strict Content-Security-Policy (no 'unsafe-inline'):
 * with the documented `img-src <bridge> blob:` the visitor's preview, upload (CORS) and both sides' images work
 * without a single violation, in both script forms.
 */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { emitWithAck, waitUntil } from '../bridge/testing/index.ts';
import type { Message } from '../protocol/message.ts';
import { conversationOf, openPanel, openWidget, useWidgetRig } from './widget-harness.ts';

const rig = useWidgetRig();
let sites = 0;

function png(background: string): Promise<Buffer> {
  return sharp({ create: { width: 500, height: 300, channels: 3, background } }).png().toBuffer();
}

describe('attachments under a strict CSP on another origin', () => {
  for (const script of ['module', 'classic'] as const) {
    it(`previews, uploads and shows images with img-src <bridge> blob: and no violation (${script} script)`, async () => {
      const site = `csp-attach-${script}-${++sites}`;
      const url = rig.site.url({ server: rig.bridge.url, site, script, strictCsp: true, imgSrc: `${rig.bridge.url} blob:` });
      const { context, page, errors } = await openWidget(rig.browser, url);
      await openPanel(page);
      await page.locator('anon-chat .att-input').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: await png('#aa3355') });
      await expect.poll(() => page.locator('anon-chat .att-draft__thumb').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(500);
      await page.locator('anon-chat .att-draft__item--done').waitFor();
      await page.locator('anon-chat .send').click();

      const conversation = await conversationOf(rig.agent, site);
      const incoming = await waitUntil('the visitor\'s image message in the conversation', async () => {
        const res = await emitWithAck(rig.agent, 'history', { conversationId: conversation.id });
        return res.ok ? res.data.messages.find((m: Message) => m.attachments?.length) : undefined;
      });
      expect(incoming.attachments).toMatchObject([{ name: 'photo.png', type: 'image/png', thumbnail: true }]);

      // The agent answers with an image of their own (uploaded over REST): the visitor's widget shows it.
      const upload = await fetch(`${rig.bridge.url}/api/attachments?name=answer.png&conversationId=${conversation.id}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${rig.bridge.agent.token}` },
        body: new Uint8Array(await png('#337755')),
      });
      const { attachment } = (await upload.json()) as { attachment: { id: string } };
      const sent = await emitWithAck(rig.agent, 'message:send', { conversationId: conversation.id, clientId: `csp-${site}`, attachments: [attachment.id] });
      expect(sent.ok).toBe(true);
      const answer = page.locator('anon-chat .msg--other .att-image img[alt="answer.png"]');
      await expect.poll(() => answer.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);
      const own = page.locator('anon-chat .msg--own .att-image img[alt="photo.png"]');
      await expect.poll(() => own.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);

      expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    });
  }
});
