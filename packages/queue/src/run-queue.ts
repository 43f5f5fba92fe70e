import type { Logger } from '@bx/core';
import type { RunJob } from './run-job';
import type { RunOutcome } from './run-outcome';

/** What the processor of one run is told by the queue. */
export interface JobContext {
  /** 1 for the first try. */
  attempt: number;
  maxAttempts: number;
  /** No attempt follows this one if it fails: the run then fails for good. */
  lastAttempt: boolean;
  /** Aborted when the run is cancelled on this worker or the worker shuts down. */
  signal: AbortSignal;
  /** Records progress on the job (and shows the worker is alive). */
  progress(records: number): Promise<void>;
  /** Adds a line to the job's own log (Bull Board's Logs tab). */
  log(line: string): Promise<void>;
}

export type RunProcessor = (payload: RunJob, ctx: JobContext) => Promise<RunOutcome>;

/** Job states that jobCounts() reports. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * Queued runs without a priority are taken before prioritized ones, so
 * scheduled runs never wait behind a long backfill; within a backfill, FIFO.
 */
export const BACKFILL_PRIORITY = 10;

export interface WorkerOptions {
  concurrency: number;
  logger: Logger;
  /** How long a job's lock lasts without renewal, in ms; a dead worker's job is taken over after this. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for, in ms. */
  stalledIntervalMs?: number;
}

/** A running worker. */
export interface RunWorker {
  /** Cancels a run being processed by this worker (its signal aborts). */
  cancel(runId: string): boolean;
  /**
   * Stops taking jobs and lets running ones finish for up to `graceMs`; then
   * aborts them, which fails their attempt as retryable so another worker
   * takes the run again.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * The queue of runs: the seam between the product and its job backend
 * (BullMQ over Redis; an in-memory one for fast tests). A run is queued at
 * most once at a time: the job id is the run id. The same contract test runs
 * against every implementation (test/integration/run-queue-contract.test.ts).
 */
export interface RunQueue {
  /** Queues runs in order (oldest first); runs that already have a job are left as they are. */
  enqueue(runs: readonly RunJob[], opts?: { priority?: number }): Promise<void>;
  /**
   * Queues a run again after it finished (manual retry, a backfill, unpause):
   * its old job and any dead-letter record go first. Throws a PermanentError
   * with code `RunActive` while a worker holds the old job; callers wait for
   * `settled` before they change the run record.
   */
  requeue(run: RunJob, opts?: { priority?: number }): Promise<void>;
  /**
   * Waits up to `timeoutMs` for the run's job to leave the worker that holds
   * it; false when a worker still holds it then. A worker writes a run's
   * final status a moment before its job is released.
   */
  settled(runId: string, timeoutMs?: number): Promise<boolean>;
  /**
   * Per run: whether a job will run it (waiting, prioritized, delayed for its
   * backoff, or held by a worker). False for a job that has completed or
   * failed, or none at all.
   */
  hasLiveJob(runIds: readonly string[]): Promise<boolean[]>;
  /** Removes a run's job if no worker holds it; returns whether one was removed. */
  remove(runId: string): Promise<boolean>;
  /** Removes every trace of runs in the queue (jobs in any state not held by a worker, dead-letter records). */
  forget(runIds: readonly string[]): Promise<void>;
  /** Runs a run waiting for its backoff now; false when it is not waiting for one. */
  promote(runId: string): Promise<boolean>;
  /** Tells every worker to abort this run if it is running it. */
  cancelRunning(runId: string): Promise<void>;
  /** Dead-lettered run ids (most recent first). */
  deadLetterIds(limit?: number): Promise<string[]>;
  /** Jobs per state of every queue; completed and failed count the jobs still retained. */
  jobCounts(): Promise<Array<{ queue: string; counts: Record<JobState, number> }>>;
  /** Starts a worker processing runs. */
  startWorker(processor: RunProcessor, opts: WorkerOptions): RunWorker;
  close(): Promise<void>;
}
