import type { BackfillService, RunService } from '@bx/operations';
import { checkPathIds } from '../path-ids';
import { Router } from 'express';
import { jsonBody } from '../json-body';

/** Runs and backfills of one export: `/api/exports/:id/...`. */
export function runsRouter(runs: RunService, backfills: BackfillService): Router {
  const router = checkPathIds(Router({ mergeParams: true }));

  router.get('/:id/runs/:run_id', async (req, res) => {
    res.json(await runs.get(req.params.id, req.params.run_id));
  });
  router.get('/:id/runs/:run_id/logs', async (req, res) => {
    res.json({ results: await runs.logs(req.params.id, req.params.run_id) });
  });
  router.post('/:id/runs/:run_id/retry', async (req, res) => {
    res.status(202).json(await runs.retry(req.params.id, req.params.run_id));
  });
  router.post('/:id/runs/:run_id/cancel', async (req, res) => {
    res.json(await runs.cancel(req.params.id, req.params.run_id));
  });
  router.post('/:id/backfills', async (req, res) => {
    const created = await backfills.create(req.params.id, jsonBody(req));
    if ('plan' in created) res.status(200).json(created.plan);
    else res.status(201).json(created.backfill);
  });
  router.get('/:id/backfills', async (req, res) => {
    res.json({ results: await backfills.list(req.params.id) });
  });
  router.get('/:id/backfills/:backfill_id', async (req, res) => {
    res.json(await backfills.get(req.params.id, req.params.backfill_id));
  });
  router.post('/:id/backfills/:backfill_id/cancel', async (req, res) => {
    res.json(await backfills.cancel(req.params.id, req.params.backfill_id));
  });
  return router;
}
