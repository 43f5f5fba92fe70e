import { ClickHouseSource } from '@bx/clickhouse';
import { createLogger, errorMessage, exportSecretsFromConfig, loadConfig, onShutdown, runMain } from '@bx/core';
import type { Config, Role } from '@bx/core';
import { FailurePolicy } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { DESTINATION_SECRET_FIELDS, destinationEnvironmentProblems, secretFieldsOf, writerFor } from '@bx/destinations';

import { requireExportKeys } from './export-keys';
import { createRunProcessor } from './run-export';

/** The worker's configuration: the services' and its destinations' own settings (POSTGRES_*), every bad one named. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv, roles: readonly Role[] = ['worker']): Config {
  return loadConfig(env, roles, destinationEnvironmentProblems(env));
}

export async function startWorker(env: NodeJS.ProcessEnv = process.env): Promise<{ stop(): Promise<void> }> {
  const config = loadWorkerConfig(env);
  const logger = createLogger({ service: 'worker', pid: process.pid }, config.LOG_LEVEL, {
    secretFields: DESTINATION_SECRET_FIELDS,
  });
  const secrets = exportSecretsFromConfig(config, secretFieldsOf, logger);
  const store = Store.connect(
    { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    config.QUEUE_PREFIX,
    { secrets },
  );
  await store.assertReachable();
  await store.warnIfEvicting(logger);
  const source = ClickHouseSource.fromConfig(config);
  // Not awaited: runs retry until ClickHouse answers, and the worker serves
  // them meanwhile; this line says at once what is wrong and where to look.
  source.assertReachable().catch((err: unknown) => {
    logger.warn(`${errorMessage(err)}; runs will retry until it answers`);
  });
  const queue = BullMqRunQueue.fromConfig(config);
  const failures = new FailurePolicy(store, logger, {
    threshold: config.AUTO_PAUSE_AFTER_FAILURES,
    webhookUrl: config.ALERT_WEBHOOK_URL,
  });
  const processor = createRunProcessor({
    failures,
    store,
    source,
    destinationFor: (exp, attempt) => {
      requireExportKeys(secrets, exp, attempt);
      return writerFor(exp.destination, { network: config.ALLOWED_PRIVATE_DESTINATIONS });
    },
    config,
    logger,
    lockMs: config.WORKER_LOCK_DURATION_MS,
  });

  const worker = queue.startWorker(processor, {
    concurrency: config.WORKER_CONCURRENCY,
    logger,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
  });
  logger.info('worker started', { concurrency: config.WORKER_CONCURRENCY });
  return {
    async stop() {
      logger.info('worker stopping', { grace_ms: config.SHUTDOWN_GRACE_MS });
      await worker.close(config.SHUTDOWN_GRACE_MS);
      await Promise.all([queue.close(), source.close(), store.close()]);
      logger.info('worker stopped');
    },
  };
}

if (require.main === module) {
  runMain(async () => onShutdown(await startWorker()));
}
