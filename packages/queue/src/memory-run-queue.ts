import { PermanentError, errorMessage } from '@bx/core';
import type { RunJob } from './run-job';
import {
  JOB_STATES,
  type JobContext,
  type JobState,
  type RunProcessor,
  type RunQueue,
  type RunWorker,
  type WorkerOptions,
} from './run-queue';

interface MemoryJob {
  run: RunJob;
  state: JobState;
  priority: number;
  attemptsMade: number;
  /** Order of arrival, for FIFO within a priority. */
  seq: number;
  timer?: NodeJS.Timeout;
  abort?: AbortController;
  logs: string[];
}

/**
 * The run queue in this process's memory, for fast tests of the processor
 * and the operations: the same contract as the BullMQ queue (the contract
 * test runs against both), with backoff of `backoffMs` per attempt (doubling).
 */
export class MemoryRunQueue implements RunQueue {
  private readonly jobs = new Map<string, MemoryJob>();
  private readonly dead = new Map<string, string>();
  private readonly workers = new Set<() => void>();
  private readonly cancelHooks = new Set<(runId: string) => void>();
  private seq = 0;

  constructor(private readonly opts: { attempts: number; backoffMs: number }) {}

  async enqueue(runs: readonly RunJob[], opts: { priority?: number } = {}): Promise<void> {
    for (const run of runs) {
      if (this.jobs.has(run.run_id)) continue;
      this.jobs.set(run.run_id, {
        run,
        state: opts.priority ? 'prioritized' : 'waiting',
        priority: opts.priority ?? 0,
        attemptsMade: 0,
        seq: this.seq++,
        logs: [],
      });
    }
    this.wake();
  }

  async requeue(run: RunJob, opts: { priority?: number } = {}): Promise<void> {
    const existing = this.jobs.get(run.run_id);
    if (existing?.state === 'active') throw new PermanentError(`run ${run.run_id} is running`, { code: 'RunActive' });
    this.drop(run.run_id);
    this.dead.delete(run.run_id);
    await this.enqueue([run], opts);
  }

  async settled(runId: string, timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.jobs.get(runId)?.state === 'active') {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  async hasLiveJob(runIds: readonly string[]): Promise<boolean[]> {
    return runIds.map((id) => {
      const state = this.jobs.get(id)?.state;
      return state !== undefined && state !== 'completed' && state !== 'failed';
    });
  }

  async remove(runId: string): Promise<boolean> {
    const job = this.jobs.get(runId);
    if (!job || job.state === 'active') return false;
    this.drop(runId);
    return true;
  }

  async forget(runIds: readonly string[]): Promise<void> {
    for (const id of runIds) {
      await this.remove(id);
      this.dead.delete(id);
    }
  }

  async promote(runId: string): Promise<boolean> {
    const job = this.jobs.get(runId);
    if (!job || job.state !== 'delayed') return false;
    clearTimeout(job.timer);
    job.state = job.priority ? 'prioritized' : 'waiting';
    this.wake();
    return true;
  }

  async cancelRunning(runId: string): Promise<void> {
    for (const hook of this.cancelHooks) hook(runId);
  }

  async deadLetterIds(limit = 1000): Promise<string[]> {
    return [...this.dead.keys()].reverse().slice(0, limit);
  }

  async jobCounts(): Promise<Array<{ queue: string; counts: Record<JobState, number> }>> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const job of this.jobs.values()) counts[job.state]++;
    const dead = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    dead.waiting = this.dead.size;
    return [
      { queue: 'export-runs', counts },
      { queue: 'export-runs-dead-letter', counts: dead },
    ];
  }

  /** A job's own log lines (what `ctx.log` wrote). */
  jobLog(runId: string): string[] {
    return this.jobs.get(runId)?.logs ?? [];
  }

  startWorker(processor: RunProcessor, opts: WorkerOptions): RunWorker {
    const running = new Map<string, Promise<void>>();
    let closed = false;
    const pump = () => {
      while (!closed && running.size < opts.concurrency) {
        const job = this.next();
        if (!job) return;
        job.state = 'active';
        job.abort = new AbortController();
        const id = job.run.run_id;
        running.set(
          id,
          this.process(job, processor, opts).finally(() => {
            running.delete(id);
            pump();
          }),
        );
      }
    };
    const cancel = (runId: string) => {
      const job = this.jobs.get(runId);
      if (job?.state !== 'active' || !running.has(runId)) return false;
      job.abort?.abort(new Error('cancelled'));
      return true;
    };
    const hook = (runId: string) => void cancel(runId);
    this.workers.add(pump);
    this.cancelHooks.add(hook);
    queueMicrotask(pump);
    return {
      cancel,
      close: async (graceMs) => {
        closed = true;
        this.workers.delete(pump);
        this.cancelHooks.delete(hook);
        const timer = setTimeout(() => {
          for (const id of running.keys()) this.jobs.get(id)?.abort?.abort(new Error('shutdown'));
        }, graceMs);
        await Promise.allSettled(running.values());
        clearTimeout(timer);
      },
    };
  }

  async close(): Promise<void> {
    for (const job of this.jobs.values()) clearTimeout(job.timer);
  }

  private async process(job: MemoryJob, processor: RunProcessor, opts: WorkerOptions): Promise<void> {
    const attempt = job.attemptsMade + 1;
    const ctx: JobContext = {
      attempt,
      maxAttempts: this.opts.attempts,
      lastAttempt: attempt >= this.opts.attempts,
      signal: job.abort!.signal,
      progress: async () => undefined,
      log: async (line) => {
        job.logs.push(line);
      },
    };
    let failure: { error: string; retry: boolean } | null = null;
    try {
      const outcome = await processor(job.run, ctx);
      if (outcome.status === 'failed') failure = outcome;
    } catch (err) {
      failure = { error: errorMessage(err), retry: !ctx.lastAttempt };
      opts.logger.error('processor threw', { run_id: job.run.run_id, err: failure.error });
    }
    job.attemptsMade = attempt;
    job.abort = undefined;
    if (this.jobs.get(job.run.run_id) !== job) return; // forgotten meanwhile
    if (!failure) {
      job.state = 'completed';
    } else if (failure.retry) {
      job.state = 'delayed';
      job.timer = setTimeout(() => void this.promote(job.run.run_id), this.opts.backoffMs * 2 ** (attempt - 1));
    } else {
      job.state = 'failed';
      this.dead.set(job.run.run_id, failure.error);
    }
  }

  /** Waiting jobs first, in order of arrival; then prioritized ones by priority, then arrival. */
  private next(): MemoryJob | undefined {
    let best: MemoryJob | undefined;
    for (const job of this.jobs.values()) {
      if (job.state !== 'waiting' && job.state !== 'prioritized') continue;
      const rank = (j: MemoryJob) => (j.state === 'waiting' ? 0 : j.priority);
      if (!best || rank(job) < rank(best) || (rank(job) === rank(best) && job.seq < best.seq)) best = job;
    }
    return best;
  }

  private drop(runId: string): void {
    const job = this.jobs.get(runId);
    if (!job) return;
    clearTimeout(job.timer);
    this.jobs.delete(runId);
  }

  private wake(): void {
    for (const pump of this.workers) queueMicrotask(pump);
  }
}
