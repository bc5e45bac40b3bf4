/** `GET /health` (no auth): storage state from the store; 503 while storage is degraded. */
import { Router } from 'express';
import type { BridgeContext } from '../context.ts';

/** The health router. */
export function healthRouter(ctx: BridgeContext): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    const storage = ctx.store.health();
    // The data directory path is an operator detail; the unauthenticated endpoint does not reveal it.
    const { dataDir: _dataDir, ...publicStorage } = storage;
    res.setHeader('Cache-Control', 'no-store');
    res.status(storage.ok ? 200 : 503).json({ ok: storage.ok, storage: publicStorage, time: ctx.clock().toISOString() });
  });
  return router;
}
