import type { BatchExport, RunStatus } from '@bx/core';
import { callScript, type RedisClient } from '@bx/redis';
import { randomBytes } from 'node:crypto';
import { exportIdOfRun, exportedBlockOf, intervalStartOfRun, type StoreKeys } from './keys';
import { RunReads, attemptArgs, type AttemptRef } from './run-reads';
import { storeScripts } from './store-scripts';
import { RUN_LOG_LINES, type RunLogLine } from './run-log-repository';

export type { AttemptRef, ListRunsOptions, RunCoverage, RunReceiptView } from './run-reads';

/**
 * What start() did: the attempt it began (the backfill it runs for, the
 * version its receipt gets), or why it did not.
 */
export type RunStart =
  | {
      status: 'started';
      attempt: number;
      /** The attempt's token (AttemptRef): pass `{attempt, token, startedMs}` to the fenced calls. */
      token: string;
      /** When it started (epoch ms, the run's started_ms): AttemptRef.startedMs. */
      startedMs: number;
      backfillId: string | null;
      receiptVersion: number;
      /** Set when an earlier run of the interval finished and its record is gone (retention, an interval change). */
      priorUnknown?: true;
    }
  /** `crashes` attempts in a row never finished: the caller fails the run for good. */
  | { status: 'crashed'; crashes: number; backfillId: string | null }
  /** Failed for good already (its job came back after its worker died): the failure stands. */
  | { status: 'Failed'; error: string }
  | { status: 'Cancelled' | 'Completed' | 'missing' | 'held' };

/** What startWithExport() did: start()'s answers, the export with a started run, or 'no-export' (it is gone). */
export type RunStartWithExport =
  | Exclude<RunStart, { status: 'started' }>
  | (Extract<RunStart, { status: 'started' }> & { export: BatchExport })
  | { status: 'no-export' };

/**
 * Attempts in a row that started and never finished (worker killed, out of
 * memory, lock lost) before a run is failed for good instead of retried. The
 * queue's own stall limit is set higher, so this one decides.
 */
export const MAX_UNFINISHED_ATTEMPTS = 8;
/** The fewest unfinished attempts that fail a run, whatever RUN_MAX_ATTEMPTS (see startWithExport). */
export const MIN_UNFINISHED_ATTEMPTS = 3;

/**
 * What creating a run answered: 'created'; 'rewritten' (a finished record of
 * the same start covered another interval, before the export's interval
 * changed: it is this run now, and the old run's job may linger in the
 * queue); `other:<status>` (such a record has not finished: wait for it);
 * 'Exported' (its record is gone but the interval is known exported); its
 * status; or `mine:<status>` when it is already the backfill's that creates
 * it: open for it, or counted by it (a step redone after its cursor's move
 * was lost); or `counted:<status>` when it counted the run before another
 * backfill ran it again.
 */
export type CreateAnswer =
  | 'created'
  | 'rewritten'
  | 'Exported'
  | RunStatus
  | `mine:${RunStatus}`
  | `counted:${RunStatus}`
  | `other:${RunStatus}`;

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

/** A run's result as the worker records it. */
export interface RunResult {
  records: number;
  bytes: number;
  files: string[];
  /** What the destination says it wrote, checkable against the source (receipts); stored as JSON. */
  receipt?: unknown;
}

/**
 * Run records: one per (export, data_interval_start). Every status change
 * goes through a Lua script (lua/) that moves the counters and indexes in the
 * same step (includes/track.lua).
 */
export class RunRepository extends RunReads {
  constructor(
    redis: RedisClient,
    keys: StoreKeys,
    /** Opens an export's stored text (ExportRepository.parse), for startWithExport. */
    private readonly openExport?: (text: string) => BatchExport,
  ) {
    super(redis, keys);
    storeScripts.define(redis, [
      'create-runs',
      'start-run',
      'finish-run',
      'cancel-run',
      'reschedule-run',
      'delete-run',
      'set-run-state',
      'run-receipts',
      'retrack-run',
    ]);
  }

