import { ValidationError, parseInput, type DestinationCheckOptions, type DestinationConfig } from '@bx/core';
import type { ExportService } from '@bx/operations';
import { checkPathIds } from '../path-ids';
import { Router, type Request } from 'express';
import { testDestination } from '../destination-test';
import { jsonBody } from '../json-body';
import { exportView } from '../serialize';
import { z } from 'zod';

/** POST /api/exports/:id/unpause: `backfill` also exports the intervals missed while paused. */
const unpauseBody = z.strictObject({ backfill: z.boolean().default(false) });

/** A query parameter; given more than once it is a 400 naming it (taking none dropped the filter). */
const query = (req: Request, name: string): string | undefined => {
  const value = req.query[name];
  if (value === undefined || typeof value === 'string') return value;
  const message = 'must be given once';
  throw new ValidationError(`Invalid query: ${name}: ${message}`, [{ field: name, message }]);
};

/**
 * The list's query parameters, each read by `query`; one it does not know is
 * a 400 naming it, as an unknown body field is: a misspelt filter
 * (`teamid=5`, `state=Failed`) answered the unfiltered list.
 */
function queryOf<N extends string>(req: Request, names: readonly N[]): Record<N, string | undefined> {
  const unknown = Object.keys(req.query).filter((key) => !(names as readonly string[]).includes(key));
  if (unknown.length) {
    const details = unknown.map((key) => ({ field: key.slice(0, 100), message: 'unknown parameter' }));
    throw new ValidationError(
      `Invalid query: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')} (known: ${names.join(', ')})`,
      details,
    );
  }
  return Object.fromEntries(names.map((name) => [name, query(req, name)])) as Record<N, string | undefined>;
}

export function exportsRouter(
  service: ExportService,
  checkDestination: (destination: DestinationConfig, opts: DestinationCheckOptions) => Promise<void>,
): Router {
  const router = checkPathIds(Router());

  router.post('/', async (req, res) => {
    res.status(201).json(exportView(await service.create(jsonBody(req))));
  });
  router.get('/', async (req, res) => {
    const page = await service.list(queryOf(req, ['team_id', 'limit', 'cursor']));
    res.json({ results: page.results.map((e) => exportView(e)), next: page.next });
  });
  router.get('/:id', async (req, res) => {
    const exp = await service.get(req.params.id);
    res.json(exportView(exp, await service.latestRuns(exp.id)));
  });
  router.patch('/:id', async (req, res) => {
    res.json(exportView(await service.update(req.params.id, jsonBody(req))));
  });
  router.delete('/:id', async (req, res) => {
    await service.delete(req.params.id);
    res.status(204).end();
  });
  router.post('/:id/pause', async (req, res) => {
    res.json(exportView(await service.pause(req.params.id)));
  });
  router.post('/:id/unpause', async (req, res) => {
    const { backfill } = parseInput(unpauseBody, jsonBody(req) ?? {});
    res.json(exportView(await service.unpause(req.params.id, { backfill })));
  });
  /** Reaches the destination with the export's credentials; the outcome is the answer, not an HTTP error. */
  router.post('/:id/test', async (req, res) => {
    const exp = await service.get(req.params.id);
    // A client that goes away stops the check (a Snowflake login can take a while).
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    res.json(await testDestination(exp, checkDestination, gone.signal));
  });
  router.get('/:id/reconciliation', async (req, res) => {
    res.json(await service.reconciliation(req.params.id));
  });
  router.get('/:id/runs', async (req, res) => {
    res.json(await service.listRuns(req.params.id, queryOf(req, ['status', 'limit', 'cursor', 'start', 'end'])));
  });
  return router;
}
