import type { ModelSchema, ValueType } from '@bx/core';
import { quoteIdentifier } from './sql-text';

/**
 * Column types of the table the destination creates, by the record
 * column's type: JSON as VARIANT, 64-bit integers as INTEGER (NUMBER(38,0)
 * holds every UInt64). Timestamps are TIMESTAMP_NTZ holding UTC, named
 * explicitly so the account's TIMESTAMP_TYPE_MAPPING cannot change them.
 */
export const TABLE_COLUMN_TYPES: Readonly<Record<ValueType, string>> = {
  string: 'STRING',
  uuid: 'STRING',
  json: 'VARIANT',
  int64: 'INTEGER',
  uint64: 'INTEGER',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP_NTZ',
};

/** `CREATE TABLE IF NOT EXISTS "table" (...)` with the model's columns, resolved in the session's database and schema. */
export function createTableSql(table: string, model: ModelSchema): string {
  const columns = model.columns.map((c) => `${quoteIdentifier(c.name)} ${TABLE_COLUMN_TYPES[c.type]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(table)} (${columns}) COMMENT = 'Batch export ${model.name} table'`;
}

const TIMESTAMPS = ['timestamp_ntz', 'timestamp_ltz', 'timestamp_tz'];
const TEXT = ['text', 'variant'];
const NUMBERS = ['fixed', 'real'];

/**
 * The column types (as the SDK names them: `text`, `fixed`, `variant`,
 * `timestamp_ntz`, ...) that can take a value of each type when COPY loads it.
 */
const ACCEPTED_TYPES: Readonly<Record<ValueType, readonly string[]>> = {
  string: TEXT,
  uuid: TEXT,
  json: ['variant', 'object', 'text'],
  int64: [...NUMBERS, ...TEXT],
  uint64: [...NUMBERS, ...TEXT],
  boolean: ['boolean', ...TEXT],
  timestamp: [...TIMESTAMPS, ...TEXT],
};

/**
 * Columns the load compares, which must hold their values as such, not as
 * text: the interval's column (a re-run finds the interval's rows by it)
 * and the versions (text would compare `9` above `10`).
 */
function strictTypes(model: ModelSchema): ReadonlyMap<string, readonly string[]> {
  const load = model.load;
  const compared = load.kind === 'replace-interval' ? [load.column] : load.versions;
  return new Map(
    compared.map((name) => {
      const type = model.columns.find((c) => c.name === name)?.type;
      return [name, type === 'timestamp' ? TIMESTAMPS : NUMBERS];
    }),
  );
}

/**
 * What makes an existing table unable to hold the model's records, one line
 * per column: missing (COPY matches names case-sensitively, so `UUID` is not
 * `uuid`) or of a type the value does not convert to. Extra columns are fine.
 */
export function incompatibleColumns(
  columns: ReadonlyArray<{ name: string; type: string }>,
  model: ModelSchema,
): string[] {
  const problems: string[] = [];
  const strict = strictTypes(model);
  for (const { name, type } of model.columns) {
    const column = columns.find((c) => c.name === name);
    const accepted = strict.get(name) ?? ACCEPTED_TYPES[type];
    if (!column) {
      problems.push(`column "${name}" is missing (names are matched case-sensitively)`);
    } else if (!accepted.includes(column.type.toLowerCase())) {
      problems.push(
        `column "${name}" is ${column.type.toUpperCase()}, which cannot hold it (expected ${TABLE_COLUMN_TYPES[type]})`,
      );
    }
  }
  return problems;
}
