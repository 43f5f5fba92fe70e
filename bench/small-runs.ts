import { createClient } from '@clickhouse/client';
import { createLogger, runIdFor } from '@bx/core';
import { ExportService } from '@bx/operations';
import type { RunJob, RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';
import { BENCH_END, BENCH_START, createEventsTable, LONG_QUERY } from './generate';
import { WorkerProcess } from './worker-process';

export const SMALL_DATABASE = 'bx_bench_small';

/** 1,000 teams × ~100 events in the benchmark interval, in `<database>.events`. */
export async function generateSmall(
  url: string,
  exports: number,
  perRun: number,
  database = SMALL_DATABASE,
): Promise<void> {
  const ch = createClient({ url, request_timeout: 600_000, clickhouse_settings: LONG_QUERY });
  await createEventsTable(ch, database);
  await ch.command({
    query: `INSERT INTO ${database}.events
      SELECT generateUUIDv4(), '$pageview', concat('{"n":', toString(number), ',"path":"/p/', hex(cityHash64(number)), '"}'),
        toDateTime(${BENCH_START / 1000} + number % 3600), toInt64(1000 + number % ${exports}), concat('u', toString(number % 977)), '',
        toDateTime(${BENCH_START / 1000} + number % 3600), generateUUIDv4(), '{}', toDateTime(${BENCH_START / 1000} + number % 3600)
      FROM numbers(${exports * perRun})`,
  });
  await ch.close();
}

/** Runs completed per second by one worker process over `exports` small runs. */
export async function smallRuns(
  exports: number,
  concurrency: number,
  deps: {
    store: Store;
    queue: RunQueue;
    workerEnv: Record<string, string>;
    s3: Record<string, string>;
    /** Where generateSmall put the events; SMALL_DATABASE unless told. */
    database?: string;
  },
): Promise<{ seconds: number; runsPerSecond: number; workerCpuMsPerRun: number }> {
  const service = new ExportService(deps.store, deps.queue, createLogger({}, 'error'));
  const jobs: RunJob[] = [];
  for (let i = 0; i < exports; i++) {
    const exp = await service.create({
      name: `small ${i}`,
      team_id: 1000 + i,
      interval: 'hour',
      // Not paused: the worker holds the runs of a paused export. No scheduler runs on this prefix.
      paused: false,
      destination: { type: 'S3', config: { ...deps.s3, prefix: `small/${i}`, compression: 'gzip' } },
    });
    jobs.push({
      run_id: runIdFor(exp.id, BENCH_START),
      export_id: exp.id,
      data_interval_start: BENCH_START,
      data_interval_end: BENCH_END,
    });
  }
  await deps.store.runs.createMany(
    jobs.map((j) => ({
      id: j.run_id,
      export_id: j.export_id,
      data_interval_start: j.data_interval_start,
      data_interval_end: j.data_interval_end,
    })),
  );
  const worker = new WorkerProcess({
    ...deps.workerEnv,
    CLICKHOUSE_DATABASE: deps.database ?? SMALL_DATABASE,
    WORKER_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'info',
  });
  await worker.started();
  const cpuBefore = worker.cpuSeconds();
  const began = process.hrtime.bigint();
  await deps.queue.enqueue(jobs);
  let cpu = 0;
  const deadline = Date.now() + 10 * 60_000;
  try {
    for (;;) {
      if (Date.now() > deadline) throw new Error('the small runs did not finish within 10 minutes');
      const [runs] = await deps.queue.jobCounts();
      const { completed, failed } = runs!.counts;
      if (completed + failed >= exports) {
        if (failed > 0) throw new Error(`${failed} small runs failed`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    cpu = worker.cpuSeconds() - cpuBefore;
    await worker.stop();
  }
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  return { seconds, runsPerSecond: exports / seconds, workerCpuMsPerRun: (cpu * 1000) / exports };
}
