import {
  ConflictError,
  NotFoundError,
  ValidationError,
  dueAt,
  filterInstant,
  initialCursor,
  intervalContaining,
  parseInput,
  type BatchExport,
  type Clock,
  type Logger,
  type NetworkPolicy,
  type Run,
  type RunStatus,
  RUN_STATUSES,
} from '@bx/core';
import { modelPlugin } from '@bx/models';
import { BACKFILL_PRIORITY, type RunQueue } from '@bx/queue';
import { EXPORT_WRITE_ATTEMPTS, concurrentWriters, type ReconcileStatus, type Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { checkDestinationNetwork, refuseSealedSecrets, requireSecretsOnMove } from './destination-rules';
import { createExportSchema, patchExportSchema } from './export-input';
import { isOwnId } from './ids';
import { patchedDestination } from './patched-destination';
import { invalidQuery, queryInstant, queryInteger, type QueryIssue } from './query-params';

export interface ListRunsQuery {
  status?: string;
  limit?: string;
  cursor?: string;
  /** Only runs whose interval starts at or after this instant. */
  start?: string;
  /** Only runs whose interval starts before this instant. */
  end?: string;
}

/** One interval of `GET /api/exports/:id/reconciliation` (contract). */
export interface ReconciliationView {
  data_interval_start: string;
  data_interval_end: string;
  source_records: number;
  exported_records: number;
  status: ReconcileStatus;
  checked_at: string;
}

export interface ListExportsQuery {
  team_id?: string;
  limit?: string;
  cursor?: string;
}

export interface ExportLimits {
  /** Most exports the deployment holds (MAX_EXPORTS). */
  maxExports?: number;
}

/** Default and largest page of `GET /api/exports`. */
const EXPORTS_PAGE = 100;
const EXPORTS_PAGE_MAX = 1000;
/** Default and largest page of `GET /api/exports/:id/runs`. */
const RUNS_PAGE = 100;
const RUNS_PAGE_MAX = 1000;
const CURSOR = /^\d{15}:[0-9a-f-]{36}$/;
/**
 * Most runs one page of `GET /api/exports/:id/runs` looks at: with a status
 * filter, a page may hold fewer than `limit` runs (even none) and a `next`
 * that goes on from the last run looked at.
 */
export const RUNS_SCANNED_MAX = 10_000;
/**
 * Most bytes of runs one page of `GET /api/exports/:id/runs` holds (4 MiB,
 * as a page of exports): a run's `files` lists every object it wrote, and
 * 1,000 runs split at `max_file_size_mb: 1` made a page of hundreds of MB.
 * The page stops after the run that reaches it, with `next` set.
 */
export const RUNS_PAGE_BYTES = 4 * 1024 * 1024;
const isoOf = (ms: number) => new Date(ms).toISOString();

export interface ExportServiceOptions {
  /**
   * ALLOWED_PRIVATE_DESTINATIONS: destinations are checked against it when
   * created or changed. Default none: not checked (tests of other things).
   */
  network?: NetworkPolicy;
}

/**
 * The lifecycle of an export: create, change, pause, delete, and its runs.
 * The API and operator scripts both go through here, so the scheduling rules
 * live in one place.
 */
export class ExportService {
  private readonly maxExports: number;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
    /** Now, in epoch ms; by default Redis time (Store.now), the scheduler's clock. */
    private readonly clock: Clock = () => store.now(),
    private readonly opts: ExportLimits & ExportServiceOptions = {},
  ) {
    this.maxExports = opts.maxExports ?? 10_000;
  }

  async create(body: unknown): Promise<BatchExport> {
    const input = parseInput(createExportSchema, body);
    refuseSealedSecrets(input.destination.type, input.destination.config);
    if (this.opts.network) await checkDestinationNetwork(input.destination, this.opts.network);
    const now = await this.now();
    const iso = new Date(now).toISOString();
    const exp: BatchExport = { id: randomUUID(), ...input, created_at: iso, updated_at: iso };
    const cursor = initialCursor(exp, now);
    if (!(await this.store.exports.create(exp, cursor, exp.paused ? null : dueAt(cursor, exp), this.maxExports))) {
      throw new ConflictError(
        `this deployment holds its maximum of ${this.maxExports} exports (MAX_EXPORTS); delete one or raise the limit`,
        'too_many_exports',
      );
    }
    this.logger.info('export created', { export_id: exp.id, team_id: exp.team_id, interval: exp.interval });
    return exp;
  }

  /** The time by the deployment's clock (the scheduler's: Redis time by default), epoch ms. */
  async now(): Promise<number> {
    return this.clock();
  }

  async get(id: string): Promise<BatchExport> {
    const exp = isOwnId(id) ? await this.store.exports.get(id) : null;
    if (!exp) throw new NotFoundError(`export ${id} not found`);
    return exp;
  }

  /** A page of exports, oldest first; `next` is the cursor of the following page or null. */
  async list(query: ListExportsQuery = {}): Promise<{ results: BatchExport[]; next: string | null }> {
    const details: QueryIssue[] = [];
    // As a body's team_id: past 2^53 - 1 a team id could not be told from its neighbours.
    const teamId = queryInteger(
      query.team_id,
      'team_id',
      { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: -1 },
      details,
    );
    const limit = queryInteger(
      query.limit,
      'limit',
      { min: 1, max: EXPORTS_PAGE_MAX, fallback: EXPORTS_PAGE },
      details,
    );
    if (query.cursor !== undefined && !CURSOR.test(query.cursor))
      details.push({ field: 'cursor', message: 'must be a cursor returned as next' });
    if (details.length) throw invalidQuery(details);
    const page = await this.store.exports.list({
      teamId: query.team_id === undefined ? undefined : teamId,
      limit,
      after: query.cursor,
    });
    return { results: page.exports, next: page.next };
  }

  /**
   * Applies the patch to the export as stored when it is written: a
   * concurrent PATCH, pause or auto-pause is kept, not overwritten with what
   * this one read (ExportRepository.modify).
   */
  async update(id: string, body: unknown): Promise<BatchExport> {
    const patch = parseInput(patchExportSchema, body);
    // A change that neither pauses nor unpauses keeps the stored cursor: so does its repair if cut short.
    const keepCursor = patch.paused === undefined && isOwnId(id);
    if (keepCursor) await this.store.schedule.markKeepCursor(id);
    let change;
    try {
      change = isOwnId(id) ? await this.store.exports.modify(id, (current) => this.patched(current, patch)) : null;
      if (!change) throw new NotFoundError(`export ${id} not found`);
      await this.reschedule(change.before, change.after);
    } finally {
      if (keepCursor) await this.store.schedule.clearKeepCursor(id);
    }
    this.logger.info('export updated', { export_id: id, fields: Object.keys(patch) });
    return change.after;
  }

  async pause(id: string): Promise<BatchExport> {
    return this.update(id, { paused: true });
  }

  /** Resumes from the current interval; with `backfill` the paused span is exported too. */
  async unpause(id: string, opts: { backfill?: boolean } = {}): Promise<BatchExport> {
    const exp = await this.get(id);
    if (!exp.paused) return exp;
    await this.store.exports.resetFailures(id);
    // With backfill the paused span is exported: a repair of this unpause cut short resumes from the cursor too.
    if (opts.backfill) await this.store.schedule.markKeepCursor(id);
    else await this.store.schedule.clearKeepCursor(id);
    const updatedAt = new Date(await this.now()).toISOString();
    const change = await this.store.exports.modify(id, (current) =>
      current.paused ? { ...current, paused: false, paused_reason: null, updated_at: updatedAt } : null,
    );
    if (!change) throw new NotFoundError(`export ${id} not found`);
    // Unpaused by someone else meanwhile: they resume it.
    if (change.written) await this.resume(change.after, Boolean(opts.backfill));
    if (opts.backfill) await this.store.schedule.clearKeepCursor(id);
    if (!change.written) return change.after;
    this.logger.info('export unpaused', { export_id: id, backfill: Boolean(opts.backfill) });
    return change.after;
  }

  /**
   * Puts an export that is not paused but off the schedule back on it, as the
   * change cut short would have: from its stored cursor when that change was
   * a PATCH or an unpause with backfill (keys.keepCursor), else as an unpause
   * does, from the current interval or the cursor if that is later. Only a
   * change whose process died, or lost Redis, between writing the export and
   * scheduling it leaves one so; StrandedRepair finds them. True when it was
   * scheduled; false when it is paused, gone, on the schedule already, or
   * past its `end_at`.
   */
  async scheduleStranded(id: string): Promise<boolean> {
    const version = await this.store.exports.read(id);
    if (!version || version.export.paused) return false;
    const [state] = await this.store.schedule.onSchedule([id]);
    if (!state || state.scheduled || state.paused) return false;
    const exp = version.export;
    const stored = await this.store.schedule.cursor(id);
    const current = intervalContaining(await this.now(), exp.interval, exp.timezone).start;
    const keep = await this.store.schedule.keepsCursor(id);
    const cursor = keep && stored !== null ? stored : Math.max(stored ?? current, current);
    const due = dueAt(cursor, exp);
    if (due === null) return false;
    // Against the version read: a pause or change meanwhile wins (setFrom answers 0 or -1).
    const scheduled = (await this.store.schedule.setFrom(id, version.text, stored, cursor, due)) === 1;
    if (scheduled && keep) await this.store.schedule.clearKeepCursor(id);
    return scheduled;
  }

  /** The export with the patch applied, checked as a whole. */
  private async patched(current: BatchExport, patch: z.infer<typeof patchExportSchema>): Promise<BatchExport> {
    const { destination: destinationPatch, ...fields } = patch;
    const next: BatchExport = { ...current, ...fields, updated_at: new Date(await this.now()).toISOString() };
    if (patch.paused === false) next.paused_reason = null;
    if (destinationPatch) {
      const type = destinationPatch.type ?? current.destination.type;
      refuseSealedSecrets(type, destinationPatch.config ?? {});
      // Same type: merge, so secrets the API never returned can be left out.
      next.destination = patchedDestination(current.destination, type, destinationPatch.config ?? {});
      requireSecretsOnMove(current.destination, next.destination, destinationPatch.config ?? {});
      if (this.opts.network) await checkDestinationNetwork(next.destination, this.opts.network);
    }
    const filters = (['include_events', 'exclude_events'] as const).filter((f) => next[f].length > 0);
    if (filters.length > 0 && !modelPlugin(next.model).eventFilters) {
      const details = filters.map((field) => ({ field, message: `does not apply to the ${next.model} model` }));
      throw new ValidationError(`Invalid body: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details);
    }
    if (next.start_at && next.end_at && next.end_at <= next.start_at) {
      throw new ValidationError('Invalid body: end_at: end_at must be after start_at', [
        { field: 'end_at', message: 'end_at must be after start_at' },
      ]);
    }
    return next;
  }

  /**
   * Deletes the export: it disappears at once (its schedule stops, it answers
   * 404), and its runs, logs, backfills and jobs are removed in the
   * background (ExportJanitor), which survives restarts.
   */
  async delete(id: string): Promise<void> {
    const exp = await this.get(id);
    await this.store.exports.markDeleted(exp);
    this.logger.info('export deleted; its runs are removed in the background', { export_id: id });
  }

  /** What the reconciler last found for the export's intervals in its window, newest first. */
  async reconciliation(id: string): Promise<{ results: ReconciliationView[] }> {
    await this.get(id);
    const records = await this.store.reconciliation.list(id);
    return {
      results: records.map((r) => ({
        data_interval_start: new Date(r.start).toISOString(),
        data_interval_end: new Date(r.end).toISOString(),
        source_records: r.sourceRecords,
        exported_records: r.exportedRecords,
        status: r.status,
        checked_at: new Date(r.checkedAt).toISOString(),
      })),
    };
  }

  async latestRuns(id: string, limit = 10): Promise<Run[]> {
    return this.store.runs.list(id, { limit });
  }

  /** Runs newest first; `next` is the cursor of the following page or null. */
  async listRuns(id: string, query: ListRunsQuery): Promise<{ results: Run[]; next: string | null }> {
    await this.get(id);
    const details: QueryIssue[] = [];
    const limit = queryInteger(query.limit, 'limit', { min: 1, max: RUNS_PAGE_MAX, fallback: RUNS_PAGE }, details);
    if (query.status !== undefined && !(RUN_STATUSES as readonly string[]).includes(query.status)) {
      details.push({ field: 'status', message: `must be one of ${RUN_STATUSES.join(', ')}` });
    }
    const cursor = queryInstant(query.cursor, 'cursor', details, { message: 'must be a cursor returned as next' });
    // Filters of what is stored: `end=9999-12-31` (no end) is a filter, not a schedule's bound.
    const from = queryInstant(query.start, 'start', details, { schema: filterInstant });
    const to = queryInstant(query.end, 'end', details, { schema: filterInstant });
    const before = cursor === undefined ? to : to === undefined ? cursor : Math.min(cursor, to);
    if (details.length) throw invalidQuery(details);
    const {
      runs: results,
      stoppedAt,
      full,
    } = await this.store.runs.page(id, {
      limit: limit + 1,
      status: query.status as RunStatus | undefined,
      before,
      from,
      maxScanned: RUNS_SCANNED_MAX,
      maxBytes: RUNS_PAGE_BYTES,
    });
    const more = results.length > limit || Boolean(full);
    const page = results.slice(0, limit);
    // A status filter that matched little of many runs stops early: `next` goes on from where it stopped.
    const next = more ? page[page.length - 1]!.data_interval_start : stoppedAt === null ? null : isoOf(stoppedAt);
    return { results: page, next };
  }

  /** Follows a written change on the schedule; a pause left it when the export was written. */
  private async reschedule(before: BatchExport, after: BatchExport): Promise<void> {
    if (after.paused) {
      if (!before.paused) await this.holdQueued(after);
      return;
    }
    if (before.paused) {
      await this.store.exports.resetFailures(after.id);
      await this.resume(after, false);
      return;
    }
    const now = await this.now();
    // A changed calendar needs no realignment: the next run spans from the cursor
    // to the end of the new calendar's interval (spanFrom), then runs align.
    await this.scheduleFrom(after.id, (exp, stored) => stored ?? initialCursor(exp, now));
  }

  /**
   * Sets the cursor and due time from the export and cursor as stored now,
   * only while both stay so: a write that lost a race to a pause, a DELETE,
   * another change or the scheduler's advance computes again from theirs
   * (nothing when the export is paused or gone).
   */
  private async scheduleFrom(id: string, cursorOf: (exp: BatchExport, stored: number | null) => number): Promise<void> {
    for (let attempt = 0; attempt < EXPORT_WRITE_ATTEMPTS; attempt++) {
      const version = await this.store.exports.read(id);
      if (!version || version.export.paused) return;
      const stored = await this.store.schedule.cursor(id);
      const cursor = cursorOf(version.export, stored);
      const set = await this.store.schedule.setFrom(id, version.text, stored, cursor, dueAt(cursor, version.export));
      if (set !== 0) return;
    }
    throw concurrentWriters(id);
  }

  /**
   * Takes the jobs of a paused export's runs that have not started off the
   * queue, so workers do not pick them only to hold them (a worker that does
   * anyway leaves the run as it is: see lua/start-run.lua). At most a window
   * of runs per export.
   */
  private async holdQueued(exp: BatchExport): Promise<void> {
    for (const runId of await this.store.runs.unfinished(exp.id)) await this.queue.remove(runId).catch(() => false);
  }

  /**
   * Schedules again from the current interval, or from where it stopped when
   * backfilling, and queues again the runs held while it was paused.
   */
  private async resume(exp: BatchExport, backfill: boolean): Promise<void> {
    const now = await this.now();
    await this.scheduleFrom(exp.id, (latest, stored) => {
      const current = intervalContaining(now, latest.interval, latest.timezone).start;
      return backfill && stored !== null ? stored : Math.max(stored ?? current, current);
    });
    const held = (await this.store.runs.getMany(await this.store.runs.unfinished(exp.id))).filter(
      (run): run is Run => run !== null && run.status !== 'Running',
    );
    for (const run of held) {
      // A worker may hold the run's job a moment (it saw the pause and is letting the run be): wait that out.
      if (!(await this.queue.settled(run.id))) continue;
      const job = {
        run_id: run.id,
        export_id: exp.id,
        export_name: exp.name,
        data_interval_start: Date.parse(run.data_interval_start),
        data_interval_end: Date.parse(run.data_interval_end),
      };
      await this.queue
        .requeue(job, { priority: run.backfill_id ? BACKFILL_PRIORITY : undefined })
        .catch((err: { code?: string }) => {
          // A worker took its job meanwhile: it runs now, nothing to queue.
          if (err.code !== 'RunActive') throw err;
        });
    }
    if (held.length) this.logger.info('held runs queued again', { export_id: exp.id, runs: held.length });
  }
}
