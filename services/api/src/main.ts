import { ClickHousePing } from '@bx/clickhouse/ping';
import { createLogger, loadConfig, onShutdown, runMain } from '@bx/core';
import { checkDestination, DESTINATION_SECRET_FIELDS } from '@bx/destinations';
import { BackfillService, ExportService, RunService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';

export async function startApi(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ server: Server; stop(): Promise<void> }> {
  const config = loadConfig(env, ['api']);
  const logger = createLogger({ service: 'api' }, config.LOG_LEVEL, { secretFields: DESTINATION_SECRET_FIELDS });
  const store = Store.connect({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES }, config.QUEUE_PREFIX);
  await store.assertReachable();
  const queue = BullMqRunQueue.fromConfig(config);
  const clickhouse = ClickHousePing.fromConfig(config, { requestTimeoutMs: 10_000 });
  const service = new ExportService(store, queue, logger, Date.now, { maxExports: config.MAX_EXPORTS });
  const app = createApp({
    token: config.ADMIN_API_TOKEN!,
    service,
    runs: new RunService(store, queue, logger),
    backfills: new BackfillService(store, queue, logger, Date.now, { runWindow: config.SCHEDULER_RUN_WINDOW }),
    store,
    queue,
    bullBoardReadOnly: config.BULL_BOARD_READ_ONLY,
    clickhouse,
    logger,
    checkDestination,
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
