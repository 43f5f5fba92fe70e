import { ClickHouseSource } from '@bx/clickhouse';
import { createLogger, loadConfig, onShutdown, runMain } from '@bx/core';
import { destinationFor } from '@bx/destinations';
import { BackfillService, ExportService, RunService } from '@bx/operations';
import { RunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export async function startApi(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ server: Server; stop(): Promise<void> }> {
  const config = loadConfig(env, ['api']);
  const logger = createLogger({ service: 'api' }, config.LOG_LEVEL);
  const store = Store.connect(config.REDIS_URL, config.QUEUE_PREFIX);
  const queue = RunQueue.fromConfig(config);
  const clickhouse = ClickHouseSource.fromConfig(config, { requestTimeoutMs: 10_000 });
  const service = new ExportService(store, queue, logger);
  const app = createApp({
    token: config.ADMIN_API_TOKEN!,
    service,
    runs: new RunService(store, queue, logger),
    backfills: new BackfillService(store, queue, logger),
    store,
    queue,
    bullBoardReadOnly: config.BULL_BOARD_READ_ONLY,
    clickhouse,
    logger,
    destinationFor,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  // The bound port: PORT=0 picks a free one (tests).
  logger.info('api listening', { port: (server.address() as AddressInfo).port });
  return {
    server,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([queue.close(), store.close(), clickhouse.close()]);
      logger.info('api stopped');
    },
  };
}

if (require.main === module) {
  runMain(async () => onShutdown(await startApi()));
}
