import { EVENT_RECORD_COLUMNS, FieldEncoding, dateTime64 } from '@bx/core';
import { integerLiteral, quoteIdentifier, quoteString, typesGuard } from '@bx/clickhouse/sql';

export interface EventsQuery {
  database: string;
  table: string;
  /** Column bounding the interval (ingestion time). */
  intervalColumn: string;
  teamId: number;
  /** Instead of `teamId`'s rows, those of these teams: runs that share one query (told apart by team_id). */
  teams?: readonly number[];
  /** `[start, end)` in epoch ms; whole seconds. */
  start: number;
  end: number;
  includeEvents?: readonly string[];
  excludeEvents?: readonly string[];
}

/** A record column's place in the row (its field in an events batch). */
function field(name: string): number {
  const at = EVENT_RECORD_COLUMNS.findIndex((c) => c.name === name);
  if (at < 0) throw new RangeError(`no events column ${name}`);
  return at;
}

/** Every field text (toString of UUIDs and timestamps): the layout of a table of other types. */
const TEXT_LAYOUT: Readonly<Uint8Array> = new Uint8Array(EVENT_RECORD_COLUMNS.length);

/**
 * How the events query reads each field (FieldEncoding by field, see
 * `eventsLayout`): as ClickHouse stores a UUID, DateTime or DateTime64
 * column (binary in RowBinary; formatted on our side, in C), or as text.
 *
 * Why binary: toString() of the two UUIDs and three timestamps was about 40%
 * of ClickHouse's CPU for the query on rows of 400 bytes (18.16, 1.9M rows,
 * user + system time from system.query_log: 0.80-0.98 s with toString,
 * 0.53-0.62 s without, four runs each with curl; in a zstd export, three
 * alternating runs each, 0.95-1.20 s against 0.61-0.69 s, the worker's
 * main thread 0.69-0.88 s against 0.75-0.89 s, the file byte for byte the
 * same), and ClickHouse shares the machine with the worker; the rows are 90
 * bytes smaller on the wire too. On the default rows (1,480 bytes) it was
 * about 1 s of 9-11 s (one pair of runs).
 */
const SELECTED: ReadonlyArray<readonly [number, string, (text: boolean) => string]> = [
  [field('uuid'), 'uuid', (text) => (text ? 'toString(uuid)' : 'uuid')],
  [field('event'), 'event', () => 'event'],
  [field('properties'), 'properties', () => 'properties'],
  [field('distinct_id'), 'distinct_id', () => 'distinct_id'],
  [field('team_id'), 'team_id', () => 'toInt64(team_id)'],
  [field('timestamp'), 'timestamp', (text) => (text ? 'toString(timestamp)' : 'timestamp')],
  [field('created_at'), 'created_at', (text) => (text ? 'toString(created_at)' : 'created_at')],
  [
    field('inserted_at'),
    'inserted_at',
    (text) => (text ? 'toNullable(toString(inserted_at))' : 'toNullable(inserted_at)'),
  ],
  [field('elements_chain'), 'elements_chain', () => 'elements_chain'],
  [field('person_id'), 'person_id', (text) => (text ? 'toString(person_id)' : 'person_id')],
  [field('person_properties'), 'person_properties', () => 'person_properties'],
];

/**
 * The layout of the events query's rows for a table whose columns have
 * `types` (see columnTypes): `uuid` and `person_id` binary where they are
 * UUIDs, the timestamps where they are DateTime or DateTime64 (their
 * instant, written in UTC), anything else as text (toString).
 */
