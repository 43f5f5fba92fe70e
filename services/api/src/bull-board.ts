import { createBullBoard } from '@bull-board/api';
import type { ControllerHandlerReturnType } from '@bull-board/api/typings/app';
import { ExpressAdapter } from '@bull-board/express';
import type { RunService } from '@bx/operations';
import { RUNS_QUEUE, type BullMqRunQueue } from '@bx/queue';
import { isRedisUnavailable } from '@bx/store';
import { Router } from 'express';
import { sendRedisUnavailable } from './error-handler';

/** Where Bull Board is mounted (contract: `/admin/queues`). */
export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Board routes that are closed whatever BULL_BOARD_READ_ONLY says: they add
 * jobs or rewrite a job's data, which would bypass the API's validation (a
 * job naming a run that does not exist, or another export's interval). Jobs
 * come from the API, the scheduler and backfills only.
 */
const CLOSED: ReadonlyArray<{ method: 'post' | 'patch' | 'put'; path: string }> = [
  { method: 'post', path: '/api/queues/:queueName/add' },
  { method: 'patch', path: '/api/queues/:queueName/:jobId/update-data' },
  { method: 'patch', path: '/api/queues/:queueName/job-schedulers/:schedulerId' },
  { method: 'put', path: '/api/queues/:queueName/job-schedulers/:schedulerId/run' },
];

/**
 * Most jobs one listing may ask for: the board's own settings cap its page
 * size at this. Bull Board itself sets no maximum, and `?jobsPerPage=1000000`
 * made one request load every job of a queue (100,000 dead-letter jobs: 47 s,
 * 223 MB of JSON and 0.9 GB more memory in the API process).
 */
export const BOARD_JOBS_PER_PAGE_MAX = 300;

/** How long the board's API waits for the queues' Redis connection before answering 503, in ms. */
const BOARD_CONNECT_WAIT_MS = 1000;

/**
 * The board's Express adapter, but an error that says Redis cannot serve now
 * (a Cluster failing over: "Too many Cluster redirections") goes on to the
 * API's error handler, 503 `unavailable` with Retry-After, instead of the
 * board's own 500 with the error's text. Its handler runs as Express error
 * middleware: what it throws is passed on as the request's error.
 */
class BoardAdapter extends ExpressAdapter {
  override setErrorHandler(handler: (error: Error) => ControllerHandlerReturnType): this {
    return super.setErrorHandler((error) => {
      if (isRedisUnavailable(error)) throw error;
      return handler(error);
    });
  }
}

/** Query parameters the board decodes again (decodeURIComponent): one that is not percent-encoding threw, a 500. */
const DECODED_AGAIN = ['activeQueue', 'queueName'] as const;

/**
 * Bull Board over every queue the system uses (BullMqRunQueue.boardAdapters). In
 * read-only mode its API refuses every change (retry, clean, pause, remove)
 * and its UI hides the buttons. Adding jobs and editing their data are
 * closed (405), and Redis server details (version, memory, clients) are
 * not shown (403 on `/api/redis/stats`). Authentication is the caller's:
 * mount it behind AdminSessions.middleware(), which also refuses
 * cookie-authenticated changes from other sites.
 */
export function bullBoardApp(
  queue: Pick<BullMqRunQueue, 'boardAdapters' | 'connectedWithin'>,
  opts: { readOnly: boolean; runs: Pick<RunService, 'retryById'> },
): Router {
  const serverAdapter = new BoardAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queue.boardAdapters({ readOnly: opts.readOnly }),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'batch-exports queues',
        hideRedisDetails: true,
        // Back to the console (services/api/src/console), which links here.
        miscLinks: [{ text: 'Exports console', url: '/admin/exports' }],
      },
    },
  });
  const router = Router();
  // The board's commands would wait for Redis to come back (20 s and more with Redis down): 503 after a
  // moment (a connection just made is still connecting).
  router.use('/api', (_req, res, next) => {
    queue.connectedWithin(BOARD_CONNECT_WAIT_MS).then((up) => (up ? next() : sendRedisUnavailable(res)), next);
  });
  router.get('/api/*path', (req, res, next) => {
    const refused = refusedQuery(req.query);
    if (refused) return void res.status(400).json(invalid(refused.field, refused.message));
    next();
  });
  // No other site may show the board in a frame (and lure clicks onto its buttons).
  router.use((_req, res, next) => {
    res.set('Content-Security-Policy', "frame-ancestors 'none'").set('X-Frame-Options', 'DENY');
    next();
  });
  for (const route of CLOSED) {
    router[route.method](route.path, (_req, res) => {
      res.status(405).json({
        error: {
          code: 'method_not_allowed',
          message: 'jobs are added and changed through the admin API only (/api/exports)',
          details: [],
        },
      });
    });
  }
  if (!opts.readOnly) retryThroughRuns(router, opts.runs);
  router.use(serverAdapter.getRouter() as Router);
  return router;
}

/**
 * The board's Retry of a job of the runs queue retries its run as `POST
 * /api/exports/:id/runs/:run_id/retry` does. BullMQ's own retry moved the
 * job back to waiting and left the run record `Failed`, so the worker
 * dead-lettered it again without running it: the button did nothing. Retrying
 * every failed job at once is refused: each is a run to retry on purpose.
 */
function retryThroughRuns(router: Router, runs: Pick<RunService, 'retryById'>): void {
  router.put('/api/queues/:queueName/:jobId/retry', (req, res, next) => {
    if (req.params.queueName !== RUNS_QUEUE) return next();
    runs.retryById(req.params.jobId).then(() => void res.status(204).end(), next);
  });
  router.put('/api/queues/:queueName/retry/:queueStatus', (req, res, next) => {
    if (req.params.queueName !== RUNS_QUEUE) return next();
    res.status(405).json({
      error: {
        code: 'method_not_allowed',
        message: 'runs are retried one at a time: the Retry of each job, or POST /api/exports/:id/runs/:run_id/retry',
        details: [],
      },
    });
  });
}

/** A query of the board's API that would cost unbounded work or throw in the board: the field and why. */
function refusedQuery(query: Record<string, unknown>): { field: string; message: string } | null {
  const perPage = query.jobsPerPage;
  if (typeof perPage === 'string' && Number(perPage) > BOARD_JOBS_PER_PAGE_MAX)
    return { field: 'jobsPerPage', message: `must be at most ${BOARD_JOBS_PER_PAGE_MAX}` };
  for (const field of DECODED_AGAIN) {
    const value = query[field];
    if (typeof value !== 'string') continue;
    try {
      decodeURIComponent(value);
    } catch {
      return { field, message: 'must be a queue name (this one is not valid percent-encoding)' };
    }
  }
  return null;
}

function invalid(field: string, message: string) {
  return {
    error: { code: 'invalid_input', message: `Invalid query: ${field}: ${message}`, details: [{ field, message }] },
  };
}