  /**
   * Creates the runs that do not exist yet; returns what each answered. One
   * script call per CREATE_BATCH runs (of any exports), not one per run. An
   * interval known exported (its record gone) gets no run unless `evenIfExported`.
   */
  async createMany(
    runs: readonly NewRun[],
    now = Date.now(),
    opts: { evenIfExported?: boolean } = {},
  ): Promise<CreateAnswer[]> {
    const out: CreateAnswer[] = [];
    const createdAt = new Date(now).toISOString();
    for (let i = 0; i < runs.length; i += CREATE_BATCH) {
      const keys: string[] = [this.keys.runsByStatus, this.keys.finishedRuns];
      const at = new Map<string, number>();
      const index = (...group: string[]): number => {
        const found = at.get(group[0]!);
        if (found !== undefined) return found;
        keys.push(...group);
        at.set(group[0]!, keys.length - group.length + 1);
        return keys.length - group.length + 1;
      };
      const args: Array<string | number> = [createdAt, opts.evenIfExported ? '1' : '0'];
      for (const run of runs.slice(i, i + CREATE_BATCH)) {
        const e = run.export_id;
        const bf = run.backfill_id
          ? index(this.keys.backfill(run.backfill_id), this.keys.backfillOpen(run.backfill_id))
          : 0;
        const block = exportedBlockOf(run.data_interval_start);
        args.push(
          index(this.keys.run(run.id)),
          index(this.keys.exportRuns(e), this.keys.pendingRuns(e), this.keys.unfinishedRuns(e)),
          bf,
          index(...this.exportedKeys(e, block)),
          block,
          run.id,
          e,
          run.data_interval_start,
          run.data_interval_end,
          new Date(run.data_interval_start).toISOString(),
          new Date(run.data_interval_end).toISOString(),
          run.backfill_id ?? '',
        );
      }
      out.push(...((await callScript(this.redis, 'create-runs', keys, args)) as CreateAnswer[]));
    }
    return out;
  }

  /** Running, one more attempt (counted across manual retries): its number, or why not. */
  async start(id: string, now = Date.now()): Promise<RunStart> {
    const { answer } = await this.startScript(id, now, false);
    // Without the export's key the script never answers 'no-export'.
    return answer.status === 'no-export' ? { status: 'missing' } : answer;
  }

  /**
   * start() with the run's export read in the same script, for the worker:
   * one round trip where a read of the export and a start were two. An
   * export that is gone answers 'no-export' and changes nothing.
   */
  /**
   * `maxAttempts`: the run's attempts (RUN_MAX_ATTEMPTS); attempts in a row that never finished
   * fail the run at MAX_UNFINISHED_ATTEMPTS or at this, whichever is lower: a worker killed on
   * every attempt is not given more of them than the run would get failing. Never below
   * MIN_UNFINISHED_ATTEMPTS: an attempt that only lost its lock (an event-loop stall, Redis
   * refusing writes for a while) also leaves the run Running, and with RUN_MAX_ATTEMPTS=1 one
   * such stall failed the run for good while its attempt still wrote.
   */
  async startWithExport(id: string, now = Date.now(), maxAttempts = Infinity): Promise<RunStartWithExport> {
    if (!this.openExport) throw new Error('this RunRepository reads no exports');
    const { answer, exportText } = await this.startScript(
      id,
      now,
      true,
      Math.min(MAX_UNFINISHED_ATTEMPTS, Math.max(MIN_UNFINISHED_ATTEMPTS, maxAttempts)),
    );
    return answer.status === 'started' ? { ...answer, export: this.openExport(exportText!) } : answer;
  }

  private async startScript(
    id: string,
    now: number,
    withExport: boolean,
    unfinishedLimit = MAX_UNFINISHED_ATTEMPTS,
  ): Promise<{ answer: RunStart | { status: 'no-export' }; exportText: string | null }> {
    const exportId = exportIdOfRun(id);
    const keys = [...this.statusKeys(id), this.keys.pausedExports];
    if (withExport) keys.push(this.keys.export(exportId));
    // 128 random bits: no two attempts of any run share one, whatever their numbers.
    const token = randomBytes(16).toString('hex');
    const [status, a, b, c, exportText, prior] = (await callScript(this.redis, 'start-run', keys, [
      now,
      new Date(now).toISOString(),
      exportId,
      Math.max(1, unfinishedLimit),
      token,
    ])) as [string, ...Array<string | number | null>];
    const text = typeof exportText === 'string' ? exportText : null;
    if (status === 'crashed')
      return { answer: { status, crashes: Number(a), backfillId: (b as string) || null }, exportText: text };
    if (status === 'Failed') return { answer: { status, error: String(a ?? '') }, exportText: text };
    if (status !== 'started') {
      return {
        answer: { status: status as 'Cancelled' | 'Completed' | 'missing' | 'held' | 'no-export' },
        exportText: text,
      };
    }
    return {
      answer: {
        status,
        attempt: Number(a),
        token,
        startedMs: now,
        receiptVersion: Number(b),
        backfillId: (c as string) || null,
        ...(prior === 1 && { priorUnknown: true as const }),
      },
      exportText: text,
    };
  }

