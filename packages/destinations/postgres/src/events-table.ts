import { EVENT_COLUMNS } from '@bx/core';
import { qualifiedName, quoteIdentifier } from './sql-text';

export type EventColumn = (typeof EVENT_COLUMNS)[number];

/**
 * Column types of the table the destination creates (contract: quoted
 * lower-case names, JSON columns as JSONB, timestamps as timestamptz, team_id
 * bigint, the rest text).
 */
export const EVENTS_TABLE_COLUMNS: Readonly<Record<EventColumn, string>> = {
  uuid: 'text',
  event: 'text',
  properties: 'jsonb',
  distinct_id: 'text',
  team_id: 'bigint',
  timestamp: 'timestamptz',
  created_at: 'timestamptz',
  inserted_at: 'timestamptz',
  elements_chain: 'text',
  person_id: 'text',
  person_properties: 'jsonb',
};

/**
 * The table and its index on `(team_id, inserted_at)`, which keeps the
 * deletion of an interval's rows at the start of every run cheap. The index is
 * named by the server (a name derived from the table's could exceed 63 bytes).
 */
export function createEventsTableSql(schema: string, table: string): string[] {
  const name = qualifiedName(schema, table);
  const columns = EVENT_COLUMNS.map((c) => `${quoteIdentifier(c)} ${EVENTS_TABLE_COLUMNS[c]}`).join(', ');
  return [
    `CREATE TABLE ${name} (${columns})`,
    `CREATE INDEX ON ${name} (${quoteIdentifier('team_id')}, ${quoteIdentifier('inserted_at')})`,
  ];
}

/**
 * How a record field is written in a binary COPY, by the type of the column
 * that receives it; `timestamp(p)` a timestamp column of `p` < 6 fractional
 * digits (see columnPlan).
 */
export type ColumnEncoding = 'text' | 'jsonb' | 'int8' | 'int4' | 'timestamp' | `timestamp(${number})`;

const TEXT = { text: 'text', varchar: 'text' } as const;
const JSON_TEXT = { jsonb: 'jsonb', json: 'text', text: 'text', varchar: 'text' } as const;
const TIMESTAMP = { timestamptz: 'timestamp', timestamp: 'timestamp' } as const;

/**
 * The column types (by `pg_type.typname`) that can take each record field, and
 * how the field is encoded for them. `timestamp` without time zone holds the
 * UTC wall clock. `inserted_at` must be a timestamp: a re-run finds the
 * interval's rows by it.
 */
const ACCEPTED: Readonly<Record<EventColumn, Readonly<Record<string, ColumnEncoding>>>> = {
  uuid: TEXT,
  event: TEXT,
  properties: JSON_TEXT,
  distinct_id: TEXT,
  team_id: { int8: 'int8', int4: 'int4' },
  timestamp: TIMESTAMP,
  created_at: TIMESTAMP,
  inserted_at: TIMESTAMP,
  elements_chain: TEXT,
  person_id: TEXT,
  person_properties: JSON_TEXT,
};

/** A column of an existing table, as pg_catalog describes it. */
export interface TableColumn {
  name: string;
  /** `pg_type.typname`: `text`, `jsonb`, `int8`, `timestamptz`, ... */
  type: string;
  /** `format_type()`: `character varying(200)`, `bigint`, ... (for messages). */
  display: string;
  notNull: boolean;
  hasDefault: boolean;
  /** `pg_attribute.atttypmod`: a timestamp's fractional digits, -1 for the default (6). */
  typmod?: number;
}

/** Either the encoding of every record field, in record order, or what keeps the table from holding the events. */
export type ColumnPlan = { encodings: ColumnEncoding[]; problems?: undefined } | { problems: string[] };

/**
 * Matches an existing table's columns with the record's, one problem per
 * column: missing (names are matched exactly: an unquoted `UUID` column is
 * `uuid`, a quoted `"UUID"` is not), of a type the value cannot go into, or an
 * extra NOT NULL column without a default (COPY would leave it empty). Other
 * extra columns are fine. A timestamp column of fewer fractional digits
 * than 6 (`timestamptz(0)`) gets values cut to them (see timestampEncoding).
 */
export function columnPlan(columns: readonly TableColumn[]): ColumnPlan {
  const problems: string[] = [];
  const encodings: ColumnEncoding[] = [];
  for (const name of EVENT_COLUMNS) {
    const column = columns.find((c) => c.name === name);
    const encoding = column && ACCEPTED[name][column.type];
    if (!column) {
      problems.push(`column "${name}" is missing (names are matched exactly, lower-case)`);
    } else if (!encoding) {
      const accepted = Object.keys(ACCEPTED[name]).join(', ');
      problems.push(`column "${name}" is ${column.display}, which cannot hold it (expected one of ${accepted})`);
    } else {
      encodings.push(encoding === 'timestamp' ? timestampEncoding(column) : encoding);
    }
  }
  const ours = new Set<string>(EVENT_COLUMNS);
  for (const column of columns) {
    if (!ours.has(column.name) && column.notNull && !column.hasDefault) {
      problems.push(`column "${column.name}" is NOT NULL without a default, and the export does not fill it`);
    }
  }
  return problems.length > 0 ? { problems } : { encodings };
}

/**
 * A timestamp column of `p` < 6 fractional digits: its values are cut to
 * them before they are sent. PostgreSQL rounds them on the way in (also in
 * a binary COPY), and an `inserted_at` of 10:59:59.6 in a `timestamptz(0)`
 * became 11:00:00: the next interval's, whose run then deleted it as a row
 * an earlier load had left. Cut, each row stays in its interval, as
 * ClickHouse's own toDateTime() cuts a DateTime64.
 */
function timestampEncoding(column: TableColumn): ColumnEncoding {
  const digits = column.typmod ?? -1;
  return digits >= 0 && digits < 6 ? `timestamp(${digits})` : 'timestamp';
}
