import { PermanentError, RetryableError, errorMessage, type Config } from '@bx/core';
import { callScript, connectRedis, LuaScripts, type RedisClient, type RedisTarget } from '@bx/redis';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { join } from 'node:path';
import type { RunOutcome } from './run-outcome';
import { DEAD_LETTER_QUEUE, RUNS_QUEUE, jobName, jobPayload, parseJob, type RunJob } from './run-job';
import {
  JOB_STATES,
  type JobContext,
  type JobState,
  type RunProcessor,
  type RunQueue,
  type RunWorker,
  type WorkerOptions,
} from './run-queue';

export interface BullMqRunQueueOptions {
  redis: RedisTarget;
  /** BullMQ key prefix, shared with the store's (a hash tag such as `{bx}` on a Cluster). */
  prefix: string;
  /** Attempts per run, first try included. */
  attempts: number;
  /** First retry delay in ms; doubles per attempt, with jitter. */
  backoffMs: number;
}

/** Jobs per add-jobs script call: Redis runs nothing else meanwhile (a few ms). */
const ENQUEUE_CHUNK = 1000;
/** How long `settled` waits by default for a finished run's job to leave `active`. */
const SETTLE_MS = 5_000;
/** Lines of a job's own log BullMQ keeps (Bull Board's Logs tab); the run's log is kept by the store. */
const JOB_LOG_LINES = 100;

const scripts = new LuaScripts(join(__dirname, '..'));

/**
 * The run queue on BullMQ: the only code that touches it. Enqueueing writes
 * jobs with a script of its own (lua/add-jobs.lua, one call per chunk); the
 * worker turns a processor's outcome into what BullMQ needs: a thrown error
 * for a retry (backoff does the rest), UnrecoverableError and a dead-letter
 * record for a run that failed for good.
 */
export class BullMqRunQueue implements RunQueue {
  private readonly connection: RedisClient;
  private readonly queue: Queue;
  /** Never processed: a record of failed runs, shown in Bull Board; a retry moves the run back. */
  private readonly deadLetter: Queue;

