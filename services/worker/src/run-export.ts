import type { ClickHouseSource } from '@bx/clickhouse';
import {
  RetryableError,
  errorMessage,
  isRetryable,
  modelSchema,
  shownErrorMessage,
  type BatchExport,
  type Logger,
  type ModelPlugin,
  type ModelSourceConfig,
} from '@bx/core';
import { ReceiptTally, supersededError, tallied, type BatchFormat, type DestinationWriter } from '@bx/batch';
import { secretValuesOf, visibleValuesOf } from '@bx/destinations';
import { modelPlugin } from '@bx/models';
import type { FailurePolicy } from '@bx/operations';
import type { JobContext, RunJob, RunOutcome } from '@bx/queue';
import type { RunLogRepository, RunRepository } from '@bx/store';
import { AttemptFence, fenceTime } from './attempt-fence';
import { RunLog } from './run-log';

export interface RunExportDeps {
  /** What the processor reads and writes of the store (fast tests pass fakes of these). */
  store: {
    runs: Pick<
      RunRepository,
      'startWithExport' | 'complete' | 'fail' | 'cancel' | 'state' | 'setState' | 'isLatestAttempt'
    >;
    runLogs: Pick<RunLogRepository, 'append'>;
  };
  source: Pick<ClickHouseSource, 'modelBatches'>;
  /** The run's writer (the registry's writerFor). */
  /** The writer of the export's destination for this attempt (1 for the first). */
  destinationFor: (exp: BatchExport, attempt: number) => DestinationWriter | Promise<DestinationWriter>;
  /** Where the models' source tables are. */
  config: ModelSourceConfig;
  logger: Logger;
  /** How long a job's lock lasts (WORKER_LOCK_DURATION_MS): bounds how long an attempt trusts it is the latest. */
  lockMs?: number;
  /** Auto-pause after consecutive failures; absent in tests that do not need it. */
  failures?: Pick<FailurePolicy, 'failed'>;
}

/** How often progress is written to the job, in ms. */
const PROGRESS_EVERY_MS = 5000;

/**
 * Exports one interval: the export's model's bounded SELECT streamed into the
 * destination, the outcome recorded on the run. A plain function of payload and context that
 * answers what happened (failures included) as a value; what the worker
 * logs about the run is also kept with the run (RunLog).
 */
export function createRunProcessor(deps: RunExportDeps) {
  return async function runExport(payload: RunJob, ctx: JobContext): Promise<RunOutcome> {
    const runLog = new RunLog(deps.store.runLogs, payload.run_id, ctx);
    const log = deps.logger.child(
      { export_id: payload.export_id, run_id: payload.run_id, attempt: ctx.attempt },
      runLog.sink,
    );
    try {
      return await exportInterval(deps, payload, ctx, log, runLog);
    } finally {
      // Lines handed to an outcome call that threw are written as any others.
      runLog.notKept();
      await runLog.flush();
    }
  };
}

