import { NotFoundError, RUN_ID, UUID_ID } from '@bx/core';
import type { Router } from 'express';

/** What each id in a path must look like: the ids the API gives out, nothing else. */
const ID_PARAMS: ReadonlyArray<[param: string, pattern: RegExp, what: string]> = [
  ['id', UUID_ID, 'export'],
  ['run_id', RUN_ID, 'run'],
  ['backfill_id', UUID_ID, 'backfill'],
];

/**
 * Answers 404 for a path id the API never gave out, before it reaches a Redis
 * key: `backfills/<uuid>:runs` used to read the backfill's run list as if it
 * were a backfill (500, WRONGTYPE). Every route of `router` that names one of
 * these parameters is covered, routes added later included.
 */
export function checkPathIds(router: Router): Router {
  for (const [param, pattern, what] of ID_PARAMS) {
    router.param(param, (_req, _res, next, value: unknown) => {
      if (typeof value === 'string' && pattern.test(value)) return next();
      next(new NotFoundError(`${what} ${String(value).slice(0, 100)} not found`));
    });
  }
  return router;
}
