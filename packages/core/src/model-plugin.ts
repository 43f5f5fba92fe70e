import type { Config } from './config';
import type { Span } from './interval-calendar';
import { EVENT_RECORD_COLUMNS } from './export-record';
import { PermanentError } from './errors';

/**
 * The type of a record column, end to end: how the source's SELECT hands it
 * over, how a JSON Lines record writes it, and which column type a table
 * destination gives it.
 *
 * - `string`, `uuid`: JSON strings (`uuid`: the 36-character text);
 * - `json`: a JSON value held as JSON text (an object in a record, VARIANT /
 *   JSONB in tables); empty text is null, so the value may be null even
 *   where the column is not `nullable`;
 * - `int64`, `uint64`: JSON numbers, exact beyond 2^53;
 * - `boolean`: JSON true / false;
 * - `timestamp`: UTC, ISO 8601 with `+00:00` in records, microseconds kept.
 */
export type ValueType = 'string' | 'uuid' | 'json' | 'int64' | 'uint64' | 'boolean' | 'timestamp';

export interface RecordColumn {
  readonly name: string;
  readonly type: ValueType;
  /** Whether the source may answer NULL (a record's null). Default false. */
  readonly nullable?: boolean;
}

/**
 * How a table destination (Snowflake, Postgres) applies a run's records;
 * each destination writes it in its own SQL.
 */
export type TableLoad =
  /**
   * The team's rows whose `column` (a timestamp) falls in the run's interval
   * are replaced by the run's records, in one transaction: each record of an
   * interval is in the table once, however often the interval runs (events).
   */
  | { readonly kind: 'replace-interval'; readonly column: string }
  /**
   * Records are upserted on `key`. A stored row changes only where the
   * incoming `versions` (numbers or timestamps) are higher, compared in
   * order: the first that differs decides (persons: the mapping's version,
   * then the person's). Re-running, retrying or backfilling an older
   * interval after newer ones never moves a row backwards. One exception,
   * at equal versions: a stored row whose `placeholder` column is NULL
   * (persons: `created_at`, a distinct_id whose person had no row yet) is
   * replaced by a record whose `placeholder` is not NULL.
   */
  | {
      readonly kind: 'upsert';
      readonly key: readonly string[];
      readonly versions: readonly string[];
      readonly placeholder?: string;
    };

/**
 * The columns a run's receipt is over (contract: Receipts): the checksum
 * sums sipHash64 of each record's `key` as text (the record's identity
 * within the export's team), `min_inserted_at` and `max_inserted_at` bound
 * its `time`.
 */
export interface ModelReceipt {
  readonly key: string;
  readonly time: string;
}

/** What a destination is told about the records of a run: which model, and their shape. */
export interface ModelSchema {
  /** `model` of the export: `events`, `persons`. */
  readonly name: string;
  /** `{table}` in S3 prefixes. */
  readonly table: string;
  /** The record's columns, in record order: JSON Lines keys, Parquet and table columns. */
  readonly columns: readonly RecordColumn[];
  readonly load: TableLoad;
  readonly receipt: ModelReceipt;
}

/**
 * The events model as a destination sees it (its plug-in is @bx/model-events):
 * what a destination test checks a table against when told no model.
 */
export const EVENTS_SCHEMA: ModelSchema = {
  name: 'events',
  table: 'events',
  columns: EVENT_RECORD_COLUMNS,
  load: { kind: 'replace-interval', column: 'inserted_at' },
  receipt: { key: 'uuid', time: 'inserted_at' },
};

/** The configuration a model's query reads: database and table names. */
export type ModelSourceConfig = Pick<
  Config,
  'CLICKHOUSE_DATABASE' | 'EVENTS_TABLE' | 'EVENTS_INTERVAL_COLUMN' | 'PERSONS_TABLE' | 'PERSON_DISTINCT_IDS_TABLE'
>;

/** What one run's query selects. */
export interface ModelQueryInput {
  config: ModelSourceConfig;
  teamId: number;
  /** The interval, epoch ms, `[start, end)`; whole seconds. */
  start: number;
  end: number;
  /** Event name filters (models with `eventFilters` only). */
  includeEvents?: readonly string[];
  excludeEvents?: readonly string[];
}

/** A SELECT for the source, without FORMAT: the source adds its own. */
export interface SourceQuery {
  sql: string;
  /** ClickHouse settings the query relies on, sent with it. */
  settings?: Readonly<Record<string, string | number>>;
}

/** What the reconciler's grouped query of one export counts (ModelPlugin.intervalChecksums). */
export interface IntervalChecksumsInput {
  config: ModelSourceConfig;
  teamId: number;
  /** Intervals `[start, end)`, epoch ms (whole seconds), sorted and not overlapping. */
  spans: readonly Span[];
  /** The start (unix seconds) of the interval a row's `column` falls in, an expression (0 or an interval not asked for outside them). */
  interval(column: string): string;
  /**
   * Hash each key as a destination's text holds it (`npm run verify`, which
   * reads the destination back): invalid UTF-8 as U+FFFD, the WHATWG
   * decoder's rule. Off (the reconciler, the receipts): the key's bytes.
   */
  keyAsText?: boolean;
}

