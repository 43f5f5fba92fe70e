import { FINAL_STATUSES, type Run, type RunStatus } from '@bx/core';
import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';

// Creates the run unless it exists; answers 'created' or the existing status.
// One record per (export, data_interval_start) holds even with two schedulers.
const CREATE = `
local status = redis.call('HGET', KEYS[1], 'status')
if status then return status end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
return 'created'`;

// Moves a run to Running and counts the attempt (across manual retries too),
// unless it was cancelled or has completed meanwhile. Answers the attempt number.
const START = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'Cancelled' or status == 'Completed' then return status end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'Running', 'started_at', ARGV[1], 'finished_at', '', 'error', '')
return tostring(attempt)`;

// Sets a final or retryable status only while the run is Running (a run
// cancelled meanwhile stays Cancelled), and only by its latest attempt: a
// worker that lost its lock (Redis away longer than the lock lasts) may still
// be running an attempt that another worker has since started again.
const FINISH = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'Running' then return status or 'missing' end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[1] then return 'Superseded' end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 'ok'`;

/** What start() did: the attempt it began, or why it did not ('Cancelled', 'Completed', 'missing'). */
export type RunStart = { status: 'started'; attempt: number } | { status: 'Cancelled' | 'Completed' | 'missing' };

export interface NewRun {
  id: string;
  export_id: string;
  data_interval_start: number;
  data_interval_end: number;
  backfill_id?: string | null;
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
  ) {}

  /** Creates the runs that do not exist yet; returns, per run, 'created' or its current status. */
  async createMany(runs: readonly NewRun[], now = Date.now()): Promise<Array<'created' | RunStatus>> {
    if (runs.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const createdAt = new Date(now).toISOString();
    for (const run of runs) {
      pipeline.eval(
        CREATE,
        2,
        this.keys.run(run.id),
        this.keys.exportRuns(run.export_id),
        String(run.data_interval_start),
        'id',
        run.id,
        'export_id',
        run.export_id,
        'data_interval_start',
        new Date(run.data_interval_start).toISOString(),
        'data_interval_end',
        new Date(run.data_interval_end).toISOString(),
        'status',
        'Scheduled',
        'attempts',
        '0',
        'records_completed',
        '0',
        'bytes_exported',
        '0',
        'files',
        '[]',
        'error',
        '',
        'backfill_id',
        run.backfill_id ?? '',
        'created_at',
        createdAt,
        'started_at',
        '',
        'finished_at',
        '',
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value as 'created' | RunStatus;
    });
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

  /** Running, one more attempt: its number, or why not. */
  async start(id: string, now = Date.now()): Promise<RunStart> {
    const answer = (await this.redis.eval(START, 1, this.keys.run(id), new Date(now).toISOString())) as string;
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
    return this.finish(id, attempt, [
      'status',
      'Completed',
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

  /** `Failed` (permanent) or `FailedRetryable` (another attempt follows); `attempt` as for complete(). */
  async fail(
    id: string,
    status: 'Failed' | 'FailedRetryable',
    error: string,
    now = Date.now(),
    attempt?: number,
  ): Promise<string> {
    return this.finish(id, attempt, [
      'status',
      status,
      'error',
      error.slice(0, 4000),
      'finished_at',
      new Date(now).toISOString(),
    ]);
  }

  /** Cancels a run that has not finished; returns whether it was cancelled. */
  async cancel(id: string, now = Date.now()): Promise<boolean> {
    const run = await this.get(id);
    if (!run || FINAL_STATUSES.includes(run.status)) return false;
    await this.redis.hset(this.keys.run(id), 'status', 'Cancelled', 'finished_at', new Date(now).toISOString());
    return true;
  }

  /** Puts a finished run back to Scheduled for a manual retry (a new attempt of the same run). */
  async reschedule(id: string, backfillId?: string): Promise<void> {
    const fields = ['status', 'Scheduled', 'error', '', 'finished_at', ''];
    if (backfillId) fields.push('backfill_id', backfillId);
    await this.redis.hset(this.keys.run(id), ...fields);
  }

  /** Status and rows of many runs in one round trip (backfill progress). */
  async summaries(
    ids: readonly string[],
  ): Promise<Array<{ status: RunStatus | null; records: number; finished_at: string | null }>> {
    const out: Array<{ status: RunStatus | null; records: number; finished_at: string | null }> = [];
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
      await this.redis.del(...ids.slice(i, i + 500).map((id) => this.keys.run(id)));
    }
  }

  private async finish(id: string, attempt: number | undefined, fields: string[]): Promise<string> {
    return (await this.redis.eval(FINISH, 1, this.keys.run(id), attempt ?? '', ...fields)) as string;
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
