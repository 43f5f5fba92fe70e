import type { Span } from '@bx/core';
import { integerLiteral, quoteIdentifier } from '@bx/clickhouse/sql';
import type { PersonsQuery } from './persons-query';

export interface PersonsChecksumsQuery extends Omit<PersonsQuery, 'start' | 'end'> {
  /** Intervals `[start, end)` on `_timestamp`, epoch ms (whole seconds), sorted and not overlapping. */
  spans: readonly Span[];
  /** The interval start (unix seconds) of a row's `column`, an expression (see IntervalChecksums). */
  interval(column: string): string;
  /**
   * Hash each distinct_id as the destination's text holds it: each invalid
   * UTF-8 sequence as U+FFFD (ICU's convertCharset replaces as the WHATWG
   * decoder does, the rule of the JSON Lines records and of a Parquet
   * reader), for `npm run verify`. Otherwise its bytes, as the receipt.
   */
  keyAsText?: boolean;
}

/**
 * What the runs of many intervals of a persons export would select now,
 * in one grouped query: per interval, `count()` and
 * `sum(sipHash64(distinct_id))` of its records (the receipt's records and
 * checksum), as `bx_interval` (start, unix seconds), `bx_records`,
 * `bx_checksum`. The reconciler compares them with the receipts.
 *
 * Per interval the set is the run's (buildPersonsQuery): the distinct_ids
 * whose mapping has a row in the interval, or whose latest person among
 * mapping rows before the interval's end has a row in it. So each
 * candidate distinct_id's mapping rows are taken once per interval whose
 * end is after them (arrayJoin over the intervals), for its latest person
 * there; a person's rows give the intervals it was changed in. Candidates
 * are found as the run finds them, over the whole window: mapped in it, or
 * ever mapped to a person changed in it. The cost grows with the window's
 * changes times its intervals, not with the team's history.
 *
 * Runs on ClickHouse 18.16 and on modern servers (as the run's query: no
 * CTEs, ANY LEFT JOIN on aliased subqueries, aliases that name no column).
 */
export function buildPersonsChecksumsQuery(q: PersonsChecksumsQuery): string {
  if (q.spans.length === 0) throw new RangeError('no interval to count');
  q.spans.forEach((span, i) => {
    if (i > 0 && span.start < q.spans[i - 1]!.end) throw new RangeError('intervals overlap or are not sorted');
  });
  const person = `${quoteIdentifier(q.database)}.${quoteIdentifier(q.personsTable)}`;
  const mapping = `${quoteIdentifier(q.database)}.${quoteIdentifier(q.distinctIdsTable)}`;
  const team = `team_id = ${integerLiteral(q.teamId)}`;
  const before = `_timestamp < toDateTime(${seconds(q.spans[q.spans.length - 1]!.end)})`;
  const inside = `_timestamp >= toDateTime(${seconds(q.spans[0]!.start)}) AND ${before}`;
  const spans = `[${q.spans.map((s) => `(toUInt32(${seconds(s.start)}), toUInt32(${seconds(s.end)}))`).join(', ')}]`;

  const personsInside = `SELECT id FROM ${person} WHERE ${team} AND ${inside}`;
  const candidates =
    `SELECT distinct_id FROM ${mapping} WHERE ${team} AND ${inside}\n      UNION ALL\n` +
    `      SELECT distinct_id FROM ${mapping} WHERE ${team} AND ${before} AND person_id IN (${personsInside})`;
  // Each candidate's mapping rows, once per interval that ends after them.
  const mappingRows = `
      SELECT distinct_id, person_id, version, _timestamp, arrayJoin(${spans}) AS bx_span
      FROM (
        SELECT distinct_id, person_id, version, _timestamp FROM ${mapping}
        WHERE ${team} AND ${before} AND distinct_id IN (
      ${candidates})
      )
      WHERE toUInt32(_timestamp) < tupleElement(bx_span, 2)`;
  const latestMapping = `
    SELECT
      distinct_id,
      tupleElement(bx_span, 1) AS bx_interval,
      argMax(person_id, (version, _timestamp)) AS bx_person_id,
      max(toUInt32(_timestamp) >= tupleElement(bx_span, 1)) AS bx_mapping_touched
    FROM (${mappingRows}
    )
    GROUP BY distinct_id, bx_interval`;
  const personChanges = `
    SELECT
      id AS bx_person_id,
      toUInt32(${q.interval('_timestamp')}) AS bx_interval,
      toUInt8(count() > 0) AS bx_person_touched
    FROM ${person}
    WHERE ${team} AND ${inside}
    GROUP BY id, bx_interval`;
  const key = q.keyAsText ? "convertCharset(distinct_id, 'UTF-8', 'UTF-8')" : 'distinct_id';
  return (
    `SELECT bx_interval, count() AS bx_records, toString(sum(sipHash64(${key}))) AS bx_checksum\n` +
    `FROM (${latestMapping}\n) AS bx_mapping\n` +
    `ANY LEFT JOIN (${personChanges}\n) AS bx_person USING (bx_person_id, bx_interval)\n` +
    `WHERE bx_mapping_touched = 1 OR bx_person_touched = 1\n` +
    `GROUP BY bx_interval`
  );
}

function seconds(ms: number): string {
  if (ms % 1000 !== 0) throw new RangeError(`interval bound ${ms} is not a whole second`);
  return integerLiteral(ms / 1000);
}
