import { ClickHousePing } from '@bx/clickhouse/ping';
import {
  createLogger,
  errorMessage,
  exportSecretsFromConfig,
  loadConfig,
  onShutdown,
  runMain,
  type BatchExport,
} from '@bx/core';
import { checkDestination, DESTINATION_SECRET_FIELDS, secretFieldsOf } from '@bx/destinations';
import { BackfillService, ExportService, RunService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { listen } from './listen';

export async function startApi(
  env: NodeJS.ProcessEnv = process.env,
  /** Log a line at start when ClickHouse does not answer (the all-in-one leaves it to its worker). */
  { clickHouseNotice = true }: { clickHouseNotice?: boolean } = {},
): Promise<{ server: Server; stop(): Promise<void> }> {
  const config = loadConfig(env, ['api']);
  const logger = createLogger({ service: 'api' }, config.LOG_LEVEL, { secretFields: DESTINATION_SECRET_FIELDS });
  const secrets = exportSecretsFromConfig(config, secretFieldsOf, logger);
  const store = Store.connect(
    { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    config.QUEUE_PREFIX,
    { secrets },
  );
  await store.assertReachable();
  await store.warnIfEvicting(logger);
  const queue = BullMqRunQueue.fromConfig(config);
  const clickhouse = ClickHousePing.fromConfig(config, { requestTimeoutMs: 10_000 });
  if (clickHouseNotice) {
    // The API works without ClickHouse (only /health needs it): say so once, do not wait.
    clickhouse.assertReachable().catch((err: unknown) => {
      logger.warn(`${errorMessage(err)}; /health reports it down, exports cannot run until it answers`);
    });
  }
  const network = config.ALLOWED_PRIVATE_DESTINATIONS;
  const service = new ExportService(store, queue, logger, undefined, { maxExports: config.MAX_EXPORTS, network });
  const app = createApp({
    token: config.ADMIN_API_TOKEN!,
    service,
    runs: new RunService(store, queue, logger),
    backfills: new BackfillService(store, queue, logger, undefined, { runWindow: config.SCHEDULER_RUN_WINDOW }),
    store,
    queue,
    bullBoardReadOnly: config.BULL_BOARD_READ_ONLY,
    clickhouse,
    logger,
    checkDestination: async (destination, opts) => {
      // A secret this process cannot open fails the test with a message that says so.
      secrets.requireOpen({ id: '', destination } as BatchExport);
      await checkDestination(destination, { ...opts, network });
    },
    trustProxy: config.TRUST_PROXY,
  });

  const server = await listen(app, {
    port: config.PORT,
    host: config.HOST,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
  }).catch(async (err: unknown) => {
    await Promise.all([queue.close(), store.close(), clickhouse.close()]);
    throw err;
  });
  // The bound port: PORT=0 picks a free one (tests).
  logger.info('api listening', { host: config.HOST, port: (server.address() as AddressInfo).port });
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
