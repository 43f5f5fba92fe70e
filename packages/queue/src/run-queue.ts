import { PermanentError, errorMessage, isRetryable, type Config, type Logger } from '@bx/core';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { ADD_JOBS } from './add-jobs';
import { DEAD_LETTER_QUEUE, RUNS_QUEUE, RUN_JOB_NAME, parseJob, type RunJobData } from './run-job';

const ADD_JOBS_COMMAND = 'bxAddJobs';

/** Calls the add-jobs script defined on the connection: 7 keys, then its arguments. */
function callAddJobs(connection: Redis, ...args: string[]): Promise<unknown> {
  return (connection as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[ADD_JOBS_COMMAND]!(...args);
}

export interface RunQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix, shared with the store's. */
  prefix: string;
  /** Attempts per run, first try included. */
  attempts: number;
  /** First retry delay in ms; doubles per attempt, with jitter. */
  backoffMs: number;
}

/** What the processor of one run is told by the queue. */
export interface JobContext {
  /** 1 for the first try. */
  attempt: number;
  maxAttempts: number;
  /** Aborted when the job is cancelled on this worker or the worker shuts down. */
  signal: AbortSignal;
  /** Records progress on the job (and shows the worker is alive). */
  progress(records: number): Promise<void>;
}

/** The BullMQ job states that jobCounts() reports. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export type RunProcessor = (payload: RunJobData, ctx: JobContext) => Promise<unknown>;

/**
 * BullMQ takes jobs without a priority before prioritized ones, so scheduled
 * runs never wait behind a long backfill; within a backfill, order is FIFO.
 */
export const BACKFILL_PRIORITY = 10;

/** Jobs per add-jobs script call: Redis runs nothing else meanwhile (a few ms). */
const ENQUEUE_CHUNK = 1000;
/** How long `settled` waits by default for a finished run's job to leave `active`. */
const SETTLE_MS = 5_000;

export interface WorkerOptions {
  concurrency: number;
  logger: Logger;
  /** How long a job's lock lasts without renewal, in ms; a dead worker's job is taken over after this. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for, in ms. */
  stalledIntervalMs?: number;
}

/**
 * The only code that touches BullMQ: enqueueing runs (job id = run id, so an
 * interval is queued once however often it is offered), and the worker that
 * turns a permanent error into UnrecoverableError so backoff handles the rest.
 */
export class RunQueue {
  private readonly connection: Redis;
  readonly queue: Queue;
  /** Never processed: a record of failed runs, shown in Bull Board; a retry moves the run back. */
  readonly deadLetter: Queue;

  /** The queue as the services configure it. */
  static fromConfig(
    config: Pick<Config, 'REDIS_URL' | 'QUEUE_PREFIX' | 'RUN_MAX_ATTEMPTS' | 'RUN_BACKOFF_MS'>,
  ): RunQueue {
    return new RunQueue({
      redisUrl: config.REDIS_URL,
      prefix: config.QUEUE_PREFIX,
      attempts: config.RUN_MAX_ATTEMPTS,
      backoffMs: config.RUN_BACKOFF_MS,
    });
  }

  constructor(private readonly opts: RunQueueOptions) {
    this.connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    this.connection.defineCommand(ADD_JOBS_COMMAND, { lua: ADD_JOBS, numberOfKeys: 7 });
    this.queue = new Queue(RUNS_QUEUE, { connection: this.connection, prefix: opts.prefix });
    this.deadLetter = new Queue(DEAD_LETTER_QUEUE, { connection: this.connection, prefix: opts.prefix });
  }

  /** Records a run that failed for good; replaces an earlier record of the same run. */
  async moveToDeadLetter(run: RunJobData, error: string, attempts: number): Promise<void> {
    await this.deadLetter.remove(run.run_id);
    await this.deadLetter.add(
      'dead-run',
      { ...run, error, attempts, failed_at: new Date().toISOString() },
      { jobId: run.run_id, removeOnComplete: true, removeOnFail: false },
    );
  }

  /** Dead-lettered run ids (most recent first). */
  async deadLetterIds(limit = 1000): Promise<string[]> {
    const jobs = await this.deadLetter.getJobs(['waiting'], 0, limit - 1);
    return jobs.map((j) => j.id!).filter(Boolean);
  }

