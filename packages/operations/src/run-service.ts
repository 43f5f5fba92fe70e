import { ConflictError, NotFoundError, type Logger, type Run } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { RunLogLine, Store } from '@bx/store';
import { isOwnId, isOwnRunId } from './ids';

/** One run: read it and its logs, retry it, cancel it. */
export class RunService {
  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
  ) {}

  /**
   * The run, while its export exists: a deleted export's runs are 404 at once, as it is
   * (their records stay until the clean-up removes them, and must not be retried or cancelled).
   */
  async get(exportId: string, runId: string): Promise<Run> {
    const [run, exp] =
      isOwnId(exportId) && isOwnRunId(runId)
        ? await Promise.all([this.store.runs.get(runId), this.store.exports.getStored(exportId)])
        : [null, null];
    if (!run || run.export_id !== exportId || exp === null)
      throw new NotFoundError(`run ${runId} of export ${exportId} not found`);
    return run;
  }

  /** What the workers logged about the run, oldest first (the last few hundred lines). */
  async logs(exportId: string, runId: string): Promise<RunLogLine[]> {
    await this.get(exportId, runId);
    return this.store.runLogs.list(runId);
  }

  /**
   * Runs the interval again as a new attempt of the same run. A run waiting
   * for its backoff runs now; a queued or running one is left alone (409).
   */
  async retry(exportId: string, runId: string): Promise<Run> {
    const run = await this.get(exportId, runId);
    const exp = await this.store.exports.get(exportId);
    if (!exp) throw new NotFoundError(`export ${exportId} not found`);
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
    if (run.status !== 'FailedRetryable' && !(await this.store.runs.reschedule(runId))) {
      throw new ConflictError(`run ${runId} changed meanwhile; look at it again`);
    }
    await this.queue.requeue({
      run_id: runId,
      export_id: exportId,
      export_name: exp.name,
      data_interval_start: Date.parse(run.data_interval_start),
      data_interval_end: Date.parse(run.data_interval_end),
    });
    this.logger.info('run retried', { export_id: exportId, run_id: runId, previous_status: run.status });
    return this.get(exportId, runId);
  }

  /**
   * retry() for a run known by its id alone (Bull Board's job id is the run
   * id): the run of an export that still exists, else 404.
   */
  async retryById(runId: string): Promise<Run> {
    const run = isOwnRunId(runId) ? await this.store.runs.get(runId) : null;
    if (!run) throw new NotFoundError(`run ${runId} not found`);
    return this.retry(run.export_id, runId);
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
