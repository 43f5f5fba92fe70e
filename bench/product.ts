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
  /** An S3 case: the file format and codec. */
  file_format?: S3Config['file_format'];
  compression?: string | null;
  /** Another destination: its type and config. */
  destination?: { type: string; config: Record<string, unknown> };
}

export interface ProductResult {
  seconds: number[];
  records: number;
  bytes: number;
  peakRssMb: number;
}

/**
 * Exports the benchmark interval the way production does: a job through
 * BullMQ, a fresh worker process, a multipart upload to the S3 server (or the
 * case's own destination). Timed
 * from enqueue to the run being Completed; `reps` times, same worker.
 */
export async function runProductCase(
  c: ProductCase,
  reps: number,
  deps: { store: Store; queue: RunQueue; workerEnv: Record<string, string>; s3: Record<string, string> },
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
    destination: c.destination ?? {
      type: 'S3',
      config: { ...deps.s3, prefix: `bench/${c.name}`, file_format: c.file_format, compression: c.compression },
    },
  });
  const worker = new WorkerProcess({ ...deps.workerEnv, WORKER_CONCURRENCY: '1' });
  await worker.started();
  const result: ProductResult = { seconds: [], records: 0, bytes: 0, peakRssMb: 0 };
  const runId = runIdFor(exp.id, BENCH_START);
  const job = { run_id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END };
  try {
    await deps.store.runs.createMany([
      { id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END },
    ]);
    for (let rep = 0; rep < reps; rep++) {
      beforeRep(rep);
      const began = process.hrtime.bigint();
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
      result.seconds.push(Number(process.hrtime.bigint() - began) / 1e9);
      onRep(rep, result.seconds[rep]!);
    }
    result.peakRssMb = worker.peakRssMb();
  } finally {
    await worker.stop();
  }
  return result;
}
