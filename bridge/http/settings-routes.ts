/** Team settings for admins: `GET/PUT /api/settings/business-hours` and `/api/settings/assignment`. Agents get 403. */
import { Router } from 'express';
import { assignmentSettingsSchema, businessHoursSchema } from '../../protocol/schemas.ts';
import type { BridgeContext } from '../context.ts';
import { validationError } from '../api-error.ts';
import { requireAdmin, requireBearer } from './bearer-auth.ts';
import { requireJsonBody } from './request-guards.ts';
import { requestIdOf } from './request-id.ts';

/** The settings router (mounted under /api, after JSON parsing). */
export function settingsRouter(ctx: BridgeContext): Router {
  const router = Router();
  router.use('/settings', requireBearer(ctx), requireAdmin);

  router.get('/settings/business-hours', async (_req, res) => {
    res.json(await ctx.availability.businessHours());
  });

  router.put('/settings/business-hours', requireJsonBody, async (req, res) => {
    const parsed = businessHoursSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    await ctx.availability.setBusinessHours(parsed.data);
    ctx.logger.info({ enabled: parsed.data.enabled, timeZone: parsed.data.timeZone, reqId: requestIdOf(req) }, 'business hours set');
    res.json(parsed.data);
  });

  router.get('/settings/assignment', async (_req, res) => {
    res.json(await ctx.availability.assignmentSettings());
  });

  router.put('/settings/assignment', requireJsonBody, async (req, res) => {
    const parsed = assignmentSettingsSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const saved = await ctx.availability.setAssignmentSettings(parsed.data);
    ctx.logger.info({ roundRobin: saved.roundRobin, reqId: requestIdOf(req) }, 'assignment settings set');
    res.json(saved);
  });
  return router;
}
