import { PermanentError, type ModelSchema, type TableLoad, type ValueType } from '@bx/core';
import type { TableColumn } from './events-table';
import { qualifiedName, quoteIdentifier } from './sql-text';

/** A model whose records are upserted by key (persons): what the upsert load needs of it. */
export type UpsertModel = ModelSchema & { load: Extract<TableLoad, { kind: 'upsert' }> };

/**
 * Column types of the table the destination creates for a model other than
 * events, and of the staging table its rows are copied into (the binary
 * COPY writes each value in its staging type; INSERT casts to the table's):
 * JSON as JSONB, timestamps as timestamptz, int64 as bigint, uint64 as
 * numeric(20,0) (every UInt64 exactly), text for the rest.
 */
export const MODEL_COLUMN_TYPES: Readonly<Record<ValueType, string>> = {
  string: 'text',
  uuid: 'text',
  json: 'jsonb',
  timestamp: 'timestamptz',
  int64: 'bigint',
  uint64: 'numeric(20,0)',
  boolean: 'boolean',
};

/** The model's table: its columns, quoted lower-case, and its key as the primary key (ON CONFLICT needs it). */
export function createModelTableSql(schema: string, table: string, model: UpsertModel): string[] {
  const columns = model.columns.map((c) => `${quoteIdentifier(c.name)} ${MODEL_COLUMN_TYPES[c.type]}`);
  const key = model.load.key.map(quoteIdentifier).join(', ');
  return [`CREATE TABLE ${qualifiedName(schema, table)} (${columns.join(', ')}, PRIMARY KEY (${key}))`];
}

/** The staging table's name: temporary tables are the session's own. */
export const STAGING_TABLE = 'bx_stage';

/** The temporary staging table of a load (private to the session), dropped at COMMIT or ROLLBACK. */
export function createStagingTableSql(staging: string, model: UpsertModel): string {
  const columns = model.columns.map((c) => `${quoteIdentifier(c.name)} ${MODEL_COLUMN_TYPES[c.type]}`);
  return `CREATE TEMPORARY TABLE ${quoteIdentifier(staging)} (${columns.join(', ')}) ON COMMIT DROP`;
}

/**
 * Fails permanently unless an existing table has every column of the model
 * (names matched exactly), naming each one missing. Types are the server's
 * to check: the INSERT casts each value to its column (a type it cannot take
 * is 42804, permanent), and ON CONFLICT needs a unique index on the key
 * (42P10, permanent).
 */
export function requireModelColumns(columns: readonly TableColumn[], name: string, model: UpsertModel): void {
  const have = new Set(columns.map((c) => c.name));
  const missing = model.columns.filter((c) => !have.has(c.name)).map((c) => `column "${c.name}" is missing`);
  if (missing.length > 0) {
    throw new PermanentError(`PostgreSQL table ${name} cannot hold the ${model.name}: ${missing.join('; ')}`, {
      code: 'IncompatibleTable',
    });
  }
}

/**
 * `INSERT INTO table ... ON CONFLICT (key) DO UPDATE ... WHERE` from the
 * staging table: a key's row is inserted, or updated only where the
 * incoming versions are higher, compared in order (a row comparison: the
 * first that differs decides), or, at equal versions, where the stored row
 * is a placeholder (its `placeholder` column NULL) and the incoming one is
 * not. So a retry, a re-run or a backfill of an older interval never moves
 * a stored row backwards. One row per key from the staging table (the
 * highest versions, a placeholder last), in key order: ON CONFLICT may not
 * touch a row twice, and two runs locking keys in one order cannot
 * deadlock each other.
 */
export function upsertSql(
  schema: string,
  table: string,
  staging: string,
  model: UpsertModel,
  existing: readonly TableColumn[] = [],
): string {
  const q = quoteIdentifier;
  const columns = model.columns.map((c) => q(c.name)).join(', ');
  const values = model.columns
    .map((c) =>
      cutTimestamp(
        q(c.name),
        existing.find((e) => e.name === c.name),
      ),
    )
    .join(', ');
  const key = model.load.key.map(q).join(', ');
  const keys = new Set(model.load.key);
  const sets = model.columns.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = EXCLUDED.${q(c.name)}`);
  const versions = model.load.versions.map(q);
  const incoming = versions.map((v) => `EXCLUDED.${v}`).join(', ');
  const stored = versions.map((v) => `t.${v}`).join(', ');
  const placeholder = model.load.placeholder === undefined ? undefined : q(model.load.placeholder);
  const order = versions.map((v) => `${v} DESC`);
  let newer = `(${incoming}) > (${stored})`;
  if (placeholder) {
    order.push(`${placeholder} IS NULL`);
    newer +=
      ` OR ((${incoming}) = (${stored})` + ` AND t.${placeholder} IS NULL AND EXCLUDED.${placeholder} IS NOT NULL)`;
  }
  return (
    `INSERT INTO ${qualifiedName(schema, table)} AS t (${columns})` +
    ` SELECT DISTINCT ON (${key}) ${values} FROM ${q(staging)}` +
    ` ORDER BY ${key}, ${order.join(', ')}` +
    ` ON CONFLICT (${key}) DO UPDATE SET ${sets.join(', ')} WHERE ${newer}`
  );
}

/**
 * A staging value for a timestamp column of `p` < 6 fractional digits
 * (`timestamptz(0)`, `timestamp(3)` of an existing table), cut to them: the
 * INSERT would round it, and an `_inserted_at` of 10:59:59.6 became
 * 11:00:00, the next interval's (as the events COPY cuts, see
 * timestampEncoding). Whole seconds plus the fraction's microseconds
 * floored to a multiple of 10^(6-p), in numeric: exact. Other columns as
 * they are.
 */
function cutTimestamp(column: string, existing: TableColumn | undefined): string {
  const digits = existing?.typmod ?? -1;
  const timestamp = existing?.type === 'timestamptz' || existing?.type === 'timestamp';
  if (!timestamp || digits < 0 || digits >= 6) return column;
  const unit = 10 ** (6 - digits);
  // ::numeric: before PostgreSQL 14 extract() answers double precision, which mod() and div() do not take.
  const micros = `div(mod(extract(microseconds FROM ${column})::numeric, 1000000), ${unit}) * ${unit}`;
  return `date_trunc('second', ${column}) + ${micros} * interval '1 microsecond'`;
}
