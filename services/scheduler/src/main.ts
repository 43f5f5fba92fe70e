import { createLogger, exportSecretsFromConfig, loadConfig, onShutdown, runMain } from '@bx/core';
import { RunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { Scheduler } from './scheduler';

export async function startScheduler(env: NodeJS.ProcessEnv = process.env): Promise<{ stop(): Promise<void> }> {
  const config = loadConfig(env, ['scheduler']);
  const logger = createLogger({ service: 'scheduler' }, config.LOG_LEVEL);
  // The scheduler never reads nor writes a secret: it leaves them as stored (this only warns when in clear).
  exportSecretsFromConfig(config, () => [], logger);
  const store = Store.connect(config.REDIS_URL, config.QUEUE_PREFIX);
  const queue = RunQueue.fromConfig(config);
  const scheduler = new Scheduler({ store, queue, logger, settleMs: config.SCHEDULER_SETTLE_SECONDS * 1000 });
  scheduler.start(config.SCHEDULER_TICK_MS);
  logger.info('scheduler started', {
    tick_ms: config.SCHEDULER_TICK_MS,
    settle_seconds: config.SCHEDULER_SETTLE_SECONDS,
  });
  return {
    async stop() {
      await scheduler.stop();
      await queue.close();
      await store.close();
      logger.info('scheduler stopped');
    },
  };
}

if (require.main === module) {
  runMain(async () => onShutdown(await startScheduler()));
}
