import { ConflictError, NotFoundError, type Logger, type Run } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';

/** Manual retry and cancel of one run. */
export class RunService {
  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
  ) {}

  async get(exportId: string, runId: string): Promise<Run> {
    const run = await this.store.runs.get(runId);
    if (!run || run.export_id !== exportId) throw new NotFoundError(`run ${runId} of export ${exportId} not found`);
    return run;
  }

  /**
   * Runs the interval again as a new attempt of the same run. A run waiting
   * for its backoff runs now; a queued or running one is left alone (409).
   */
  async retry(exportId: string, runId: string): Promise<Run> {
    const run = await this.get(exportId, runId);
    if (!(await this.store.exports.get(exportId))) throw new NotFoundError(`export ${exportId} not found`);
    if (run.status === 'Scheduled' || run.status === 'Running') {
      throw new ConflictError(`run ${runId} is ${run.status}; retry it once it has finished`);
    }
    if (run.status === 'FailedRetryable' && (await this.queue.promote(runId))) {
      this.logger.info('run retry brought forward', { export_id: exportId, run_id: runId });
      return this.get(exportId, runId);
    }
    // Before the record changes: a worker that has just finished the run may hold its job a moment longer.
    if (!(await this.queue.settled(runId))) {
      throw new ConflictError(`run ${runId} is ${run.status} but a worker still holds it; retry it in a moment`);
    }
    await this.store.runs.reschedule(runId);
    await this.queue.requeue({
      run_id: runId,
      export_id: exportId,
      data_interval_start: Date.parse(run.data_interval_start),
      data_interval_end: Date.parse(run.data_interval_end),
    });
    this.logger.info('run retried', { export_id: exportId, run_id: runId, previous_status: run.status });
    return this.get(exportId, runId);
  }

  /** Stops a queued or running run; the worker aborts its query and upload. */
  async cancel(exportId: string, runId: string): Promise<Run> {
    const run = await this.get(exportId, runId);
    if (!(await this.store.runs.cancel(runId))) {
      throw new ConflictError(`run ${runId} is ${run.status}; only unfinished runs can be cancelled`);
    }
    await this.queue.remove(runId).catch(() => false);
    await this.queue.cancelRunning(runId);
    this.logger.info('run cancelled', { export_id: exportId, run_id: runId, previous_status: run.status });
    return this.get(exportId, runId);
  }
}