  /**
   * Records the result; with `attempt`, only if that is still the run's latest
   * attempt (with its token: AttemptRef; a number alone is checked as the
   * number). Returns 'ok', the status that prevented it, or 'Superseded'.
   * `log`: lines added to the run's log with the result, only if it is recorded.
   */
  async complete(
    id: string,
    result: RunResult,
    now = Date.now(),
    attempt?: number | AttemptRef,
    backfillId?: string | null,
    log: readonly RunLogLine[] = [],
  ): Promise<string> {
    const fields = [
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
    ];
    if (result.receipt !== undefined) fields.push('receipt', JSON.stringify(result.receipt));
    return this.finish(id, 'Completed', now, result, attempt, backfillId, fields, log);
  }

  /** `Failed` (permanent) or `FailedRetryable` (another attempt follows); `log` as for complete. */
  async fail(
    id: string,
    status: 'Failed' | 'FailedRetryable',
    error: string,
    now = Date.now(),
    attempt?: number | AttemptRef,
    backfillId?: string | null,
    log: readonly RunLogLine[] = [],
  ): Promise<string> {
    const fields = ['error', error.slice(0, 4000), 'finished_at', new Date(now).toISOString()];
    return this.finish(id, status, now, { records: 0, bytes: 0 }, attempt, backfillId, fields, log);
  }

  /** Cancels a run that has not finished; returns whether it was cancelled. */
  async cancel(id: string, now = Date.now()): Promise<boolean> {
    for (;;) {
      const backfillId = await this.openBackfill(id);
      const answer = await callScript(
        this.redis,
        'cancel-run',
        [...this.statusKeys(id), ...this.backfillKeys(backfillId)],
        [now, new Date(now).toISOString(), backfillId ?? ''],
      );
      if (answer !== 'stale') return answer === 1;
    }
  }

  /**
   * Puts a finished run back to Scheduled for another attempt of the same run
   * (manual retry, or a backfill that exports it again); false when the run
   * is missing or has not finished.
   */
  async reschedule(id: string, now = Date.now(), backfill?: { id: string; start: number }): Promise<boolean> {
    for (;;) {
      // Its backfill even when not open for it by its flag: a torn finish may have left it in that open set.
      const [flag, of] = await this.redis.hmget(this.keys.run(id), 'bf_open', 'backfill_id');
      const open = flag === '1' && of ? of : '';
      const answer = await callScript(
        this.redis,
        'reschedule-run',
        [...this.statusKeys(id), ...this.backfillKeys(backfill?.id ?? null), ...this.backfillKeys(of || null)],
        [now, backfill?.id ?? '', backfill?.start ?? 0, open, of ?? ''],
      );
      if (answer !== 'stale') return answer === 1;
    }
  }

  /**
   * Takes final runs found in their export's unfinished index out of it (and
   * of the pending one but Failed ones), as their status says
   * (lua/retrack-run.lua: only a torn write leaves one there); answers how
   * many it moved.
   */
  async retrack(ids: readonly string[], now = Date.now()): Promise<number> {
    let moved = 0;
    for (const id of ids) moved += Number(await callScript(this.redis, 'retrack-run', this.statusKeys(id), [now]));
    return moved;
  }

  /**
   * Keeps the state on the run: 'ok'; 'missing' (no record: deleted meanwhile,
   * nothing kept); with `attempt`, 'Superseded' (nothing kept) once that is not
   * the run's latest attempt, as for complete().
   */
  async setState(id: string, state: unknown, attempt?: number | AttemptRef): Promise<'ok' | 'missing' | 'Superseded'> {
    return (await callScript(
      this.redis,
      'set-run-state',
      [this.keys.run(id)],
      [JSON.stringify(state), ...attemptArgs(attempt)],
    )) as 'ok' | 'missing' | 'Superseded';
  }

