import { PermanentError, type EventFilter } from '@bx/core';

/** `"name"`: a case-sensitive identifier, as PostHog quotes the table name. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The COPY options of a load of the staged JSON Lines files (zstd). ALLOW_DUPLICATE:
 * Snowflake's JSON parser refuses an object with a key twice by default, and
 * ON_ERROR = ABORT_STATEMENT then failed the interval on every attempt for one
 * event whose properties text (as ClickHouse holds it) repeats a key; with it
 * the last value is kept, as JSONB and JSON.parse keep it.
 */
export const COPY_JSON_OPTIONS =
  `FILE_FORMAT = (TYPE = 'JSON' COMPRESSION = 'ZSTD' ALLOW_DUPLICATE = TRUE) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE` +
  ` PURGE = TRUE ON_ERROR = ABORT_STATEMENT`;

/**
 * A database, schema, warehouse or role name as Snowflake users write it: a
 * plain name stays unquoted (Snowflake folds it to upper case, so `analytics`
 * finds `ANALYTICS`), an already quoted name is kept exactly, and anything
 * else is quoted, since it could only be a quoted identifier anyway. The same
 * text works as a connection option and in SQL.
 */
export function objectIdentifier(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) return name;
  if (/^"(?:[^"]|"")+"$/.test(name)) return name;
  return quoteIdentifier(name);
}

/**
 * The stage folder of one run: `bx/<run id>/`. Every attempt of the run stages
 * below it, so the next attempt can remove whatever a crashed one left.
 */
export function runStageFolder(runId: string): string {
  return `bx/${runId.replace(/[^A-Za-z0-9_.-]/g, '_')}/`;
}

/**
 * `bx/<run id>/<attempt>-<nonce>/`, unique to one attempt. COPY skips a file
 * whose path and checksum it has loaded before (64 days of load metadata), and
 * an attempt that re-exports unchanged rows writes byte-identical files; a new
 * path per attempt keeps COPY from silently skipping them. The nonce matters
 * because attempt numbers repeat: a manual retry or a stalled job starts again
 * at the same attempt number.
 */
export function attemptStageFolder(runId: string, attempt: number, nonce: string): string {
  if (!/^[a-z0-9]+$/.test(nonce)) throw new RangeError(`stage nonce must be [a-z0-9]+, got ${nonce}`);
  return `${runStageFolder(runId)}${attempt}-${nonce}/`;
}

/** `@%"table"/<folder>`: a path in the table's own stage. */
export function tableStage(table: string, folder = ''): string {
  return `@%${quoteIdentifier(table)}/${folder}`;
}

/** A local file for PUT: `'file:///tmp/…'`. */
export function putSource(path: string): string {
  // PUT takes the file name as a URL, not as an escaped SQL string.
  if (/['\\\n\r]/.test(path)) {
    throw new PermanentError(`local file path ${path} cannot be used in PUT`, { code: 'InvalidLocalPath' });
  }
  return `'file://${path}'`;
}

/**
 * The conditions that keep a statement to an export's own events (its
 * event filters) in a table other exports of the team may share, the
 * names bound (`?`, pushed onto `binds`). No conditions without filters.
 */
export function eventFilterConditions(filter: EventFilter | undefined, binds: Array<string | number>): string[] {
  const out: string[] = [];
  const list = (names: readonly string[]) => {
    binds.push(...names);
    return names.map(() => '?').join(', ');
  };
  if (filter?.include_events.length) out.push(`"event" IN (${list(filter.include_events)})`);
  // A NOT IN of a NULL event is NULL: a row without an event is not among the excluded.
  if (filter?.exclude_events.length) out.push(`("event" IS NULL OR "event" NOT IN (${list(filter.exclude_events)}))`);
  return out;
}
