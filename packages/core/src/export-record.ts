import { withoutLoneSurrogateEscapes } from './unicode-text';
import type { RecordColumn } from './model-plugin';

/**
 * One events row as ClickHouse's JSONEachRow hands it out: every value text
 * (64-bit integers arrive quoted), timestamps as `YYYY-MM-DD hh:mm:ss[.ffffff]`
 * in UTC, `inserted_at` possibly null.
 */
export interface EventRow {
  uuid: string;
  event: string;
  properties: string;
  distinct_id: string;
  team_id: string | number;
  timestamp: string;
  created_at: string;
  inserted_at: string | null;
  elements_chain: string;
  person_id: string;
  person_properties: string;
}

/** Columns read from the source, in the order of a record. */
export const EVENT_COLUMNS = [
  'uuid',
  'event',
  'properties',
  'distinct_id',
  'team_id',
  'timestamp',
  'created_at',
  'inserted_at',
  'elements_chain',
  'person_id',
  'person_properties',
] as const satisfies ReadonlyArray<keyof EventRow>;

/** The events record's columns with their types (see ValueType): what destinations make of each. */
export const EVENT_RECORD_COLUMNS: readonly RecordColumn[] = [
  { name: 'uuid', type: 'uuid' },
  { name: 'event', type: 'string' },
  { name: 'properties', type: 'json' },
  { name: 'distinct_id', type: 'string' },
  { name: 'team_id', type: 'int64' },
  { name: 'timestamp', type: 'timestamp' },
  { name: 'created_at', type: 'timestamp' },
  { name: 'inserted_at', type: 'timestamp', nullable: true },
  { name: 'elements_chain', type: 'string' },
  { name: 'person_id', type: 'uuid' },
  { name: 'person_properties', type: 'json' },
] satisfies ReadonlyArray<RecordColumn & { name: (typeof EVENT_COLUMNS)[number] }>;

/** `2024-01-01 00:00:00.123456` (UTC) → `2024-01-01T00:00:00.123456+00:00`. */
export function isoTimestamp(value: string | null): string | null {
  if (value === null || value === '') return null;
  return value.length >= 19 && value[10] === ' ' ? `${value.slice(0, 10)}T${value.slice(11)}+00:00` : value;
}

/**
 * The JSON text of a JSON-typed column: the stored text itself when it is valid
 * JSON on one line (no re-serialisation), the same text without its
 * insignificant whitespace when it spans lines, null when empty, and the raw
 * text as a JSON string when it is not JSON at all, so nothing is lost and the
 * line stays valid. A lone surrogate escape (`"\ud800"`) is written `\ufffd`,
 * as in Parquet and PostgreSQL (PostHog's writer replaces it too: orjson
 * refuses it); a pair stays. Never parsed and written again: that would round integers
 * beyond 2^53, turn 1e400 into null, cut long decimals and overflow the call
 * stack on deep nesting.
 */
export function jsonColumn(text: string): string {
  if (text === '') return 'null';
  let json: string;
  try {
    JSON.parse(text);
    json = text.includes('\n') || text.includes('\r') ? withoutWhitespace(text) : text;
  } catch {
    json = JSON.stringify(text);
  }
  // `"\ud800"` parses, but is no character: strict readers (DuckDB, JSONB, orjson) refuse the file.
  return json.includes('\\u') ? withoutLoneSurrogateEscapes(json) : json;
}

/**
 * Valid JSON text without the whitespace between its tokens (a line break
 * cannot be anywhere else): strings, numbers and literals as they are.
 */
function withoutWhitespace(json: string): string {
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // the escaped unit, a quote included
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      out += json.slice(from, i);
      from = i + 1;
    }
  }
  return out + json.slice(from);
}

/** team_id as a JSON number, exact even beyond 2^53. */
function integer(value: string | number): string {
  const text = String(value);
  return /^-?\d+$/.test(text) ? text : 'null';
}

/**
 * The contract's JSON Lines record for one row, without the newline:
 * `properties`/`person_properties` as JSON values, timestamps ISO 8601 with offset.
 */
export function toRecordLine(row: EventRow): string {
  const str = JSON.stringify;
  return (
    `{"uuid":${str(row.uuid)},"event":${str(row.event)},"properties":${jsonColumn(row.properties)}` +
    `,"distinct_id":${str(row.distinct_id)},"team_id":${integer(row.team_id)}` +
    `,"timestamp":${str(isoTimestamp(row.timestamp))},"created_at":${str(isoTimestamp(row.created_at))}` +
    `,"inserted_at":${str(isoTimestamp(row.inserted_at))},"elements_chain":${str(row.elements_chain)}` +
    `,"person_id":${str(row.person_id)},"person_properties":${jsonColumn(row.person_properties)}}`
  );
}
