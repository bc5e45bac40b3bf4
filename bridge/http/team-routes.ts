/**
 * What every agent needs of the team: `GET /api/team` (whom to assign to) and saved replies (`PUT`/`DELETE` for
 * admins). A saved-reply change tells every console on every node (`saved-replies:changed`, no payload: each lists
 * them again, so two admins' changes on two nodes cannot arrive out of order and leave consoles disagreeing).
 */
import { Router, type Request } from 'express';
import type { TeamMember } from '../../protocol/assignment.ts';
import { savedReplySchema, savedReplyShortcut } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { deleteSavedReply, listSavedReplies, putSavedReply } from '../saved-replies.ts';
import { requireAdmin, requireBearer } from './bearer-auth.ts';
import { requireJsonBody } from './request-guards.ts';
import { AGENTS_ROOM } from '../realtime/namespaces.ts';

/** `:shortcut` as a saved reply's shortcut; one that cannot exist is simply not found. */
function shortcutOf(req: Request): string {
  const parsed = savedReplyShortcut.safeParse(req.params.shortcut);
  if (!parsed.success) throw new BridgeError('not_found', 'No such saved reply.');
  return parsed.data;
}

/** The team directory and saved replies router (mounted under /api, after JSON parsing). */
export function teamRouter(ctx: BridgeContext): Router {
  const router = Router();
  router.use(['/team', '/saved-replies'], requireBearer(ctx));

  router.get('/team', async (_req, res) => {
    const agents = await ctx.store.listAgents();
    const team: TeamMember[] = agents.filter((agent) => agent.active).map((agent) => ({ id: agent.id, displayName: agent.displayName }));
    res.json({ agents: team });
  });

  router.get('/saved-replies', async (_req, res) => {
    res.json({ savedReplies: await listSavedReplies(ctx.store) });
  });

  router.put('/saved-replies/:shortcut', requireAdmin, requireJsonBody, async (req, res) => {
    const shortcut = savedReplyShortcut.safeParse(req.params.shortcut);
    if (!shortcut.success) {
      throw new BridgeError('bad_request', 'The request is not valid.', { shortcut: shortcut.error.issues[0]?.message ?? 'invalid' });
    }
    const parsed = savedReplySchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const { savedReply, created } = await putSavedReply(ctx.store, shortcut.data, parsed.data.text, ctx.clock());
    res.status(created ? 201 : 200).json({ savedReply });
    ctx.agentNs.to(AGENTS_ROOM).emit('saved-replies:changed');
  });

  router.delete('/saved-replies/:shortcut', requireAdmin, async (req, res) => {
    if (!(await deleteSavedReply(ctx.store, shortcutOf(req)))) throw new BridgeError('not_found', 'No such saved reply.');
    res.status(204).end();
    ctx.agentNs.to(AGENTS_ROOM).emit('saved-replies:changed');
  });
  return router;
}
