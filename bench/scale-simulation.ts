import { exportLagSeconds } from '@bx/core';
import { Store } from '@bx/store';
import { Redis } from 'ioredis';
import { ServiceProcess } from '../test/helpers/processes';
import { createFiveMinuteExports, FIVE_MINUTES } from './scale-data';
import { sampleRedis, type ScaleServices } from './scale-services';
import { ScaleWorkers } from './scale-workers';
import type { ScaleOptions } from './scale';

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs completed so far (the store's counter: BullMQ keeps only the last 50,000 completed jobs). */
export async function completedRuns(store: Store): Promise<number> {
  return Number((await store.redis.hget(store.keys.runsByStatus, 'Completed')) ?? 0);
}

/** Phase 3: exports whose last interval ended at the latest boundary; 4 workers and a scheduler. */
export async function simulate(
  opts: ScaleOptions,
  services: ScaleServices,
  s3: Record<string, string>,
  workerEnv: Record<string, string>,
): Promise<Record<string, unknown>> {
  const n = opts.exports;
  const prefix = 'bxs3';
  const store = Store.connect(services.redisUrl, prefix);
  const redis = new Redis(services.redisUrl);
  const boundary = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES;
  await createFiveMinuteExports(store, n, boundary - FIVE_MINUTES, s3);
  const env = { ...workerEnv, QUEUE_PREFIX: prefix };
  const workers = new ScaleWorkers(env, services);
  await workers.scaleTo(4);
  opts.say(`scale: simulation, ${n.toLocaleString('en-US')} exports due, 4 workers and a scheduler process`);
  const before = await sampleRedis(redis);
  const began = Date.now();
  const scheduler = new ServiceProcess('scheduler', { ...env, LOG_LEVEL: 'info' });
  let drainedAt: number | null = null;
  try {
    await scheduler.waitForLog('scheduler started', 60_000);
    for (const until = began + opts.simulateTimeoutSeconds * 1000; Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 1000));
      if ((await completedRuns(store)) >= n) {
        drainedAt = Date.now();
        break;
      }
    }
    const after = await sampleRedis(redis);
    const snapshot = await store.stats.snapshot();
    const lags = snapshot.exports
      .filter((e) => e.export)
      .map((e) => exportLagSeconds(snapshot.now, e, e.export!))
      .sort((a, b) => a - b);
    const completed = await completedRuns(store);
    const seconds = (after.at - before.at) / 1000;
    const tickLogs = scheduler.logs.filter((l) => l.msg === 'scheduler tick');
    return {
      /** Seconds from the scheduler's start to the burst's last run completed; null if it did not drain in time. */
      burst_drain_s: drainedAt === null ? null : round((drainedAt - began) / 1000, 1),
      /** How old the burst's intervals already were when the scheduler started (they ended at the boundary). */
      interval_age_at_start_s: round((began - boundary) / 1000, 1),
      runs_completed: completed,
      runs_per_s: round((completed / ((drainedAt ?? Date.now()) - began)) * 1000, 1),
      lag_end_max_s: round(lags.at(-1) ?? 0, 1),
      lag_end_p50_s: round(lags[Math.floor(lags.length / 2)] ?? 0, 1),
      redis_ops_per_s: Math.round((after.commands - before.commands) / seconds),
      redis_cpu_per_s: round((after.cpu - before.cpu) / seconds, 3),
      scheduler_ticks: tickLogs.map((l) => ({ exports: l.exports, enqueued: l.enqueued, ms: l.ms })),
    };
  } finally {
    await scheduler.stop();
    await workers.stop();
    await store.close();
    redis.disconnect();
  }
}