  /** The queue as the services configure it. */
  static fromConfig(
    config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'QUEUE_PREFIX' | 'RUN_MAX_ATTEMPTS' | 'RUN_BACKOFF_MS'>,
  ): BullMqRunQueue {
    return new BullMqRunQueue({
      redis: { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
      prefix: config.QUEUE_PREFIX,
      attempts: config.RUN_MAX_ATTEMPTS,
      backoffMs: config.RUN_BACKOFF_MS,
    });
  }

  constructor(private readonly opts: BullMqRunQueueOptions) {
    this.connection = connectRedis(opts.redis, { maxRetriesPerRequest: null });
    scripts.define(this.connection, ['add-jobs']);
    this.queue = new Queue(RUNS_QUEUE, { connection: this.connection, prefix: opts.prefix });
    this.deadLetter = new Queue(DEAD_LETTER_QUEUE, { connection: this.connection, prefix: opts.prefix });
    // Connection errors also reject the command that met them; as events they would crash the process.
    for (const q of [this.queue, this.deadLetter]) q.on('error', () => undefined);
  }

  async enqueue(runs: readonly RunJob[], opts: { priority?: number } = {}): Promise<void> {
    const queueKeys = ['wait', 'meta', 'id', 'marker', 'active', 'prioritized', 'pc'].map((k) => this.key(k));
    const timestamp = Date.now();
    // The options of every job of this call but its id, as BullMQ stores them (JSON, some names
    // shortened: keepLogs is `kl`).
    const { jobId: _, keepLogs, ...shared } = this.jobOptions('', opts.priority);
    const optsTail = JSON.stringify({ ...shared, kl: keepLogs }).slice(1);
    const calls: Array<Promise<unknown>> = [];
    // Calls reach Redis in call order, also when a caller does not wait for
    // one before the next (a backfill stays FIFO): each chunk's command is
    // written when it is called.
    for (let i = 0; i < runs.length; i += ENQUEUE_CHUNK) {
      const chunk = runs.slice(i, i + ENQUEUE_CHUNK);
      const args: Array<string | number> = [timestamp, opts.priority ?? 0];
      for (const run of chunk) {
        args.push(
          run.run_id,
          jobName(run),
          JSON.stringify(jobPayload(run)),
          `{"jobId":${JSON.stringify(run.run_id)},${optsTail}`,
        );
      }
      const jobKeys = chunk.map((run) => this.key('') + run.run_id);
      calls.push(callScript(this.connection, 'add-jobs', [...queueKeys, ...jobKeys], args));
    }
    await Promise.all(calls);
  }

  async settled(runId: string, timeoutMs = SETTLE_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.queue.getJobState(runId)) === 'active') {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  async hasLiveJob(runIds: readonly string[]): Promise<boolean[]> {
    if (runIds.length === 0) return [];
    // Not getJobState: it looks for a waiting job with LPOS, a scan of the whole wait list per
    // run. A job that exists and has not finished is live (waiting, prioritized, delayed, active).
    const pipeline = this.connection.pipeline();
    for (const id of runIds) {
      pipeline.exists(this.key('') + id);
      pipeline.zscore(this.key('completed'), id);
      pipeline.zscore(this.key('failed'), id);
    }
    const replies = (await pipeline.exec()) ?? [];
    return runIds.map((_, i) => {
      const [exists, completed, failed] = [0, 1, 2].map((k) => {
        const [err, value] = replies[3 * i + k]!;
        if (err) throw err;
        return value;
      });
      return Number(exists) === 1 && completed === null && failed === null;
    });
  }

  async requeue(run: RunJob, opts: { priority?: number } = {}): Promise<void> {
    const existing = await this.queue.getJob(run.run_id);
    if (existing) {
      if (await existing.isActive()) throw new PermanentError(`run ${run.run_id} is running`, { code: 'RunActive' });
      await existing.remove();
    }
    await this.deadLetter.remove(run.run_id);
    await this.enqueue([run], opts);
  }

  async remove(runId: string): Promise<boolean> {
    // BullMQ's remove answers 1 for a job that does not exist too.
    if (!(await this.queue.getJob(runId))) return false;
    return (await this.queue.remove(runId)) === 1;
  }

  async forget(runIds: readonly string[]): Promise<void> {
    const ids = [...runIds];
    const worker = async () => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        await this.queue.remove(id).catch(() => 0);
        await this.deadLetter.remove(id).catch(() => 0);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  }

  async promote(runId: string): Promise<boolean> {
    const job = await this.queue.getJob(runId);
    if (!job || !(await job.isDelayed())) return false;
    await job.promote();
    return true;
  }

  async cancelRunning(runId: string): Promise<void> {
    await this.connection.publish(this.cancelChannel, runId);
  }

  async deadLetterIds(limit = 1000): Promise<string[]> {
    const jobs = await this.deadLetter.getJobs(['waiting'], 0, limit - 1);
    return jobs.map((j) => j.id!).filter(Boolean);
  }

  async jobCounts(): Promise<Array<{ queue: string; counts: Record<JobState, number> }>> {
    return Promise.all(
      [this.queue, this.deadLetter].map(async (q) => ({
        queue: q.name,
        counts: (await q.getJobCounts(...JOB_STATES)) as Record<JobState, number>,
      })),
    );
  }

  /**
   * Bull Board's view of every queue the system uses; read-only refuses
   * retry, clean, pause and the like. A new queue is one more entry here.
   */
  /**
   * Whether the queues' Redis connection is up now. Its commands wait for a
   * lost Redis to come back (BullMQ needs that), so a caller that must not
   * wait (Bull Board's API) asks first.
   */
  connected(): boolean {
    return this.connection.status === 'ready';
  }

  /**
   * Whether the connection is up, or comes up within `waitMs`: a queue just
   * made (an API that has just started) is still connecting for a moment,
   * which is not Redis being away.
   */
  async connectedWithin(waitMs: number): Promise<boolean> {
    if (this.connected()) return true;
    const connection = this.connection;
    return new Promise<boolean>((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        resolve(up);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.connected()), waitMs);
      connection.on('ready', onReady);
    });
  }

  boardAdapters(opts: { readOnly: boolean }): BullMQAdapter[] {
    return [this.queue, this.deadLetter].map((q) => new BullMQAdapter(q, { readOnlyMode: opts.readOnly }));
  }

  startWorker(processor: RunProcessor, opts: WorkerOptions): RunWorker {
    const worker = new Worker(
      RUNS_QUEUE,
      async (job: Job, _token?: string, signal?: AbortSignal) => process(job, signal),
      {
        connection: connectRedis(this.opts.redis, { maxRetriesPerRequest: null }),
        prefix: this.opts.prefix,
        concurrency: opts.concurrency,
        lockDuration: opts.lockDurationMs ?? 30_000,
        stalledInterval: opts.stalledIntervalMs ?? 15_000,
        // High on purpose: the store fails a run after MAX_UNFINISHED_ATTEMPTS
        // attempts that never finished; BullMQ failing a stalled job itself
        // would leave the run Running (it emits no 'failed' for it).
        maxStalledCount: 20,
      },
    );
    worker.on('error', (err) => opts.logger.error('worker error', { err: errorMessage(err) }));
    // Cancellation reaches whichever worker holds the run through pub/sub.
    const subscriber = connectRedis(this.opts.redis, { maxRetriesPerRequest: null });
    void subscriber.subscribe(this.cancelChannel);
    subscriber.on('message', (_channel: string, runId: string) => {
      if (worker.cancelJob(runId, 'cancelled')) opts.logger.info('run cancelled on this worker', { run_id: runId });
    });

    const process = async (job: Job, signal: AbortSignal | undefined) => {
      const data = parseJob(job.name, job.data);
      const maxAttempts = job.opts.attempts ?? 1;
      const attempt = job.attemptsMade + 1;
      const ctx: JobContext = {
        attempt,
        maxAttempts,
        lastAttempt: attempt >= maxAttempts,
        signal: signal ?? new AbortController().signal,
        progress: (records) => job.updateProgress({ records }),
        log: async (line) => {
          await job.log(line);
        },
      };
      let outcome: RunOutcome;
      try {
        outcome = await processor(data, ctx);
      } catch (err) {
        // A processor reports failures as outcomes; a throw is a bug, retried like any failure.
        opts.logger.error('run processor threw', { run_id: data.run_id, err: errorMessage(err) });
        outcome = { status: 'failed', error: errorMessage(err), retry: !ctx.lastAttempt };
      }
      if (outcome.status !== 'failed') return outcome;
      if (outcome.retry) throw new RetryableError(outcome.error);
      await this.moveToDeadLetter(data, outcome.error, attempt).catch((e: unknown) =>
        opts.logger.error('could not dead-letter run', { run_id: data.run_id, err: errorMessage(e) }),
      );
      throw new UnrecoverableError(outcome.error);
    };
    return {
      cancel: (runId) => worker.cancelJob(runId, 'cancelled'),
      close: async (graceMs) => {
        const closing = worker.close();
        const timer = setTimeout(() => worker.cancelAllJobs('shutdown'), graceMs);
        try {
          await closing;
        } finally {
          clearTimeout(timer);
          await subscriber.quit().catch(() => subscriber.disconnect());
        }
      },
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.deadLetter.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }

  /** Drops every job and key of the queues (tests and the benchmark clean up with it). */
  async obliterate(): Promise<void> {
    await this.queue.obliterate({ force: true });
    await this.deadLetter.obliterate({ force: true });
  }

  /** Records a run that failed for good; replaces an earlier record of the same run. */
  private async moveToDeadLetter(run: RunJob, error: string, attempts: number): Promise<void> {
    await this.deadLetter.remove(run.run_id);
    await this.deadLetter.add(
      jobName(run),
      { ...jobPayload(run), error, attempts, failed_at: new Date().toISOString() },
      { jobId: run.run_id, removeOnComplete: true, removeOnFail: false },
    );
  }

  private get cancelChannel(): string {
    return `${this.opts.prefix}:cancel-run`;
  }

  /** A key of the runs queue (BullMQ's layout); '' is the prefix of job keys. */
  private key(name: string): string {
    const key = this.queue.keys[name];
    if (key === undefined) throw new Error(`BullMQ has no queue key '${name}'`);
    return key;
  }

  /** The options of a run's job; exported for the test that compares enqueue with BullMQ's own add. */
  jobOptions(runId: string, priority?: number): JobsOptions {
    return {
      jobId: runId,
      attempts: this.opts.attempts,
      backoff: { type: 'exponential', delay: this.opts.backoffMs, jitter: 0.5 },
      priority,
      removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
      keepLogs: JOB_LOG_LINES,
    };
  }
}
