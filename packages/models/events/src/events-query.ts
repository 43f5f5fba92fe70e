import { integerLiteral, quoteIdentifier, quoteString } from '@bx/clickhouse/sql';

export interface EventsQuery {
  database: string;
  table: string;
  /** Column bounding the interval (ingestion time). */
  intervalColumn: string;
  teamId: number;
  /** `[start, end)` in epoch ms; whole seconds. */
  start: number;
  end: number;
  includeEvents?: readonly string[];
  excludeEvents?: readonly string[];
}

/**
 * The values of a record, in the order `FORMAT RowBinary` frames them (see
 * row-binary-frames.ts): text for UUIDs and timestamps (the column's own
 * time zone, UTC by contract, with microseconds on DateTime64), Int64 for
 * team_id, and inserted_at always Nullable. No aliases: an alias named like a
 * column would replace that column in the WHERE clause.
 */
const SELECT_LIST = [
  'toString(uuid)',
  'event',
  'properties',
  'distinct_id',
  'toInt64(team_id)',
  'toString(timestamp)',
  'toString(created_at)',
  'toNullable(toString(inserted_at))',
  'elements_chain',
  'toString(person_id)',
  'person_properties',
].join(', ');

/**
 * The SELECT of one run. Runs unchanged on ClickHouse 18.16 (DateTime) and on
 * modern servers (DateTime64): bounds are `toDateTime(<unix seconds>)`, which
 * is absolute and compares exactly with both column types.
 */
export function buildEventsQuery(q: EventsQuery): string {
  const column = quoteIdentifier(q.intervalColumn);
  const where = [
    `team_id = ${integerLiteral(q.teamId)}`,
    `${column} >= toDateTime(${seconds(q.start)})`,
    `${column} < toDateTime(${seconds(q.end)})`,
  ];
  if (q.includeEvents?.length) where.push(`event IN (${q.includeEvents.map(quoteString).join(', ')})`);
  if (q.excludeEvents?.length) where.push(`event NOT IN (${q.excludeEvents.map(quoteString).join(', ')})`);
  return (
    `SELECT ${SELECT_LIST}\n` +
    `FROM ${quoteIdentifier(q.database)}.${quoteIdentifier(q.table)}\n` +
    `WHERE ${where.join('\n  AND ')}`
  );
}

function seconds(ms: number): string {
  if (ms % 1000 !== 0) throw new RangeError(`interval bound ${ms} is not a whole second`);
  return integerLiteral(ms / 1000);
}
