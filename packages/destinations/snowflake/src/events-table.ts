import { EVENT_COLUMNS } from '@bx/core';
import { quoteIdentifier } from './sql-text';

type EventColumn = (typeof EVENT_COLUMNS)[number];

/**
 * Column types of the table the destination creates: the contract's record,
 * JSON columns as VARIANT. Timestamps are TIMESTAMP_NTZ holding UTC, named
 * explicitly so the account's TIMESTAMP_TYPE_MAPPING cannot change them.
 */
export const EVENTS_TABLE_COLUMNS: Readonly<Record<EventColumn, string>> = {
  uuid: 'STRING',
  event: 'STRING',
  properties: 'VARIANT',
  distinct_id: 'STRING',
  team_id: 'INTEGER',
  timestamp: 'TIMESTAMP_NTZ',
  created_at: 'TIMESTAMP_NTZ',
  inserted_at: 'TIMESTAMP_NTZ',
  elements_chain: 'STRING',
  person_id: 'STRING',
  person_properties: 'VARIANT',
};

/** `CREATE TABLE IF NOT EXISTS "table" (...)`, resolved in the session's database and schema. */
export function createEventsTableSql(table: string): string {
  const columns = EVENT_COLUMNS.map((c) => `${quoteIdentifier(c)} ${EVENTS_TABLE_COLUMNS[c]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(table)} (${columns}) COMMENT = 'Batch export events table'`;
}

const TIMESTAMPS = ['timestamp_ntz', 'timestamp_ltz', 'timestamp_tz'];
const TEXT = ['text', 'variant'];

/**
 * The column types (as the SDK names them: `text`, `fixed`, `variant`,
 * `timestamp_ntz`, ...) that can take each record field when COPY loads it.
 * `inserted_at` must be a timestamp: a re-run finds the interval's rows by it.
 */
const ACCEPTED_TYPES: Readonly<Record<EventColumn, readonly string[]>> = {
  uuid: TEXT,
  event: TEXT,
  properties: ['variant', 'object', 'text'],
  distinct_id: TEXT,
  team_id: ['fixed', 'real', 'text', 'variant'],
  timestamp: [...TIMESTAMPS, ...TEXT],
  created_at: [...TIMESTAMPS, ...TEXT],
  inserted_at: TIMESTAMPS,
  elements_chain: TEXT,
  person_id: TEXT,
  person_properties: ['variant', 'object', 'text'],
};

/**
 * What makes an existing table unable to hold the records, one line per
 * column: missing (COPY matches names case-sensitively, so `UUID` is not
 * `uuid`) or of a type the value does not convert to. Extra columns are fine.
 */
export function incompatibleColumns(columns: ReadonlyArray<{ name: string; type: string }>): string[] {
  const problems: string[] = [];
  for (const name of EVENT_COLUMNS) {
    const column = columns.find((c) => c.name === name);
    if (!column) {
      problems.push(`column "${name}" is missing (names are matched case-sensitively)`);
    } else if (!ACCEPTED_TYPES[name].includes(column.type.toLowerCase())) {
      problems.push(
        `column "${name}" is ${column.type.toUpperCase()}, which cannot hold it (expected ${EVENTS_TABLE_COLUMNS[name]})`,
      );
    }
  }
  return problems;
}
