import { exportLagSeconds, RUN_STATUSES } from '@bx/core';
import type { JobState, RunQueue } from '@bx/queue';
import { RUN_DURATION_BUCKETS, type DurationStats, type StatsSnapshot, type Store } from '@bx/store';
import type { Request, Response } from 'express';
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { SharedRead } from './shared-read';

export interface MetricsSources {
  store: Pick<Store, 'stats'>;
  queue: Pick<RunQueue, 'jobCounts'>;
}

type QueueCounts = Array<{ queue: string; counts: Record<JobState, number> }>;

/**
 * How long a scrape's reading is served to the scrapes that follow, in ms:
 * /metrics needs no token, and each reading reads every export's counters
 * (a round trip per thousand exports). Prometheus scrapes every 15 s or more.
 */
export const METRICS_KEEP_MS = 2000;

/**
 * GET /metrics. Workers run in other processes, so nothing is counted here:
 * every value is read from Redis at scrape time (counters the run scripts keep,
 * BullMQ's job counts) into a registry made for that reading, so series of
 * deleted exports disappear. Concurrent scrapes, and those within
 * METRICS_KEEP_MS of a reading, share it.
 */
export function metricsHandler(sources: MetricsSources) {
  const reading = new SharedRead(async () => {
    const [snapshot, queues] = await Promise.all([sources.store.stats.snapshot(), sources.queue.jobCounts()]);
    const registry = buildRegistry(snapshot, queues);
    return { contentType: registry.contentType, text: await registry.metrics() };
  }, METRICS_KEEP_MS);
  return async (_req: Request, res: Response): Promise<void> => {
    const { contentType, text } = await reading.get();
    res.set('Content-Type', contentType).set('Cache-Control', 'no-store').send(text);
  };
}

export function buildRegistry(snapshot: StatsSnapshot, queues: QueueCounts): Registry {
  const registry = new Registry();
  const registers = [registry];

  const runs = new Gauge({
    name: 'bx_runs',
    help: 'Run records in each status now.',
    labelNames: ['status'],
    registers,
  });
  for (const status of RUN_STATUSES) runs.set({ status }, snapshot.runsByStatus[status]);

  const rows = new Counter({
    name: 'bx_export_rows_total',
    help: 'Rows written by the completed runs of an export (a re-run counts again).',
    labelNames: ['export_id'],
    registers,
  });
  const bytes = new Counter({
    name: 'bx_export_bytes_total',
    help: 'Bytes written to the destination by the completed runs of an export (a re-run counts again).',
    labelNames: ['export_id'],
    registers,
  });
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['export_id'], registers });
  const lag = new Gauge({
    name: 'bx_export_lag_seconds',
    help: 'Now minus the end of the oldest interval the export has not exported yet (0 when caught up).',
    labelNames: ['export_id'],
    registers,
  });
  const reconcile = {
    checked: counter(
      'bx_reconcile_intervals_checked_total',
      'Completed intervals the reconciler compared with the source (every pass counts again).',
    ),
    mismatches: counter(
      'bx_reconcile_mismatches_total',
      'Intervals found changed at the source since they were exported (late or deleted rows).',
    ),
    late_rows: counter(
      'bx_reconcile_late_rows_total',
      "Rows found at the source beyond what an interval's receipt counted when its mismatch was found.",
    ),
    repairs: counter(
      'bx_reconcile_repairs_total',
      'Mismatched intervals re-exported until they matched the source again.',
    ),
  };
  for (const exp of snapshot.exports) {
    rows.inc({ export_id: exp.id }, exp.rows);
    bytes.inc({ export_id: exp.id }, exp.bytes);
    if (exp.export) lag.set({ export_id: exp.id }, exportLagSeconds(snapshot.now, exp, exp.export));
    // Only exports the reconciler has looked at (RECONCILE_WINDOW_HOURS=0: none).
    if (exp.reconcile.checked > 0)
      for (const key of ['checked', 'mismatches', 'late_rows', 'repairs'] as const)
        reconcile[key].inc({ export_id: exp.id }, exp.reconcile[key]);
  }

  registerStoredHistogram(
    registry,
    {
      name: 'bx_run_duration_seconds',
      help: `Duration of run attempts, from start to Completed, Failed or FailedRetryable (buckets: ${RUN_DURATION_BUCKETS.join(', ')} s).`,
    },
    snapshot.durations,
  );

  const jobs = new Gauge({
    name: 'bx_queue_jobs',
    help: 'BullMQ jobs per queue and state (completed and failed: those still retained).',
    labelNames: ['queue', 'state'],
    registers,
  });
  for (const { queue, counts } of queues) {
    for (const [state, count] of Object.entries(counts)) jobs.set({ queue, state }, count);
  }
  return registry;
}

/**
 * A histogram whose buckets were counted elsewhere (in Redis, by the processes
 * that ran the attempts). prom-client only formats it: the registry asks any
 * metric for get() and prints what it returns; the stored bucket counts are
 * not cumulative, the exposition's are.
 */
function registerStoredHistogram(
  registry: Registry,
  meta: { name: string; help: string },
  stored: DurationStats[],
): void {
  const values = stored.flatMap(({ status, buckets, count, sumSeconds }) => {
    let cumulative = 0;
    return [
      ...buckets.map(([le, n]) => ({
        metricName: `${meta.name}_bucket`,
        labels: { status, le: le === Number.POSITIVE_INFINITY ? '+Inf' : le },
        value: (cumulative += n),
      })),
      { metricName: `${meta.name}_sum`, labels: { status }, value: sumSeconds },
      { metricName: `${meta.name}_count`, labels: { status }, value: count },
    ];
  });
  const metric = { ...meta, type: 'histogram', aggregator: 'sum' };
  registry.registerMetric({
    ...metric,
    get: async () => ({ ...metric, values }),
    reset: () => undefined,
  } as unknown as Metric);
}