/**
 * One model, as its package describes it (packages/models/<name>): its
 * record, how table destinations merge it, and its SQL, which runs on
 * ClickHouse 18.16 and on modern servers and selects the columns in
 * record order, in the wire form of their types (see the data path's
 * BatchFormat). The registry (packages/models/registry) lists the models;
 * the API, operations and the worker go through it, never switch on a name.
 *
 * The module that exports a model loads core only: `format` loads the data
 * path (`@bx/batch`) on first call. `F` is that format, a parameter so that
 * core need not know the batch.
 */
export interface ModelPlugin<F = unknown> extends ModelSchema {
  /** Whether `include_events` / `exclude_events` apply to the model. */
  readonly eventFilters: boolean;
  /** The run's SELECT. */
  query(input: ModelQueryInput): SourceQuery;
  /** How the worker's data path holds and writes the rows of `query`. */
  format(): F;
  /**
   * One grouped query answering, per interval, what its run would select
   * now, as its receipt counts it: `bx_interval` (start, unix seconds),
   * `bx_records` (count()), `bx_checksum` (the sum of sipHash64 of the
   * receipt's key, as text). The reconciler compares them with the
   * receipts. Events have theirs in IntervalChecksums (shared by teams).
   */
  intervalChecksums?(input: IntervalChecksumsInput): SourceQuery;
  /**
   * For a model whose query reads some columns in ClickHouse's binary form
   * where the table stores them so (events: UUIDs and timestamps, which
   * ClickHouse hands over much faster than their toString()): the table
   * whose column types decide, read by the source (at most once a minute;
   * the query must assert them, see typesGuard), and the run's SELECT with
   * the format of its rows (its layout, see FieldEncoding) for those types
   * (name → ClickHouse type). Without it the source runs `query` with
   * `format()`.
   */
  readonly typedColumns?: {
    table(config: ModelSourceConfig): { database: string; table: string };
    read(input: ModelQueryInput, types: ReadonlyMap<string, string>): { query: SourceQuery; format: F };
  };
  /**
   * For a model whose runs of different teams may share one query (the
   * source's SharedReads: tiny intervals, where ClickHouse's fixed cost per
   * query is most of a run's): the SELECT of the rows of `teams`, built as
   * the run's own (`query`, or `typedColumns.read` with `types`) with the
   * team condition over all of them and nothing else changed: the same
   * columns in the same wire form, each team's rows exactly those of its
   * own query and in the order it would give them. With no teams it must
   * still be built (never run): the shape runs share when theirs are equal.
   * `column` (int64, not nullable) holds each row's team. A plain SELECT,
   * without ORDER BY, LIMIT or FORMAT: the source appends a LIMIT.
   */
  readonly teams?: {
    readonly column: string;
    query(input: ModelQueryInput, teams: readonly number[], types?: ReadonlyMap<string, string>): SourceQuery;
  };
  /**
   * For a model whose query bounds its interval by a configurable column
   * (events: EVENTS_INTERVAL_COLUMN): that column, which a
   * `replace-interval` load must cut the table on too.
   */
  intervalColumn?(config: ModelSourceConfig): string;
}

/**
 * The model schema of a plug-in (what a destination sees), without its
 * functions; with `config`, a `replace-interval` load cuts on the column the
 * query bounds its interval by (`intervalColumn`).
 */
export function modelSchema(model: ModelPlugin | ModelSchema, config?: ModelSourceConfig): ModelSchema {
  let load = model.load;
  const column = config && 'intervalColumn' in model ? model.intervalColumn?.(config) : undefined;
  if (load.kind === 'replace-interval' && column) load = { kind: 'replace-interval', column };
  return { name: model.name, table: model.table, columns: model.columns, load, receipt: model.receipt };
}

/** The column a read-back counts a table's rows in their intervals by: the load's, `inserted_at` by default. */
export function readBackColumn(model?: ModelSchema): string {
  return model?.load.kind === 'replace-interval' ? model.load.column : 'inserted_at';
}

/**
 * The column a `replace-interval` load cuts a table on: a timestamp column of
 * the record, else a permanent error naming it (a query bounded by a column
 * the record lacks cannot be matched with rows in a table).
 */
export function intervalLoadColumn(model: ModelSchema, load: { readonly column: string }): string {
  const column = model.columns.find((c) => c.name === load.column && c.type === 'timestamp');
  if (!column) {
    throw new PermanentError(
      `the interval column ${load.column} (EVENTS_INTERVAL_COLUMN) is not a timestamp column of the ${model.name} ` +
        `record: a table destination replaces an interval's rows by it, so it must be one of ` +
        model.columns
          .filter((c) => c.type === 'timestamp')
          .map((c) => c.name)
          .join(', '),
      { code: 'IntervalColumnNotInRecord' },
    );
  }
  return column.name;
}
