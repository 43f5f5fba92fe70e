import type { ClickHousePing } from '@bx/clickhouse/ping';
import type { DestinationCheckOptions, DestinationConfig, Logger } from '@bx/core';
import type { BackfillService, ExportService, RunService } from '@bx/operations';
import type { BullMqRunQueue, RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';
import express, { Router, type Express } from 'express';
import { AdminSessions } from './admin-session';
import { bearerAuth } from './auth';
import { AuthFailureLimiter, type AuthFailureLimit } from './auth-failures';
import { consoleRouter } from './console';
import { BULL_BOARD_PATH, bullBoardApp } from './bull-board';
import { errorHandler } from './error-handler';
import { JSON_TYPES, refuseDuplicateKeys, sentAsText } from './json-body';
import { metricsHandler } from './metrics';
import { openApiDocument } from './openapi/document';
import { adminLoginRouter } from './routes/admin-login';
import { exportsRouter } from './routes/exports';
import { runsRouter } from './routes/runs';
import { SharedRead } from './shared-read';
import { refuseOtherMethods } from './wrong-methods';

/** How long /healthz answers from the last ping of Redis and ClickHouse, in ms. */
export const HEALTH_KEEP_MS = 1000;

export interface AppDeps {
  token: string;
  service: ExportService;
  runs: RunService;
  backfills: BackfillService;
  store: Pick<Store, 'ping' | 'stats' | 'sessions'>;
  /** The run queue: Bull Board's view of it and the queue depth metric. */
  queue: Pick<RunQueue, 'jobCounts'> & Pick<BullMqRunQueue, 'boardAdapters' | 'connectedWithin'>;
  /** BULL_BOARD_READ_ONLY: Bull Board refuses changes. */
  bullBoardReadOnly: boolean;
  clickhouse: Pick<ClickHousePing, 'ping'>;
  logger: Logger;
  /** Reaches a destination with its credentials (the registry's checkDestination). */
  checkDestination: (destination: DestinationConfig, opts?: DestinationCheckOptions) => Promise<void>;
  /** TRUST_PROXY, as Express's `trust proxy`. Default false. */
  trustProxy?: boolean | number | string[];
  /** Wrong tokens a client may send per window before it gets 429. Default 20 a minute. */
  authFailureLimit?: AuthFailureLimit;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxy ?? false);
  const limiter = new AuthFailureLimiter(deps.authFailureLimit);

  const open = Router();
  // No token: a flood of checks shares one ping of each (SharedRead), not one per request.
  const health = new SharedRead(
    () => Promise.all([deps.store.ping(), deps.clickhouse.ping().catch(() => false)]),
    HEALTH_KEEP_MS,
  );
  open.get('/healthz', async (_req, res) => {
    const [redis, clickhouse] = await health.get();
    const ok = redis && clickhouse;
    res
      .status(ok ? 200 : 503)
      .json({ status: ok ? 'ok' : 'degraded', redis: redis ? 'ok' : 'down', clickhouse: clickhouse ? 'ok' : 'down' });
  });
  open.get('/metrics', metricsHandler(deps));
  app.use(refuseOtherMethods(open));

  const sessions = new AdminSessions(deps.token, deps.store.sessions, limiter);
  app.use('/admin', refuseOtherMethods(adminLoginRouter(deps.token, sessions, limiter)));
  app.use(
    BULL_BOARD_PATH,
    sessions.middleware(),
    bullBoardApp(deps.queue, { readOnly: deps.bullBoardReadOnly, runs: deps.runs }),
  );
  app.use('/admin', consoleRouter({ ...deps, sessions }));

  // Bodies are read only once the token is known good.
  app.use(
    '/api',
    bearerAuth(deps.token, limiter),
    express.json({ limit: '1mb', strict: false, type: JSON_TYPES, verify: refuseDuplicateKeys }),
    // JSON sent as text or a form by mistake: read as text, taken as JSON by the routes that read a body.
    express.text({ limit: '1mb', type: sentAsText }),
  );
  const document = Router();
  document.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.use('/api', refuseOtherMethods(document));
  app.use('/api/exports', refuseOtherMethods(exportsRouter(deps.service, deps.checkDestination)));
  app.use('/api/exports', refuseOtherMethods(runsRouter(deps.runs, deps.backfills)));

  app.use((req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route ${req.method} ${req.path}`, details: [] } });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