export function eventsLayout(types: ReadonlyMap<string, string>): Uint8Array {
  const layout = new Uint8Array(TEXT_LAYOUT);
  for (const f of [field('uuid'), field('person_id')]) {
    if (types.get(FIELD_COLUMNS[f]!) === 'UUID') layout[f] = FieldEncoding.UUID;
  }
  for (const f of [field('timestamp'), field('created_at'), field('inserted_at')]) {
    const type = /^(?:Nullable\((.*)\)|(.*))$/.exec(types.get(FIELD_COLUMNS[f]!) ?? '')!;
    const inner = type[1] ?? type[2]!;
    // Only inserted_at is selected as Nullable (toNullable): a nullable timestamp or created_at is read as text.
    if (type[1] !== undefined && f !== field('inserted_at')) continue;
    const dt64 = /^DateTime64\((\d)(?:, '[^']*')?\)$/.exec(inner);
    if (/^DateTime(?:\('[^']*'\))?$/.test(inner)) layout[f] = FieldEncoding.DATE_TIME;
    else if (dt64) layout[f] = dateTime64(Number(dt64[1]));
  }
  return layout;
}

const FIELD_COLUMNS = SELECTED.map(([, column]) => column);

/** The types RowBinary frames as a String, which a text field may select as it is. */
const STRING_TYPES = new Set(['String', 'LowCardinality(String)']);

/** What a text field of a Nullable column reads for NULL: the default of the contract's non-Nullable type. */
const NULL_TEXT: Readonly<Record<string, string>> = {
  uuid: '00000000-0000-0000-0000-000000000000',
  person_id: '00000000-0000-0000-0000-000000000000',
  timestamp: '1970-01-01 00:00:00',
  created_at: '1970-01-01 00:00:00',
};

/**
 * A text field's expression for a column of `type` (unknown: as the
 * contract has it): a String as it is (`select`, toString() where the
 * contract's type is not text), anything else through toString(), which
 * RowBinary frames as a String (an Enum's name, a FixedString's bytes, a
 * number's digits; a DateTime in UTC whatever its zone), a Nullable one's
 * NULL as what the contract's non-Nullable type holds for a missing value
 * ('' for text, which the record writes as null for JSON; the zero UUID;
 * the epoch). team_id stays toInt64 (a Nullable one's NULL is 0, never
 * selected). Else RowBinary framed the column's own type and the run failed
 * on every attempt with 'ClickHouse stream broken'.
 */
function textExpression(column: string, select: string, type: string | undefined): string {
  if (type === undefined || STRING_TYPES.has(type) || column === 'inserted_at') return select;
  const nullable = /^(?:LowCardinality\()?Nullable\(/.test(type);
  if (column === 'team_id') return nullable ? `ifNull(${select}, 0)` : select;
  const instant = /^(?:Nullable\()?DateTime/.test(type) ? `toString(${quoteIdentifier(column)}, 'UTC')` : undefined;
  const text = instant ?? (select.startsWith('toString(') ? select : `toString(${quoteIdentifier(column)})`);
  return nullable ? `ifNull(${text}, ${quoteString(NULL_TEXT[column] ?? '')})` : text;
}

/**
 * The select list for `layout`, in the order `FORMAT RowBinary` frames it
 * (see row-binary-frames.ts): text fields as String (UUIDs and timestamps
 * through toString(): the column's own time zone, UTC by contract, with the
 * fraction of a DateTime64), the binary ones as stored, Int64 for team_id,
 * and inserted_at always Nullable. No aliases: an alias named like a column
 * would replace that column in the WHERE clause.
 */
function selectList(layout: Readonly<Uint8Array>, types?: ReadonlyMap<string, string>): string {
  return SELECTED.map(([field, column, select]) =>
    layout[field] === FieldEncoding.TEXT ? textExpression(column, select(true), types?.get(column)) : select(false),
  ).join(', ');
}

/**
 * The SELECT of one run, its fields read as `layout` says (text by
 * default). Runs unchanged on ClickHouse 18.16 (DateTime) and on modern
 * servers (DateTime64): bounds are `toDateTime(<unix seconds>)`, which is
 * absolute and compares exactly with both column types. With `types` (those
 * the layout was made from, see eventsLayout), the query asserts the types
 * of the columns it reads binary (typesGuard): ClickHouse refuses it if
 * they changed since they were read, instead of sending rows the layout
 * would misread. With several teams (runs that share one query), the same
 * SELECT of all their rows: `team_id IN (...)` instead of `team_id = ...`,
 * nothing else changed, so each team's rows are those of its own query.
 */
export function buildEventsQuery(
  q: EventsQuery,
  layout: Readonly<Uint8Array> = TEXT_LAYOUT,
  types?: ReadonlyMap<string, string>,
): string {
  const column = quoteIdentifier(q.intervalColumn);
  const team = q.teams
    ? `team_id IN (${q.teams.map(integerLiteral).join(', ')})`
    : `team_id = ${integerLiteral(q.teamId)}`;
  const where = [team, `${column} >= toDateTime(${seconds(q.start)})`, `${column} < toDateTime(${seconds(q.end)})`];
  // As text where event is not a String: an Enum refuses a name it does not hold (code 49), on every attempt.
  const event = textExpression('event', 'event', types?.get('event'));
  if (q.includeEvents?.length) where.push(`${event} IN (${q.includeEvents.map(quoteString).join(', ')})`);
  if (q.excludeEvents?.length) where.push(`${event} NOT IN (${q.excludeEvents.map(quoteString).join(', ')})`);
  const binary = SELECTED.filter(([field]) => layout[field] !== FieldEncoding.TEXT);
  if (binary.length) {
    if (!types) throw new TypeError('a binary layout needs the column types it was made from');
    where.push(typesGuard(binary.map(([, column]) => [column, types.get(column) ?? ''] as const)));
  }
  return (
    `SELECT ${selectList(layout, types)}\n` +
    `FROM ${quoteIdentifier(q.database)}.${quoteIdentifier(q.table)}\n` +
    `WHERE ${where.join('\n  AND ')}`
  );
}

function seconds(ms: number): string {
  if (ms % 1000 !== 0) throw new RangeError(`interval bound ${ms} is not a whole second`);
  return integerLiteral(ms / 1000);
}
