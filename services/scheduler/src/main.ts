import { IntervalChecksums } from '@bx/clickhouse/checksums';
import { modelPlugin } from '@bx/models';
import { createLogger, exportSecretsFromConfig, loadConfig, onShutdown, runMain } from '@bx/core';
import {
  AlertWebhook,
  BackfillPump,
  ExportJanitor,
  ExportService,
  Reconciler,
  RunRetention,
  StrandedRepair,
} from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { Background } from './background';
import { Scheduler } from './scheduler';

/** How often deleted exports are cleaned up and old runs removed, in ms. */
const HOUSEKEEPING_MS = 60_000;

export async function startScheduler(env: NodeJS.ProcessEnv = process.env): Promise<{ stop(): Promise<void> }> {
  const config = loadConfig(env, ['scheduler']);
  const logger = createLogger({ service: 'scheduler' }, config.LOG_LEVEL);
  // The scheduler never reads nor writes a secret: it leaves them as stored (this only warns when in clear).
  exportSecretsFromConfig(config, () => [], logger);
  const store = Store.connect({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES }, config.QUEUE_PREFIX);
  await store.assertReachable();
  await store.warnIfEvicting(logger);
  const queue = BullMqRunQueue.fromConfig(config);
  const migrated = await store.migrate();
  if (migrated > 0) logger.info('store migrated to this version', { exports: migrated });
  const scheduler = new Scheduler({
    store,
    queue,
    logger,
    settleMs: config.SCHEDULER_SETTLE_SECONDS * 1000,
    runWindow: config.SCHEDULER_RUN_WINDOW,
  });
  const pump = new BackfillPump(store, queue, logger, { window: config.SCHEDULER_RUN_WINDOW });
  const retention = new RunRetention(store, queue, logger, config.RUN_RETENTION_DAYS * 86_400_000);
  const janitor = new ExportJanitor(store, queue, logger);
  const stranded = new StrandedRepair(store, queue, new ExportService(store, queue, logger), logger);
  const checksums = IntervalChecksums.fromConfig(config, modelPlugin);
  const reconciler = new Reconciler(store, queue, (items) => checksums.ofExports(items, config), logger, {
    checks: (model) => checksums.supports(model),
    windowMs: config.RECONCILE_WINDOW_HOURS * 3_600_000,
    keepMismatchesMs: config.RUN_RETENTION_DAYS * 86_400_000,
    webhook: new AlertWebhook(config.ALERT_WEBHOOK_URL, logger),
  });
  const background = new Background(
    [
      ...(config.RECONCILE_WINDOW_HOURS > 0
        ? [{ name: 'reconciler', everyMs: config.RECONCILE_EVERY_MS, run: () => reconciler.pass() }]
        : []),
      { name: 'backfill pump', everyMs: config.SCHEDULER_TICK_MS, run: () => pump.pass() },
      { name: 'run retention', everyMs: HOUSEKEEPING_MS, run: async () => retention.pass(await store.now()) },
      // What a process killed between two writes left: exports off the schedule, runs without a job.
      { name: 'stranded repair', everyMs: HOUSEKEEPING_MS, run: () => stranded.pass() },
      {
        name: 'deleted export clean-up',
        everyMs: Math.min(HOUSEKEEPING_MS, config.SCHEDULER_TICK_MS * 5),
        run: () => janitor.pass(),
      },
    ],
    logger,
  );
  scheduler.start(config.SCHEDULER_TICK_MS);
  background.start();
  logger.info('scheduler started', {
    tick_ms: config.SCHEDULER_TICK_MS,
    settle_seconds: config.SCHEDULER_SETTLE_SECONDS,
    run_window: config.SCHEDULER_RUN_WINDOW,
    run_retention_days: config.RUN_RETENTION_DAYS,
    reconcile_window_hours: config.RECONCILE_WINDOW_HOURS,
  });
  return {
    async stop() {
      await scheduler.stop();
      await background.stop();
      await checksums.close();
      await queue.close();
      await store.close();
      logger.info('scheduler stopped');
    },
  };
}

if (require.main === module) {
  runMain(async () => onShutdown(await startScheduler()));
}
