import { PermanentError, type ModelPlugin, type ModelQueryInput, type SourceQuery } from '@bx/core';
import type { BatchFormat, RecordBatch } from '@bx/batch';
import { TeamRows } from './team-rows';

/*
 * The caps, measured (`npx tsx bench/shared-reads.ts`, ClickHouse 18.16 of
 * its own, 15,000 teams of 0-3 events per 5 minutes; docs/scaling.md): a
 * run's own query cost ClickHouse 2.7-3.8 ms of CPU, a shared one 2.8 ms for
 * 1 run, 0.85 ms per run for 4, 0.24 for 16, 0.07 for 64; a row of a shared
 * answer 6.5-26 µs. An answer given up at 1,000 rows wastes 7-26 ms, a few
 * runs' own queries, once per large team per LARGE_TEAM_MS; 100 tiny runs of
 * up to 10 rows each fit in it.
 */
export interface SharedReadsOptions {
  /** Rows of one shared answer, all its teams together, beyond which it is given up. Default 1,000. */
  maxRows?: number;
  /** Wire bytes of one shared answer beyond which it is given up (at most a batch's bytes). Default 1 MiB. */
  maxBytes?: number;
  /** Teams in one shared query at most. Default 100. */
  maxTeams?: number;
}

/** What one run asks of the shared reads. */
export interface SharedRead<B extends RecordBatch> {
  /** Runs whose queries would be the same but for their team share one; this says which are. */
  shape: string;
  teamId: number;
  /** Which model's teams these are (a team that turned out large is remembered per model). */
  model: string;
  /** The SELECT of these teams' rows (no LIMIT, no FORMAT). */
  query(teams: readonly number[]): SourceQuery;
  format: BatchFormat<B>;
  /** The int64 column of each row's team (see TeamRows.fits). */
  teamColumn: number;
}

/** A run's rows out of a shared answer (one batch, or none), or `alone`: it reads them with its own query. */
export type SharedAnswer<B> = { rows: B | null } | 'alone';

/** How the source runs a query: its batches, each used up before the next is asked for. */
export type QueryRunner = <B extends RecordBatch>(
  query: SourceQuery,
  format: BatchFormat<B>,
  signal: AbortSignal,
) => AsyncIterable<B>;

/**
 * How long a team whose rows overflowed a shared answer reads alone, in ms.
 * Its next runs would overflow again: each would cost the others a capped
 * read given up, and itself the wait for it.
 */
const LARGE_TEAM_MS = 6 * 3600_000;
/** Teams remembered as large at most (the oldest are forgotten). */
const LARGE_TEAMS = 10_000;

interface Member<B extends RecordBatch> {
  read: SharedRead<B>;
  resolve(answer: SharedAnswer<B>): void;
  reject(err: unknown): void;
  /** Its run gave up waiting (its signal aborted). */
  gone: boolean;
  /** The query it is in, once sent. */
  query: AbortController | null;
  members: Array<Member<B>> | null;
}

interface Group {
  waiting: Array<Member<RecordBatch>>;
  /** Shared queries of this shape being read. */
  running: number;
  scheduled: boolean;
}

/**
 * Runs that a worker process has in flight at the same time, for the same
 * query but for their team (same model, tables, interval, filters, column
 * types: `shape`), share one ClickHouse query: tiny runs cost ClickHouse
 * mostly its fixed cost per query (parsing, analysis, part and mark
 * selection, a granule of each column decompressed), which they divide.
 *
 * - No wait when alone: a run's query goes once the current microtasks
 *   are done (runs that come meanwhile join it; setImmediate cost a lone
 *   run 0.4-0.8 ms of wall time here, a microtask 0-0.2 ms). While a query
 *   of its shape is being read, later runs of that shape wait for it to
 *   end and then go together: as group commit, the busier the worker, the
 *   larger the groups, and a query of one costs about what the run's own
 *   does.
 * - Only small answers: the query asks for `maxRows + 1` rows at most
 *   (LIMIT) and is given up past `maxRows` rows or `maxBytes`; then every
 *   run in it reads with its own query, streamed as ever, and the team with
 *   the most rows reads alone for LARGE_TEAM_MS. Memory held: `maxBytes`
 *   per query being read.
 * - Errors: a retryable one fails every run in the query with it, as each
 *   own query would have (no storm of queries against a failing server); a
 *   permanent one sends each run to its own query, which alone decides. A
 *   run whose signal aborts leaves at once; the query goes on for the
 *   others, and is cancelled once none is left.
 */
export class SharedReads {
  private readonly groups = new Map<string, Group>();
  private readonly large = new Map<string, number>();
  private readonly opts: Required<SharedReadsOptions>;

  constructor(
    private readonly run: QueryRunner,
    opts: SharedReadsOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { maxRows: 1000, maxBytes: 1024 * 1024, maxTeams: 100, ...opts };
  }