async function exportInterval(
  deps: RunExportDeps,
  payload: RunJob,
  ctx: JobContext,
  log: Logger,
  runLog: RunLog,
): Promise<RunOutcome> {
  // The run's start and its export in one script: one round trip.
  // Before the call: the attempt's trust runs from when its start was asked for (AttemptFence).
  const startAsked = fenceTime();
  const started = await deps.store.runs.startWithExport(payload.run_id, Date.now(), ctx.maxAttempts);
  if (started.status === 'no-export') {
    await deps.store.runs.cancel(payload.run_id);
    log.info('run skipped: export deleted');
    return { status: 'skipped', reason: 'export deleted' };
  }
  if (started.status === 'held') {
    log.info('run held: the export is paused; it runs once the export is unpaused');
    return { status: 'held' };
  }
  if (started.status === 'crashed') return failCrashed(deps, payload.export_id, payload, started, log);
  if (started.status === 'Failed') {
    // Its worker recorded the failure and died before the queue heard of it: the job came back
    // as stalled. Not run again (Failed is for good; a retry runs it): it reaches the dead-letter
    // queue now, counted once towards the auto-pause already.
    log.info('run failed for good already: dead-lettered, not run again', { error: started.error });
    return { status: 'failed', error: started.error, retry: false };
  }
  if (started.status !== 'started') {
    log.info('run skipped', { reason: started.status });
    return { status: 'skipped', reason: started.status };
  }
  const { attempt, token, startedMs, backfillId, receiptVersion, priorUnknown = false, export: exp } = started;
  // The attempt as the fenced store calls name it: its number repeats (a rewritten record, a failover), its token not.
  const thisAttempt = { attempt, token, startedMs };
  // What a destination logs may quote its server, which may echo what it was sent.
  runLog.redact(secretValuesOf(exp.destination), visibleValuesOf(exp.destination));
  const began = Date.now();
  const fence = new AttemptFence(
    deps.lockMs ?? 30_000,
    () => deps.store.runs.isLatestAttempt(payload.run_id, thisAttempt),
    startAsked,
  );
  log.info('run started', {
    data_interval_start: iso(payload.data_interval_start),
    data_interval_end: iso(payload.data_interval_end),
    destination: exp.destination.type,
    ...(backfillId ? { backfill_id: backfillId } : {}),
  });
  let lastProgress = began;
  try {
    const model = modelPlugin(exp.model) as ModelPlugin<BatchFormat>;
    // The receipt is of the rows handed to the writer, counted as they pass, not of a second query.
    const tally = new ReceiptTally(model.receipt);
    const input = {
      config: deps.config,
      teamId: exp.team_id,
      start: payload.data_interval_start,
      end: payload.data_interval_end,
      includeEvents: exp.include_events,
      excludeEvents: exp.exclude_events,
    };
    const writer = await deps.destinationFor(exp, ctx.attempt);
    const batches = tallied(deps.source.modelBatches(model, input, ctx.signal, { reuseBuffers: true }), tally);
    const written = await writer.write(batches, {
      exportId: exp.id,
      runId: payload.run_id,
      teamId: exp.team_id,
      model: modelSchema(model, deps.config),
      events: { include_events: exp.include_events, exclude_events: exp.exclude_events },
      attempt: ctx.attempt,
      dataIntervalStart: payload.data_interval_start,
      dataIntervalEnd: payload.data_interval_end,
      signal: ctx.signal,
      logger: log,
      state: {
        fresh: attempt === 1 && !priorUnknown,
        priorUnknown,
        get: <T>() => deps.store.runs.state<T>(payload.run_id),
        set: async (value: unknown) => {
          // Refused once a later attempt took over: this one's uploads must not replace that one's.
          if ((await deps.store.runs.setState(payload.run_id, value, thisAttempt)) === 'Superseded')
            throw supersededError();
        },
        isLatest: () => fence.isLatest(),
      },
      onProgress: (records) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = now;
        log.info('progress', { records });
        void ctx.progress(records).catch(() => undefined);
      },
      receipt: { version: receiptVersion, build: (files) => tally.receipt(files, receiptVersion) },
    });
    if (written.records !== tally.records) {
      throw new RetryableError(`the destination reports ${written.records} rows written of ${tally.records} read`, {
        code: 'ReceiptMismatch',
      });
    }
    const result = { ...written, receipt: written.receipt ?? tally.receipt(written.files, receiptVersion) };
    const done = {
      records: result.records,
      bytes: result.bytes,
      files: result.files.length,
      checksum: result.receipt.checksum,
      receipt_version: receiptVersion,
      ms: Date.now() - began,
    };
    // The run's log lines, 'run completed' last, go with the result: no call of their own.
    const recorded = await deps.store.runs.complete(
      payload.run_id,
      result,
      Date.now(),
      thisAttempt,
      backfillId,
      runLog.withOutcome('info', 'run completed', done),
    );
    outcomeRecorded(runLog, recorded, 'run completed');
    if (recorded === 'Superseded') {
      // This worker lost its lock and another took the run over: that attempt records the outcome.
      log.warn('run superseded by a later attempt', { records: result.records, ms: Date.now() - began });
      return { status: 'skipped', reason: 'superseded' };
    }
    if (recorded === 'Cancelled') {
      log.info('run cancelled while it was writing; its result is not recorded', { ms: Date.now() - began });
      return { status: 'skipped', reason: 'cancelled' };
    }
    if (recorded !== 'ok' && recorded !== 'Completed') return notRecorded(recorded, result.records, ctx, log);
    // (Completing the run ended its export's streak of failures: store.runs.complete.)
    log.info('run completed', done);
    return { status: 'completed', records: result.records, bytes: result.bytes, files: result.files };
  } catch (err) {
    runLog.notKept();
    const retry = isRetryable(err) && !ctx.lastAttempt;
    // The destination's words may echo what it was sent (its password) or forge lines: one line, secrets out.
    const message = shownErrorMessage(
      errorMessage(err),
      secretValuesOf(exp.destination),
      visibleValuesOf(exp.destination),
    );
    const failed = { error: message, retryable: isRetryable(err), ms: Date.now() - began };
    const line = retry ? 'run failed, will retry' : 'run failed';
    const recorded = await deps.store.runs.fail(
      payload.run_id,
      retry ? 'FailedRetryable' : 'Failed',
      message,
      Date.now(),
      thisAttempt,
      backfillId,
      runLog.withOutcome('warn', line, failed),
    );
    outcomeRecorded(runLog, recorded, line);
    if (recorded === 'Superseded') {
      // Not this attempt's run any more (another worker took it over): no status, no failure counted.
      log.warn('run superseded by a later attempt', { error: message, ms: Date.now() - began });
      return { status: 'skipped', reason: 'superseded' };
    }
    if (recorded === 'Cancelled') {
      // Cancelled through the API while running: no further attempts.
      log.info('run cancelled', { ms: Date.now() - began });
      return { status: 'skipped', reason: 'cancelled' };
    }
    if (!retry) await deps.failures?.failed(exp.id, message);
    log.warn(line, failed);
    return { status: 'failed', error: message, retry };
  }
}

