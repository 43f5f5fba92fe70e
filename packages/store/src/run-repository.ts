import type { Run, RunStatus } from '@bx/core';
import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';
import { callLua, defineLua } from './lua-command';
import { CANCEL, CREATE_MANY, DELETE, FINISH, RESCHEDULE, START } from './run-scripts';

/** What start() did: the attempt it began, or why it did not. */
export type RunStart = { status: 'started'; attempt: number } | { status: 'Cancelled' | 'Completed' | 'missing' };

/**
 * Runs per create script call: Redis runs nothing else meanwhile (about 10 ms
 * for 1,000), and the reply stays small.
 */
const CREATE_BATCH = 1000;

export interface NewRun {
  id: string;
  export_id: string;
  data_interval_start: number;
  data_interval_end: number;
  backfill_id?: string | null;
}

/** What a backfill's progress needs of a run; status null when the run does not exist. */
export interface RunSummary {
  status: RunStatus | null;
  records: number;
  finished_at: string | null;
}

export interface ListRunsOptions {
  status?: RunStatus;
  limit: number;
  /** Only runs whose interval starts before this (epoch ms): the page cursor or range end. */
  before?: number;
  /** Only runs whose interval starts at or after this (epoch ms). */
  from?: number;
}

export class RunRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
  ) {
    const scripts = {
      bxRunCreateMany: CREATE_MANY,
      bxRunStart: START,
      bxRunFinish: FINISH,
      bxRunCancel: CANCEL,
      bxRunReschedule: RESCHEDULE,
      bxRunDelete: DELETE,
    };
    for (const [name, lua] of Object.entries(scripts)) defineLua(redis, name, lua);
  }

  /**
   * Creates the runs that do not exist yet; returns, per run, 'created' or its
   * current status. One script call per CREATE_BATCH runs, not one per run.
   */
  async createMany(runs: readonly NewRun[], now = Date.now()): Promise<Array<'created' | RunStatus>> {
    const out: Array<'created' | RunStatus> = [];
    const createdAt = new Date(now).toISOString();
    for (let i = 0; i < runs.length; i += CREATE_BATCH) {
      const args: string[] = [this.pendingPrefix, this.keys.run(''), this.keys.exportRuns(''), createdAt];
      for (const run of runs.slice(i, i + CREATE_BATCH)) {
        args.push(
          run.id,
          run.export_id,
          String(run.data_interval_start),
          String(run.data_interval_end),
          new Date(run.data_interval_start).toISOString(),
          new Date(run.data_interval_end).toISOString(),
          run.backfill_id ?? '',
        );
      }
      const statuses = await callLua(this.redis, 'bxRunCreateMany', 1, this.keys.runsByStatus, ...args);
      out.push(...(statuses as Array<'created' | RunStatus>));
    }
    return out;
  }

  async get(id: string): Promise<Run | null> {
    const hash = await this.redis.hgetall(this.keys.run(id));
    return toRun(hash);
  }

  async getMany(ids: readonly string[]): Promise<Array<Run | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.run(id));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, hash]) => {
      if (err) throw err;
      return toRun(hash as Record<string, string>);
    });
  }

  /** Running, one more attempt (counted across manual retries): its number, or why not. */
  async start(id: string, now = Date.now()): Promise<RunStart> {
    const answer = (await callLua(
      this.redis,
      'bxRunStart',
      2,
      ...this.statusKeys(id),
      this.pendingPrefix,
      new Date(now).toISOString(),
      String(now),
    )) as string;
    return /^\d+$/.test(answer)
      ? { status: 'started', attempt: Number(answer) }
      : { status: answer as 'Cancelled' | 'Completed' | 'missing' };
  }

  /**
   * Records the result; with `attempt`, only if that is still the run's latest
   * attempt. Returns 'ok', the status that prevented it, or 'Superseded'.
   */
  async complete(
    id: string,
    result: { records: number; bytes: number; files: string[] },
    now = Date.now(),
    attempt?: number,
  ): Promise<string> {
    return this.finish(id, 'Completed', now, result, attempt, [
      'records_completed',
      String(result.records),
      'bytes_exported',
      String(result.bytes),
      'files',
      JSON.stringify(result.files),
      'error',
      '',
      'finished_at',
      new Date(now).toISOString(),
    ]);
  }

  /** `Failed` (permanent) or `FailedRetryable` (another attempt follows). */
  async fail(
    id: string,
    status: 'Failed' | 'FailedRetryable',
    error: string,
    now = Date.now(),
    attempt?: number,
  ): Promise<string> {
    return this.finish(id, status, now, { records: 0, bytes: 0 }, attempt, [
      'error',
      error.slice(0, 4000),
      'finished_at',
      new Date(now).toISOString(),
    ]);
  }

  /** Cancels a run that has not finished; returns whether it was cancelled. */
  async cancel(id: string, now = Date.now()): Promise<boolean> {
    const cancelled = await callLua(
      this.redis,
      'bxRunCancel',
      2,
      ...this.statusKeys(id),
      this.pendingPrefix,
      new Date(now).toISOString(),
    );
    return cancelled === 1;
  }

  /** Puts a finished run back to Scheduled for a manual retry (a new attempt of the same run). */
  async reschedule(id: string, backfillId?: string): Promise<void> {
    await callLua(this.redis, 'bxRunReschedule', 2, ...this.statusKeys(id), this.pendingPrefix, backfillId ?? '');
  }

  /** Status and rows of many runs in one round trip (backfill progress). */
  async summaries(ids: readonly string[]): Promise<RunSummary[]> {
    const out: RunSummary[] = [];
    for (let i = 0; i < ids.length; i += 5000) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 5000))
        pipeline.hmget(this.keys.run(id), 'status', 'records_completed', 'finished_at');
      for (const [err, values] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const [status, records, finishedAt] = values as Array<string | null>;
        out.push({
          status: (status as RunStatus) ?? null,
          records: Number(records ?? 0),
          finished_at: finishedAt || null,
        });
      }
    }
    return out;
  }

  /** Newest interval first. */
  async list(exportId: string, opts: ListRunsOptions): Promise<Run[]> {
    const runs: Run[] = [];
    let max = opts.before === undefined ? '+inf' : `(${opts.before}`;
    const min = opts.from === undefined ? '-inf' : String(opts.from);
    const page = Math.max(opts.limit, 100);
    for (;;) {
      const ids = await this.redis.zrevrangebyscore(
        this.keys.exportRuns(exportId),
        max,
        min,
        'WITHSCORES',
        'LIMIT',
        0,
        page,
      );
      if (ids.length === 0) return runs;
      const batch = await this.getMany(ids.filter((_, i) => i % 2 === 0));
      for (const run of batch) {
        if (run && (!opts.status || run.status === opts.status)) runs.push(run);
        if (runs.length === opts.limit) return runs;
      }
      if (ids.length < page * 2) return runs;
      max = `(${ids[ids.length - 1]}`;
    }
  }

  /** Destination scratch state kept across attempts (e.g. open multipart uploads). */
  async state<T>(id: string): Promise<T | null> {
    const text = await this.redis.hget(this.keys.run(id), 'state');
    return text ? (JSON.parse(text) as T) : null;
  }

  async setState(id: string, state: unknown): Promise<void> {
    await this.redis.hset(this.keys.run(id), 'state', JSON.stringify(state));
  }

  async deleteMany(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 500))
        callLua(pipeline, 'bxRunDelete', 2, ...this.statusKeys(id), this.pendingPrefix);
      for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    }
  }

  private async finish(
    id: string,
    status: 'Completed' | 'Failed' | 'FailedRetryable',
    now: number,
    totals: { records: number; bytes: number },
    attempt: number | undefined,
    fields: string[],
  ): Promise<string> {
    return (await callLua(
      this.redis,
      'bxRunFinish',
      4,
      ...this.statusKeys(id),
      this.keys.exportTotals,
      this.keys.runDurations,
      this.pendingPrefix,
      status,
      String(now),
      String(totals.records),
      String(totals.bytes),
      attempt === undefined ? '' : String(attempt),
      ...fields,
    )) as string;
  }

  /** KEYS[1] and KEYS[2] of every status script (run-scripts.ts). */
  private statusKeys(id: string): [string, string] {
    return [this.keys.run(id), this.keys.runsByStatus];
  }

  private get pendingPrefix(): string {
    return this.keys.pendingRuns('');
  }
}

function toRun(hash: Record<string, string> | null): Run | null {
  if (!hash || !hash.id) return null;
  const orNull = (v: string | undefined) => (v ? v : null);
  return {
    id: hash.id,
    export_id: hash.export_id!,
    data_interval_start: hash.data_interval_start!,
    data_interval_end: hash.data_interval_end!,
    status: hash.status as RunStatus,
    attempts: Number(hash.attempts ?? 0),
    records_completed: Number(hash.records_completed ?? 0),
    bytes_exported: Number(hash.bytes_exported ?? 0),
    files: JSON.parse(hash.files || '[]') as string[],
    error: orNull(hash.error),
    backfill_id: orNull(hash.backfill_id),
    created_at: hash.created_at!,
    started_at: orNull(hash.started_at),
    finished_at: orNull(hash.finished_at),
  };
}
