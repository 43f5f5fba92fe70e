import { onShutdown, runMain } from '@bx/core';
import { startApi } from '@bx/api';
import { startScheduler } from '@bx/scheduler';
import { loadWorkerConfig, startWorker } from '@bx/worker';

/** API, scheduler and worker in one process, for a single machine (`npm start`). */
runMain(async () => {
  // Every bad setting in one line before anything starts, the worker's destinations' too (as the API would say it).
  loadWorkerConfig(process.env, ['api', 'scheduler', 'worker']);
  // The API binds its port first: a busy PORT stops the process before a worker has taken a run.
  const api = await startApi(process.env, { clickHouseNotice: false });
  const scheduler = await startScheduler();
  const worker = await startWorker();
  onShutdown({
    async stop() {
      // Stop producing first, then the consumer, so no run is left half-enqueued.
      await api.stop();
      await scheduler.stop();
      await worker.stop();
    },
  });
});
