import type { ClickHouseSource } from '@bx/clickhouse';
import type { DestinationConfig, DestinationWriter, Logger } from '@bx/core';
import type { BackfillService, ExportService, RunService } from '@bx/operations';
import type { Store } from '@bx/store';
import express, { type Express } from 'express';
import { bearerAuth } from './auth';
import { errorHandler } from './error-handler';
import { exportsRouter } from './routes/exports';
import { runsRouter } from './routes/runs';

export interface AppDeps {
  token: string;
  service: ExportService;
  runs: RunService;
  backfills: BackfillService;
  store: Pick<Store, 'ping'>;
  clickhouse: Pick<ClickHouseSource, 'ping'>;
  logger: Logger;
  destinationFor: (destination: DestinationConfig) => DestinationWriter;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(express.json({ limit: '1mb', strict: false }));

  app.get('/healthz', async (_req, res) => {
    const [redis, clickhouse] = await Promise.all([deps.store.ping(), deps.clickhouse.ping().catch(() => false)]);
    const ok = redis && clickhouse;
    res
      .status(ok ? 200 : 503)
      .json({ status: ok ? 'ok' : 'degraded', redis: redis ? 'ok' : 'down', clickhouse: clickhouse ? 'ok' : 'down' });
  });

  app.use('/api', bearerAuth(deps.token));
  app.use('/api/exports', exportsRouter(deps.service, deps.destinationFor));
  app.use('/api/exports', runsRouter(deps.runs, deps.backfills));

  app.use((req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route ${req.method} ${req.path}`, details: [] } });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