/** Statuses of a run that still needs an attempt. */
const OPEN_STATUSES: ReadonlySet<string> = new Set(['Scheduled', 'Running', 'FailedRetryable']);

/**
 * The run did not take this attempt's completion: it is `status` (another
 * attempt of the same number recorded over this one, as when Redis lost the
 * writes of its last second, the earlier start among them), or its record
 * is gone. Not reported as done: a run still open keeps its job, retried,
 * else it would wait without one until the stranded-run repair (which is
 * left to it after the last attempt, rather than a dead letter of an open run).
 */
function notRecorded(status: string, records: number, ctx: JobContext, log: Logger): RunOutcome {
  log.warn('run completion not recorded', { status, records });
  // On the last attempt a failure would dead-letter a run still open: the stranded-run repair queues it again.
  if (!OPEN_STATUSES.has(status) || ctx.lastAttempt) return { status: 'skipped', reason: status };
  const error = `the run is ${status}: this attempt's completion was not recorded`;
  return { status: 'failed', error, retry: true };
}

/** Tells the run's log whether the store kept the lines handed with the outcome ('ok': recorded). */
function outcomeRecorded(runLog: RunLog, answer: string, line: string): void {
  if (answer === 'ok') runLog.kept(line);
  else runLog.notKept();
}

/**
 * The run's last attempts all died without finishing (killed, out of memory):
 * another one would most likely die the same way, so the run fails for good,
 * counts towards the auto-pause and goes to the dead-letter queue.
 */
async function failCrashed(
  deps: RunExportDeps,
  exportId: string,
  payload: RunJob,
  started: { crashes: number; backfillId: string | null },
  log: Logger,
): Promise<RunOutcome> {
  const message =
    `the worker running this run stopped ${started.crashes} times in a row without finishing ` +
    '(killed or out of memory); not retried: retry it by hand once the cause is fixed';
  const recorded = await deps.store.runs.fail(
    payload.run_id,
    'Failed',
    message,
    Date.now(),
    undefined,
    started.backfillId,
  );
  if (recorded !== 'ok') {
    log.info('run skipped', { reason: recorded });
    return { status: 'skipped', reason: recorded };
  }
  await deps.failures?.failed(exportId, message);
  log.warn('run failed', { error: message, retryable: false });
  return { status: 'failed', error: message, retry: false };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