  /**
   * Deletes run records and their logs. With `retention`, only finished runs,
   * and a Completed one stays known as exported (its export's ranges).
   * Answers how many were deleted.
   */
  async deleteMany(ids: readonly string[], opts: { retention?: boolean; now?: number } = {}): Promise<number> {
    return (await this.deleteEach(ids, opts)).filter(Boolean).length;
  }

  /**
   * Retention: deletes the runs that are still finished (deleteMany with
   * `retention`); answers the ids deleted, so the caller drops only their
   * jobs, not the job of a run retried or recreated since it read the ids.
   */
  async deleteFinished(ids: readonly string[], now = Date.now()): Promise<string[]> {
    const deleted = await this.deleteEach(ids, { retention: true, now });
    return ids.filter((_, i) => deleted[i]);
  }

  private async deleteEach(ids: readonly string[], opts: { retention?: boolean; now?: number }): Promise<boolean[]> {
    const deleted: boolean[] = [];
    const now = opts.now ?? Date.now();
    for (let i = 0; i < ids.length; i += 500) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 500)) {
        const exportId = exportIdOfRun(id);
        const block = exportedBlockOf(intervalStartOfRun(id));
        callScript(
          pipeline,
          'delete-run',
          [
            ...this.statusKeys(id),
            this.keys.exportedBlocks(exportId),
            this.keys.runLog(id),
            ...this.exportedKeys(exportId, block),
          ],
          [now, opts.retention ? '1' : '0', block, id],
        );
      }
      for (const [err, n] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        deleted.push(Number(n) === 1);
      }
    }
    return deleted;
  }

  private async finish(
    id: string,
    status: 'Completed' | 'Failed' | 'FailedRetryable',
    now: number,
    totals: { records: number; bytes: number },
    attempt: number | AttemptRef | undefined,
    backfillId: string | null | undefined,
    fields: string[],
    log: readonly RunLogLine[],
  ): Promise<string> {
    const lines = log.map((line) => JSON.stringify(line));
    let bf = backfillId === undefined ? await this.openBackfill(id) : backfillId;
    for (;;) {
      const answer = (await callScript(
        this.redis,
        'finish-run',
        [
          ...this.statusKeys(id),
          this.keys.exportTotals,
          this.keys.runDurations,
          ...this.backfillKeys(bf),
          this.keys.failures(exportIdOfRun(id)),
          this.keys.runLog(id),
        ],
        [
          now,
          status,
          totals.records,
          totals.bytes,
          ...attemptArgs(attempt),
          bf ?? '',
          RUN_LOG_LINES,
          lines.length,
          ...lines,
          ...fields,
        ],
      )) as string;
      if (answer !== 'stale') return answer;
      bf = await this.openBackfill(id);
    }
  }

  /** The backfill a run is open for (started by it and not final), or null. */
  private async openBackfill(id: string): Promise<string | null> {
    const [open, backfillId] = await this.redis.hmget(this.keys.run(id), 'bf_open', 'backfill_id');
    return open === '1' && backfillId ? backfillId : null;
  }

  /** The exported cover and bounds bitmaps of `block` and of the next, then their legacy ones (lua/includes/slots.lua). */
  private exportedKeys(exportId: string, block: number): string[] {
    return [
      this.keys.exportedBlock(exportId, block),
      this.keys.exportedBounds(exportId, block),
      this.keys.exportedBlock(exportId, block + 1),
      this.keys.exportedBounds(exportId, block + 1),
      this.keys.exportedLegacy(exportId, block),
      this.keys.exportedLegacy(exportId, block + 1),
    ];
  }

  /** KEYS 1-6 of every status script (lua/includes/track.lua). */
  private statusKeys(id: string): string[] {
    const exportId = exportIdOfRun(id);
    return [
      this.keys.run(id),
      this.keys.runsByStatus,
      this.keys.pendingRuns(exportId),
      this.keys.unfinishedRuns(exportId),
      this.keys.finishedRuns,
      this.keys.exportRuns(exportId),
    ];
  }

  /** A backfill's hash and open zset; a placeholder pair (never read) when none. */
  private backfillKeys(backfillId: string | null): string[] {
    const id = backfillId ?? '-';
    return [this.keys.backfill(id), this.keys.backfillOpen(id)];
  }
}
