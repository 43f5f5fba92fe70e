/**
 * PostgreSQL's SQL text: identifiers quoted so that names keep their case and
 * may hold any character (`"` doubled). Values never go into SQL text: they
 * are bound parameters.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"`. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
}

/** An epoch-ms instant as a timestamptz literal for a bound parameter: `2024-01-01T10:00:00.000+00:00`. */
export { utcTimestamp } from '@bx/core';
