/**
 * One-click unsubscribe from visitor notification mails (RFC 8058): a link signed for (conversation, address). Mail
 * clients POST to it; a person opening it gets a page with one button that POSTs (a GET never unsubscribes, so link
 * scanners cannot). Unsubscribing removes the address from the conversation: no further mail can be sent to it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Router, type Request } from 'express';
import type { BridgeContext } from '../context.ts';

/** Path of the unsubscribe link, under the bridge's public URL. */
export const UNSUBSCRIBE_PATH = '/api/mail/unsubscribe';

function signature(secret: string, conversationId: string, email: string): string {
  // Domain-separated from the visitor tokens signed with the same secret.
  return createHmac('sha256', secret).update(`unsubscribe\u0000${conversationId}\u0000${email}`).digest('base64url');
}

/** The signed unsubscribe link of a conversation's address. */
export function unsubscribeUrlOf(publicUrl: string, secret: string, conversationId: string, email: string): string {
  const query = new URLSearchParams({ c: conversationId, e: email, s: signature(secret, conversationId, email) });
  return `${publicUrl}${UNSUBSCRIBE_PATH}?${query.toString()}`;
}

/** The (conversation, address) a request's link was signed for, or undefined for a link that is not ours. */
function signedTarget(req: Request, secret: string): { conversationId: string; email: string } | undefined {
  const { c, e, s } = req.query;
  if (typeof c !== 'string' || typeof e !== 'string' || typeof s !== 'string' || c.length > 200 || e.length > 254) return undefined;
  const expected = Buffer.from(signature(secret, c, e));
  const given = Buffer.from(s);
  return given.length === expected.length && timingSafeEqual(given, expected) ? { conversationId: c, email: e } : undefined;
}

const PAGE_HEAD = '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Unsubscribe</title>';

/** `GET` (a page with the button) and `POST` (unsubscribe) of the link; mounted under /api after the rate limit. */
export function unsubscribeRouter(ctx: BridgeContext): Router {
  const router = Router();
  const path = UNSUBSCRIBE_PATH.replace(/^\/api/, '');
  router.get(path, (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (!signedTarget(req, ctx.config.secrets.visitorToken)) {
      res.status(404).type('html').send(`${PAGE_HEAD}<p>This link is not valid.</p>`);
      return;
    }
    // The form posts back to this same URL (query included); nothing from the request is written into the page.
    res
      .type('html')
      .send(`${PAGE_HEAD}<form method="post"><p>Stop e-mails about replies to your chat?</p><button type="submit">Unsubscribe</button></form>`);
  });
  router.post(path, async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const target = signedTarget(req, ctx.config.secrets.visitorToken);
    if (!target) {
      res.status(404).type('html').send(`${PAGE_HEAD}<p>This link is not valid.</p>`);
      return;
    }
    const conversation = await ctx.store.getConversation(target.conversationId);
    // A link for an address the visitor has since changed must not remove the new one.
    if (conversation?.visitorEmail === target.email) {
      const changed = await ctx.store.setConversationVisitorEmail(target.conversationId, null);
      await ctx.fanout.announceConversation(changed);
      ctx.logger.info({ conversationId: target.conversationId }, 'mail: visitor unsubscribed');
    }
    res.type('html').send(`${PAGE_HEAD}<p>You will get no more e-mails about this chat.</p>`);
  });
  return router;
}