  /** The run's rows, read with others' (see the class), or `alone`. Rejects with an AbortError once `signal` aborts. */
  read<B extends RecordBatch>(read: SharedRead<B>, signal?: AbortSignal): Promise<SharedAnswer<B>> {
    if (signal?.aborted) return Promise.reject(abortError());
    const fits = Number.isSafeInteger(read.teamId) && TeamRows.fits(read.format, read.teamColumn);
    if (!fits || this.isLarge(read)) return Promise.resolve('alone');
    return new Promise<SharedAnswer<B>>((resolve, reject) => {
      const onAbort = () => this.leave(member as unknown as Member<RecordBatch>);
      const member: Member<B> = {
        read,
        resolve: (answer) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
        gone: false,
        query: null,
        members: null,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let group = this.groups.get(read.shape);
      if (!group) this.groups.set(read.shape, (group = { waiting: [], running: 0, scheduled: false }));
      group.waiting.push(member as unknown as Member<RecordBatch>);
      this.schedule(read.shape, group);
    });
  }

  private schedule(shape: string, group: Group): void {
    if (group.waiting.length >= this.opts.maxTeams) return this.send(shape, group);
    if (group.running > 0 || group.scheduled) return;
    group.scheduled = true;
    queueMicrotask(() => {
      group.scheduled = false;
      if (group.running === 0) this.send(shape, group);
    });
  }

  private send(shape: string, group: Group): void {
    const members = group.waiting.splice(0, this.opts.maxTeams);
    if (members.length === 0) {
      if (group.running === 0 && !group.scheduled) this.groups.delete(shape);
      return;
    }
    group.running++;
    void this.answer(members)
      // Not meant to happen: no run may wait forever.
      .catch((err: unknown) => members.forEach((m) => m.reject(err)))
      .finally(() => {
        group.running--;
        // Those that came meanwhile have waited for this one: they go now, together.
        if (group.running === 0) this.send(shape, group);
      });
  }

  /** One query for `members`, and each its answer. */
  private async answer(members: Array<Member<RecordBatch>>): Promise<void> {
    const query = new AbortController();
    for (const m of members) [m.query, m.members] = [query, members];
    const first = members[0]!.read;
    const teams = [...new Set(members.map((m) => m.read.teamId))].sort((a, b) => a - b);
    const rows = new TeamRows(first.format, first.teamColumn);
    let capped: SourceQuery;
    try {
      const { sql, settings } = first.query(teams);
      capped = { sql: `${sql}\nLIMIT ${this.opts.maxRows + 1}`, settings };
    } catch {
      // Each run's own query says what is wrong with it.
      for (const m of members) if (!m.gone) m.resolve('alone');
      return;
    }
    let overflow = false;
    try {
      for await (const batch of this.run(capped, first.format, query.signal)) {
        if (rows.rows + batch.count > this.opts.maxRows || rows.bytes + batch.bytes.length > this.opts.maxBytes) {
          overflow = true;
          rows.add(batch, false);
          break;
        }
        rows.add(batch);
      }
    } catch (err) {
      const alone = err instanceof PermanentError;
      for (const m of members) {
        if (m.gone) continue;
        if (alone) m.resolve('alone');
        else m.reject(err);
      }
      return;
    }
    if (overflow) {
      const team = rows.largest();
      if (!Number.isNaN(team)) this.remember(first.model, team);
    }
    for (const m of members) {
      if (m.gone) continue;
      try {
        m.resolve(overflow ? 'alone' : { rows: rows.batch(m.read.teamId) });
      } catch (err) {
        m.reject(err);
      }
    }
  }

  /** A run gave up: it leaves its group, or its query (cancelled once no one is left in it). */
  private leave(member: Member<RecordBatch>): void {
    if (member.gone) return;
    member.gone = true;
    member.reject(abortError());
    if (!member.members) {
      const group = this.groups.get(member.read.shape);
      const at = group?.waiting.indexOf(member) ?? -1;
      if (at >= 0) group!.waiting.splice(at, 1);
      return;
    }
    if (member.members.every((m) => m.gone)) member.query?.abort();
  }

  private isLarge(read: SharedRead<RecordBatch>): boolean {
    const key = `${read.model}\0${read.teamId}`;
    const until = this.large.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.large.delete(key);
    return false;
  }

  private remember(model: string, team: number): void {
    const key = `${model}\0${team}`;
    this.large.delete(key);
    this.large.set(key, this.now() + LARGE_TEAM_MS);
    if (this.large.size > LARGE_TEAMS) this.large.delete(this.large.keys().next().value!);
  }
}

/** A run as SharedReads takes it; null when its rows cannot be told apart by team. */
export function sharedRead<B extends RecordBatch>(
  model: string,
  teams: NonNullable<ModelPlugin['teams']>,
  input: ModelQueryInput,
  format: BatchFormat<B>,
  types: ReadonlyMap<string, string> | undefined,
): SharedRead<B> | null {
  const teamColumn = format.columns.findIndex((c) => c.name === teams.column);
  if (teamColumn < 0) return null;
  // The query with no team in it: runs whose queries differ only by team have the same.
  const { sql, settings } = teams.query(input, [], types);
  // The model and layout fix the format (its columns and their wire forms).
  const layout = format.layout ? Buffer.from(format.layout).toString('hex') : '';
  const shape = `${model}\0${layout}\0${settings ? JSON.stringify(settings) : ''}\0${sql}`;
  return {
    shape,
    teamId: input.teamId,
    model,
    query: (ids) => teams.query(input, ids, types),
    format,
    teamColumn,
  };
}

function abortError(): Error {
  const err = new Error('ClickHouse query aborted');
  err.name = 'AbortError';
  return err;
}