  /**
   * Enqueues runs in order (oldest first); runs already queued are left as
   * they are. One script call per ENQUEUE_CHUNK jobs (add-jobs.ts), not one
   * BullMQ call per job. Calls reach Redis in call order, also when a caller
   * does not wait for one before the next (a backfill stays FIFO): each
   * chunk's command is written when it is called.
   */
  async enqueue(runs: readonly RunJobData[], opts: { priority?: number } = {}): Promise<void> {
    const jobKeys = ['wait', 'meta', 'id', 'marker', 'active', 'prioritized', 'pc'].map((k) => this.key(k));
    const timestamp = String(Date.now());
    // The options of every job of this call but its id, as BullMQ stores them (JSON).
    const { jobId: _, ...shared } = this.jobOptions('', opts.priority);
    const optsTail = JSON.stringify(shared).slice(1);
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < runs.length; i += ENQUEUE_CHUNK) {
      const args: string[] = [this.key(''), RUN_JOB_NAME, timestamp, String(opts.priority ?? 0)];
      for (const run of runs.slice(i, i + ENQUEUE_CHUNK)) {
        const id = JSON.stringify(run.run_id);
        args.push(run.run_id, JSON.stringify(run), `{"jobId":${id},${optsTail}`);
      }
      calls.push(callAddJobs(this.connection, ...jobKeys, ...args));
    }
    await Promise.all(calls);
  }

  /**
   * Waits up to `timeoutMs` for the run's job to leave `active`; false when a
   * worker still holds it then. A worker writes a run's final status a moment
   * (one or two Redis round trips) before BullMQ moves its job out of
   * `active`: a retry of a run that has just finished waits out that moment
   * instead of failing.
   */
  async settled(runId: string, timeoutMs = SETTLE_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.queue.getJobState(runId)) === 'active') {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /**
   * Queues a run again after it finished (manual retry): the old job and any
   * dead-letter record are dropped first. Refused (RunActive) while a worker
   * holds the old job: callers wait for `settled` before they reschedule the
   * run record, so that a refusal here leaves the record as it was.
   */
  async requeue(run: RunJobData, opts: { priority?: number } = {}): Promise<void> {
    const existing = await this.queue.getJob(run.run_id);
    if (existing) {
      if (await existing.isActive()) throw new PermanentError(`run ${run.run_id} is running`, { code: 'RunActive' });
      await existing.remove();
    }
    await this.deadLetter.remove(run.run_id);
    await this.enqueue([run], opts);
  }

  /** Removes a queued (not active) run; returns whether a job was removed. */
  async remove(runId: string): Promise<boolean> {
    return (await this.queue.remove(runId)) === 1;
  }

  /** Runs a run waiting for its backoff now; false when it is not waiting for one. */
  async promote(runId: string): Promise<boolean> {
    const job = await this.queue.getJob(runId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote();
    return true;
  }

  /** Tells every worker to abort this run if it is running it. */
  async cancelRunning(runId: string): Promise<void> {
    await this.connection.publish(this.cancelChannel, runId);
  }

  private get cancelChannel(): string {
    return `${this.opts.prefix}:cancel-run`;
  }

  /**
   * Every queue the system uses, for dashboards (Bull Board) and metrics.
   * A new queue (e.g. a dead-letter queue) is one more entry here.
   */
  queues(): readonly Queue[] {
    return [this.queue, this.deadLetter];
  }

  /** Jobs per state of every queue in queues(); completed and failed count the jobs still retained. */
  async jobCounts(): Promise<Array<{ queue: string; counts: Record<JobState, number> }>> {
    return Promise.all(
      this.queues().map(async (q) => ({
        queue: q.name,
        counts: (await q.getJobCounts(...JOB_STATES)) as Record<JobState, number>,
      })),
    );
  }

  /** Starts a worker; returns a handle whose close() stops taking jobs and waits up to graceMs. */
  startWorker(processor: RunProcessor, opts: WorkerOptions): RunWorker {
    const worker = new Worker(
      RUNS_QUEUE,
      async (job: Job, _token?: string, signal?: AbortSignal) => process(job, signal),
      {
        connection: new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null }),
        prefix: this.opts.prefix,
        concurrency: opts.concurrency,
        lockDuration: opts.lockDurationMs ?? 30_000,
        stalledInterval: opts.stalledIntervalMs ?? 15_000,
        maxStalledCount: 5,
      },
    );
    worker.on('error', (err) => opts.logger.error('worker error', { err: errorMessage(err) }));
    // Cancellation reaches whichever worker holds the run through pub/sub.
    const subscriber = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null });
    void subscriber.subscribe(this.cancelChannel);
    subscriber.on('message', (_channel: string, runId: string) => {
      if (worker.cancelJob(runId, 'cancelled')) opts.logger.info('run cancelled on this worker', { run_id: runId });
    });

    const process = async (job: Job, signal: AbortSignal | undefined) => {
      const { data } = parseJob(job.name, job.data);
      const ctx: JobContext = {
        attempt: job.attemptsMade + 1,
        maxAttempts: job.opts.attempts ?? 1,
        signal: signal ?? new AbortController().signal,
        progress: (records) => job.updateProgress({ records }),
      };
      try {
        return await processor(data, ctx);
      } catch (err) {
        const final = !isRetryable(err) || ctx.attempt >= ctx.maxAttempts;
        // A cancelled run, or an attempt superseded by a later one, is not a failure of the run.
        const code = (err as { code?: string }).code;
        if (final && code !== 'Cancelled' && code !== 'Superseded') {
          await this.moveToDeadLetter(data, errorMessage(err), ctx.attempt).catch((e: unknown) =>
            opts.logger.error('could not dead-letter run', { run_id: data.run_id, err: errorMessage(e) }),
          );
        }
        if (isRetryable(err)) throw err;
        throw new UnrecoverableError(errorMessage(err));
      }
    };
    return new RunWorker(worker, subscriber);
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.deadLetter.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }

  /** A key of the runs queue (BullMQ's layout); '' is the prefix of job keys. */
  private key(name: string): string {
    const key = this.queue.keys[name];
    if (key === undefined) throw new Error(`BullMQ has no queue key '${name}'`);
    return key;
  }

  private jobOptions(runId: string, priority?: number): JobsOptions {
    return {
      jobId: runId,
      attempts: this.opts.attempts,
      backoff: { type: 'exponential', delay: this.opts.backoffMs, jitter: 0.5 },
      priority,
      removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    };
  }
}

/** A running BullMQ worker. */
export class RunWorker {
  constructor(
    readonly worker: Worker,
    private readonly subscriber: Redis,
  ) {}

  /** Cancels a run being processed by this worker (its signal aborts). */
  cancel(runId: string): boolean {
    return this.worker.cancelJob(runId, 'cancelled');
  }

  /**
   * Stops taking jobs and lets running ones finish for up to `graceMs`; then
   * aborts them, which fails their attempt as retryable so another worker
   * takes the run again.
   */
  async close(graceMs: number): Promise<void> {
    const closing = this.worker.close();
    const timer = setTimeout(() => this.worker.cancelAllJobs('shutdown'), graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
      await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    }
  }
}
