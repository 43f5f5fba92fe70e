import type { EventFilter } from '@bx/core';
import { textForPostgres } from './hostile-values';

/**
 * The conditions that keep a statement to an export's own events (its
 * event filters) in a table other exports of the team may share: `"event"`
 * among `include_events`, not among `exclude_events`, each name as the
 * table holds it (NUL as U+FFFD, textForPostgres). `value` makes the SQL of
 * one list of names: a bound parameter, or a literal where none can be
 * bound. No conditions without filters.
 */
export function eventFilterConditions(filter: EventFilter | undefined, value: (names: string[]) => string): string[] {
  const out: string[] = [];
  const names = (list: readonly string[]) => value(list.map(textForPostgres));
  if (filter?.include_events.length) out.push(`"event" = ANY(${names(filter.include_events)})`);
  // NOT of a NULL comparison is NULL: a row without an event is not among the excluded.
  if (filter?.exclude_events.length) out.push(`NOT coalesce("event" = ANY(${names(filter.exclude_events)}), false)`);
  return out;
}

/**
 * `names` as a text[] literal, safe whatever the server's
 * standard_conforming_strings: an escape string (E'...'), whose backslashes
 * and quotes are escaped, each name an element of ARRAY[...].
 */
export function textArrayLiteral(names: readonly string[]): string {
  const literal = (name: string) => `E'${name.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return `ARRAY[${names.map(literal).join(', ')}]::text[]`;
}
