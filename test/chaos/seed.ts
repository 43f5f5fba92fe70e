import type { Span } from '@bx/core';
import type { TestClickHouse } from '../helpers/clickhouse';

/** How many rows one interval gets. */
export interface IntervalPlan {
  span: Span;
  rows: number;
}

/** Consecutive intervals of `widthMs` ending at `lastEnd`, with the given row counts (oldest first). */
export function plan(lastEnd: number, widthMs: number, rows: readonly number[]): IntervalPlan[] {
  const first = lastEnd - rows.length * widthMs;
  return rows.map((n, i) => ({ span: { start: first + i * widthMs, end: first + (i + 1) * widthMs }, rows: n }));
}

/**
 * Inserts each interval's rows with one INSERT … SELECT on the server (fast
 * even for 100k rows): ingestion times spread evenly from the interval's first
 * second to its last, so rows sit exactly on the start boundary and just
 * before the end. `padHex` characters of random hex in `properties` set the
 * row size, and so how long uploads take and whether they go multipart.
 */
export async function seed(
  ch: TestClickHouse,
  teamId: number,
  intervals: readonly IntervalPlan[],
  padHex = 256,
): Promise<void> {
  const pad = Array.from({ length: Math.max(1, Math.round(padHex / 32)) }, (_, i) => `hex(MD5(toString(rand(${i}))))`);
  for (const { span, rows } of intervals) {
    if (rows === 0) continue;
    const seconds = (span.end - span.start) / 1000;
    const at = `toDateTime(${span.start / 1000} + intDiv(number * ${seconds}, ${rows}))`;
    await ch.client.command({
      query: `
        INSERT INTO ${ch.database}.${ch.table}
        SELECT generateUUIDv4(), '$pageview',
          concat('{"$current_url":"https://example.com/', toString(number), '","pad":"', ${pad.join(', ')}, '"}'),
          ${at}, ${teamId}, concat('user-', toString(number % 97)), '', ${at}, generateUUIDv4(),
          '{"email":"someone@example.com"}', ${at}
        FROM system.numbers LIMIT ${rows}`,
    });
  }
}

/** `start_at` and `end_at` of an export (or backfill) covering exactly these intervals. */
export function range(intervals: readonly IntervalPlan[]): { start_at: string; end_at: string } {
  return {
    start_at: new Date(intervals[0]!.span.start).toISOString(),
    end_at: new Date(intervals[intervals.length - 1]!.span.end).toISOString(),
  };
}
