/**
 * The address a visitor leaves to be answered by e-mail while no agent is online (#13): stored on the conversation
 * (created by it if the visitor has not written yet), shown to agents through the conversation's summary. Offered
 * only when the bridge has e-mail (`SMTP_URL`).
 */
import type { ReplyByEmail } from '../protocol/events.ts';
import { BridgeError } from './api-error.ts';
import type { BridgeContext } from './context.ts';
import type { VisitorSocketState } from './realtime/namespaces.ts';
import { ensureVisitorConversation } from './conversations.ts';

/** What `session.replyByEmail` carries for a visitor: undefined (no offer) without SMTP, else their current address. */
export async function replyByEmailOf(ctx: BridgeContext, conversationId: string): Promise<ReplyByEmail | undefined> {
  if (!ctx.config.mail) return undefined;
  const email = (await ctx.store.getConversation(conversationId))?.visitorEmail;
  return email === undefined ? {} : { email };
}

/** Stores (or with `null` removes) the visitor's address and tells the agents; `bad_request` without SMTP. */
export async function setVisitorEmail(
  ctx: BridgeContext,
  visitor: VisitorSocketState,
  email: string | null,
  page?: string,
): Promise<ReplyByEmail> {
  if (!ctx.config.mail) throw new BridgeError('bad_request', 'This chat does not answer by e-mail.');
  await ensureVisitorConversation(ctx, visitor);
  const conversation = await ctx.store.setConversationVisitorEmail(visitor.conversationId, email, page);
  await ctx.fanout.announceConversation(conversation);
  return conversation.visitorEmail === undefined ? {} : { email: conversation.visitorEmail };
}
