import { integerLiteral, quoteIdentifier } from '@bx/clickhouse/sql';

export interface PersonsQuery {
  database: string;
  /** PostHog's `person` (ReplacingMergeTree by `version`, sorted by team_id, id). */
  personsTable: string;
  /** PostHog's `person_distinct_id2` (ReplacingMergeTree by `version`, sorted by team_id, distinct_id). */
  distinctIdsTable: string;
  teamId: number;
  /** `[start, end)` on `_timestamp`, epoch ms; whole seconds. */
  start: number;
  end: number;
}

/**
 * ClickHouse settings the query relies on: a distinct_id whose person has
 * no row yet gets the type's defaults from the LEFT JOIN (0, ''), not NULLs
 * that RowBinary would frame differently, whatever the user's profile says.
 */
export const PERSONS_QUERY_SETTINGS = { join_use_nulls: 0 } as const;

/**
 * The persons SELECT of one run: one row per (team_id, distinct_id) whose
 * mapping has a row with `_timestamp` in `[start, end)`, or whose current
 * person has one, with the latest mapping and the latest person among rows
 * before `end` (so a re-run of an old interval selects the same rows).
 *
 * - Latest means highest `version`, taken with argMax: parts may not be
 *   merged yet, and FINAL would merge the team's whole table per query.
 *   Of rows with equal versions, the one with the latest `_timestamp`
 *   (ReplacingMergeTree keeps the last written); argMax by version alone
 *   kept whichever it read first, so a run before a merge and one after it
 *   disagreed. Rows equal in both are told apart by nothing stored.
 * - Bounded on a team with millions of persons: the person table (the
 *   large one: properties) is read only for the persons in question, by its
 *   sort key (`id IN ...`), and the mapping table for the distinct_ids in
 *   question, by its sort key. Finding them scans two narrow columns of the
 *   team's rows (`_timestamp`; the mapping's `person_id`, to find the
 *   distinct_ids of a person changed in the interval: the table is sorted
 *   by distinct_id, and no other table says which distinct_ids a person has).
 * - A distinct_id whose person has no row yet comes out with properties
 *   `{}`, person_version 0 and created_at NULL; it comes out again in the
 *   interval where the person's first row arrives.
 *
 * Columns, in record order and wire form (RowBinary, see the data path's
 * BatchFormat): team_id Int64, distinct_id, person_id (text), properties,
 * person_version UInt64, person_distinct_id_version Int64, created_at
 * Nullable text, is_deleted Int64 (0/1: mapping or person deleted),
 * _inserted_at text (the later `_timestamp` of the two rows). Both
 * timestamps are written in UTC whatever the columns' zone (or the
 * server's, for a column without one, as PostHog's tables have them).
 *
 * Runs unchanged on ClickHouse 18.16 and on modern servers: no CTEs,
 * explicit ANY LEFT JOIN with aliased subqueries, aliases that never name
 * a column (an alias named like a column would replace it inside the
 * aggregates), bounds as `toDateTime(<unix seconds>)`.
 */
export function buildPersonsQuery(q: PersonsQuery): string {
  const person = `${quoteIdentifier(q.database)}.${quoteIdentifier(q.personsTable)}`;
  const mapping = `${quoteIdentifier(q.database)}.${quoteIdentifier(q.distinctIdsTable)}`;
  const team = `team_id = ${integerLiteral(q.teamId)}`;
  const from = `toDateTime(${seconds(q.start)})`;
  const before = `_timestamp < toDateTime(${seconds(q.end)})`;
  const inside = `_timestamp >= ${from} AND ${before}`;

  const mappedInside = `SELECT distinct_id FROM ${mapping} WHERE ${team} AND ${inside}`;
  const personsInside = `SELECT id FROM ${person} WHERE ${team} AND ${inside}`;
  // Distinct_ids to look at: mapped in the interval, or ever mapped to a person changed in it.
  const distinctIds =
    `${mappedInside}\n      UNION ALL\n      SELECT distinct_id FROM ${mapping}` +
    ` WHERE ${team} AND ${before} AND person_id IN (${personsInside})`;
  // Persons to read: changed in the interval, or ever mapped from a distinct_id mapped in it.
  const personIds =
    `${personsInside}\n      UNION ALL\n      SELECT person_id FROM ${mapping}` +
    ` WHERE ${team} AND ${before} AND distinct_id IN (${mappedInside})`;

  const latestMapping = `
    SELECT
      distinct_id,
      argMax(person_id, (version, _timestamp)) AS bx_person_id,
      max(version) AS bx_mapping_version,
      argMax(is_deleted, (version, _timestamp)) AS bx_mapping_deleted,
      argMax(_timestamp, (version, _timestamp)) AS bx_mapping_at,
      max(_timestamp >= ${from}) AS bx_mapping_touched
    FROM ${mapping}
    WHERE ${team} AND ${before}
      AND distinct_id IN (
      ${distinctIds})
    GROUP BY distinct_id`;
  const latestPerson = `
    SELECT
      id AS bx_person_id,
      argMax(properties, (version, _timestamp)) AS bx_properties,
      max(version) AS bx_person_version,
      argMax(is_deleted, (version, _timestamp)) AS bx_person_deleted,
      argMax(created_at, (version, _timestamp)) AS bx_created_at,
      argMax(_timestamp, (version, _timestamp)) AS bx_person_at,
      max(_timestamp >= ${from}) AS bx_person_touched,
      toUInt8(1) AS bx_person_found
    FROM ${person}
    WHERE ${team} AND ${before}
      AND id IN (
      ${personIds})
    GROUP BY id`;

  const found = 'bx_person_found = 1';
  return (
    `SELECT
  toInt64(${integerLiteral(q.teamId)}),
  distinct_id,
  toString(bx_person_id),
  if(${found}, bx_properties, '{}'),
  toUInt64(if(${found}, bx_person_version, 0)),
  toInt64(bx_mapping_version),
  if(${found}, toNullable(toString(bx_created_at, 'UTC')), NULL),
  toInt64(bx_mapping_deleted != 0 OR (${found} AND bx_person_deleted != 0)),
  toString(if(${found} AND bx_person_at > bx_mapping_at, bx_person_at, bx_mapping_at), 'UTC')\n` +
    `FROM (${latestMapping}\n) AS bx_mapping\n` +
    `ANY LEFT JOIN (${latestPerson}\n) AS bx_person USING (bx_person_id)\n` +
    `WHERE bx_mapping_touched = 1 OR bx_person_touched = 1`
  );
}

function seconds(ms: number): string {
  if (ms % 1000 !== 0) throw new RangeError(`interval bound ${ms} is not a whole second`);
  return integerLiteral(ms / 1000);
}
