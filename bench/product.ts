import { createLogger, runIdFor } from '@bx/core';
import { type S3Config } from '@bx/destination-s3';
import { ExportService } from '@bx/operations';
import type { RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';
import { BENCH_END, BENCH_START, BENCH_TEAM } from './generate';
import { WorkerProcess } from './worker-process';

/** A case that has not completed by then is reported as failed instead of hanging the benchmark. */
const CASE_DEADLINE_MS = 10 * 60_000;

export interface ProductCase {
  name: string;
  /** S3 (default): the export's file format and compression. */
  file_format?: S3Config['file_format'];
  compression?: string | null;
  /**
   * Snowflake: the loopback server's load, timed until the COPY is sent;
   * another destination: its type and config (Postgres: set by the run).
   */
  destination?: 'S3' | 'Snowflake' | { type: string; config: Record<string, unknown> };
}

/** The product's cases of the benchmark, by name. */
export const BENCH_CASES: Record<string, ProductCase> = {
  jsonl_gzip: { name: 'jsonl_gzip', file_format: 'JSONLines', compression: 'gzip' },
  jsonl_zstd: { name: 'jsonl_zstd', file_format: 'JSONLines', compression: 'zstd' },
  parquet_zstd: { name: 'parquet_zstd', file_format: 'Parquet', compression: 'zstd' },
  snowflake: { name: 'snowflake', destination: 'Snowflake' },
  postgres: { name: 'postgres' },
};

/** A Snowflake the worker loads into: its destination config, and when each COPY reached it. */
export interface BenchSnowflakeTarget {
  config: Record<string, unknown>;
  /** When the first COPY INTO sent at or after `since` (performance.now()) arrived, on the same clock. */
  copyArrivedAt(since: number): number | undefined;
}

export interface ProductResult {
  seconds: number[];
  records: number;
  bytes: number;
  peakRssMb: number;
  /**
   * The worker's CPU seconds per repetition: its main thread, the busiest other threads (the zstd
   * thread first, as a rule), and all of them. On a shared machine a steadier measure of the
   * product's own work than the wall time.
   */
  cpu: Array<{ main: number; others: number[]; total: number; minor_faults: number }>;
  /** The S3 server's CPU seconds per repetition, when the benchmark runs its own (bench/s3-server.ts). */
  s3ServerCpu: number[];
}

/**
 * Exports the benchmark interval the way production does: a job through
 * BullMQ, a fresh worker process, a multipart upload to the S3 server (or the
 * case's own destination). Timed
 * from enqueue to the run being Completed; `reps` times, same worker.
 * A Snowflake case is timed from enqueue until the COPY INTO reaches the
 * server, every file PUT: the product's side of a load (what Snowflake then
 * takes to load the files is Snowflake's).
 */
export async function runProductCase(
  c: ProductCase,
  reps: number,
  deps: {
    store: Store;
    queue: RunQueue;
    workerEnv: Record<string, string>;
    s3: Record<string, string>;
    snowflake?: BenchSnowflakeTarget;
    /** The S3 server's CPU seconds so far, when it is the benchmark's own. */
    s3ServerCpu?: () => number;
  },
  /** Called after each repetition (progress output). */
  onRep: (rep: number, seconds: number) => void = () => undefined,
  /** Called before each repetition, untimed, with the worker started and idle (a paired B0). */
  beforeRep: (rep: number) => void = () => undefined,
): Promise<ProductResult> {
  const service = new ExportService(deps.store, deps.queue, createLogger({}, 'error'));
  const exp = await service.create({
    name: `bench ${c.name}`,
    team_id: BENCH_TEAM,
    interval: 'hour',
    // Not paused: the worker holds the runs of a paused export. No scheduler runs on this prefix.
    paused: false,
    destination: destinationOf(c, deps),
  });
  const worker = new WorkerProcess({ ...deps.workerEnv, WORKER_CONCURRENCY: '1' });
  await worker.started();
  const result: ProductResult = { seconds: [], records: 0, bytes: 0, peakRssMb: 0, cpu: [], s3ServerCpu: [] };
  const runId = runIdFor(exp.id, BENCH_START);
  const job = { run_id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END };
  try {
    await deps.store.runs.createMany([
      { id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END },
    ]);
    for (let rep = 0; rep < reps; rep++) {
      beforeRep(rep);
      const cpuBefore = worker.threadCpuSeconds();
      const faultsBefore = worker.minorFaults();
      const s3Before = deps.s3ServerCpu?.();
      const began = performance.now();
      if (rep === 0) await deps.queue.enqueue([job]);
      else {
        // The worker holds the finished job a moment after the run says Completed.
        if (!(await deps.queue.settled(runId))) throw new Error(`${c.name}: the worker still holds the run`);
        await deps.store.runs.reschedule(runId);
        await deps.queue.requeue(job);
      }
      const deadline = Date.now() + CASE_DEADLINE_MS;
      for (;;) {
        if (Date.now() > deadline)
          throw new Error(`${c.name}: the run did not complete within ${CASE_DEADLINE_MS / 1000} s`);
        const run = await deps.store.runs.get(runId);
        // Each rep starts from Scheduled (reschedule), so Completed means this rep is done.
        if (run?.status === 'Completed') {
          result.records = run.records_completed;
          result.bytes = run.bytes_exported;
          break;
        }
        if (run?.status === 'Failed') throw new Error(`${c.name} failed: ${run.error}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const ended = c.destination === 'Snowflake' ? deps.snowflake!.copyArrivedAt(began) : performance.now();
      if (ended === undefined) throw new Error(`${c.name}: no COPY INTO reached the Snowflake server`);
      result.seconds.push((ended - began) / 1000);
      result.cpu.push({ ...cpuSince(worker, cpuBefore), minor_faults: worker.minorFaults() - faultsBefore });
      if (s3Before !== undefined) result.s3ServerCpu.push(+(deps.s3ServerCpu!() - s3Before).toFixed(2));
      onRep(rep, result.seconds[rep]!);
    }
    result.peakRssMb = worker.peakRssMb();
  } finally {
    await worker.stop();
  }
  return result;
}

/** The worker's CPU seconds by thread since `before` (see ProductResult.cpu). */
function cpuSince(
  worker: WorkerProcess,
  before: Map<number, number>,
): Omit<ProductResult['cpu'][number], 'minor_faults'> {
  const spent = [...worker.threadCpuSeconds()].map(([tid, s]) => ({ tid, s: s - (before.get(tid) ?? 0) }));
  const round = (x: number) => +x.toFixed(2);
  const others = spent.filter((t) => t.tid !== worker.pid).map((t) => t.s);
  return {
    main: round(spent.find((t) => t.tid === worker.pid)?.s ?? 0),
    others: others
      .sort((a, b) => b - a)
      .slice(0, 3)
      .map(round),
    total: round(spent.reduce((sum, t) => sum + t.s, 0)),
  };
}

function destinationOf(
  c: ProductCase,
  deps: { s3: Record<string, string>; snowflake?: BenchSnowflakeTarget },
): { type: string; config: Record<string, unknown> } {
  if (typeof c.destination === 'object') return c.destination;
  if (c.name === 'postgres') throw new Error('postgres: bench/run.ts prepares its table and config');
  if (c.destination === 'Snowflake') {
    if (!deps.snowflake) throw new Error(`${c.name}: no Snowflake server`);
    return { type: 'Snowflake', config: deps.snowflake.config };
  }
  const config = { ...deps.s3, prefix: `bench/${c.name}`, file_format: c.file_format, compression: c.compression };
  return { type: 'S3', config };
}
