import type { BackfillService, RunService } from '@bx/operations';
import { checkPathIds } from '../path-ids';
import { Router } from 'express';

/** Runs and backfills of one export: `/api/exports/:id/...`. */
export function runsRouter(runs: RunService, backfills: BackfillService): Router {
  const router = checkPathIds(Router({ mergeParams: true }));

  router.post('/:id/runs/:run_id/retry', async (req, res) => {
    res.status(202).json(await runs.retry(req.params.id, req.params.run_id));
  });
  router.post('/:id/runs/:run_id/cancel', async (req, res) => {
    res.json(await runs.cancel(req.params.id, req.params.run_id));
  });
  router.post('/:id/backfills', async (req, res) => {
    const created = await backfills.create(req.params.id, req.body);
    res.status(201).json({ ...created.backfill, enqueued: created.enqueued, skipped: created.skipped });
  });
  router.get('/:id/backfills/:backfill_id', async (req, res) => {
    res.json(await backfills.get(req.params.id, req.params.backfill_id));
  });
  return router;
}
