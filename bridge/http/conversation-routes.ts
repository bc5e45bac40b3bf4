/**
 * REST for agents and integrations: list conversations, read history, reply, mark read, close and reopen, assign,
 * export, erase.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { assigneeFilter, entityId, restAssignSchema, restHistoryQuerySchema, restSendSchema } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { randomId } from '../ids.ts';
import {
  applyReceipt,
  assignConversation,
  changeConversationState,
  historyPage,
  listSummaries,
  requireConversation,
  storeMessage,
} from '../conversations.ts';
import { eraseConversation, exportConversation } from '../conversation-erasure.ts';
import { authorOf, callerOf, requireBearer, requireEraser } from './bearer-auth.ts';
import { requireJsonBody } from './request-guards.ts';

const listQuerySchema = z.strictObject({
  filter: z.enum(['open', 'all']).optional(),
  assignee: assigneeFilter.optional(),
  query: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

/** `:id` as a conversation id; an id that cannot exist is simply not found. */
function conversationIdOf(req: Request): string {
  const parsed = entityId.safeParse(req.params.id);
  if (!parsed.success) throw new BridgeError('not_found', 'No such conversation.');
  return parsed.data;
}

/** The conversations router (mounted under /api, after JSON parsing). */
export function conversationRouter(ctx: BridgeContext): Router {
  const router = Router();
  router.use('/conversations', requireBearer(ctx));

  router.get('/conversations', async (req, res) => {
    const query = parse(listQuerySchema, { ...req.query });
    const caller = callerOf(req);
    res.json({ conversations: await listSummaries(ctx, query, caller.kind === 'agent' ? caller.agent.id : undefined) });
  });

  router.get('/conversations/:id/messages', async (req, res) => {
    const query = parse(restHistoryQuerySchema, { ...req.query });
    const conversation = await requireConversation(ctx, conversationIdOf(req));
    res.json(await historyPage(ctx, conversation.id, query.before, query.limit));
  });

  router.post('/conversations/:id/messages', requireJsonBody, async (req, res) => {
    const body = parse(restSendSchema, req.body);
    const conversation = await requireConversation(ctx, conversationIdOf(req));
    const stored = await storeMessage(ctx, {
      conversationId: conversation.id,
      conversation,
      clientId: body.clientId ?? `rest-${randomId()}`,
      author: authorOf(callerOf(req)),
      text: body.text,
      attachmentIds: body.attachments,
    });
    res.status(stored.created ? 201 : 200).json({ message: stored.message, created: stored.created });
    await stored.announce();
  });

  router.post('/conversations/:id/read', requireJsonBody, async (req, res) => {
    const conversation = await requireConversation(ctx, conversationIdOf(req));
    res.json(await applyReceipt(ctx, conversation.id, 'agent', conversation.lastSeq, 'read'));
  });

  router.get('/conversations/:id/export', async (req, res) => {
    const document = await exportConversation(ctx, conversationIdOf(req));
    res.setHeader('Content-Disposition', `attachment; filename="conversation-${document.conversation.id}.json"`);
    res.setHeader('Cache-Control', 'no-store');
    res.json(document);
  });

  // Answered only once the erasure is durable and no data file holds the conversation any more.
  router.delete('/conversations/:id', requireEraser, async (req, res) => {
    const { erased, announce } = await eraseConversation(ctx, conversationIdOf(req), 'agent');
    if (!erased) throw new BridgeError('not_found', 'No such conversation.');
    res.status(204).end();
    await announce();
  });

  router.put('/conversations/:id/assignee', requireJsonBody, async (req, res) => {
    const body = parse(restAssignSchema, req.body);
    const changed = await assignConversation(ctx, conversationIdOf(req), body.assigneeId);
    res.json({ conversation: changed.summary });
    await changed.announce();
  });

  for (const [action, state] of [['close', 'closed'], ['reopen', 'open']] as const) {
    router.post(`/conversations/:id/${action}`, requireJsonBody, async (req, res) => {
      const changed = await changeConversationState(ctx, conversationIdOf(req), state);
      res.json({ conversation: changed.summary });
      await changed.announce();
    });
  }
  return router;
}
