import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { PermanentError, RetryableError, errorMessage, type BatchExport, type Config, type Span } from '@bx/core';
import type { ClickHouseConfig } from './clickhouse-ping';
import { integerLiteral, quoteIdentifier, quoteString } from './sql-escape';

/** The rows of intervals of one export's events to count: the export's filters, as its runs select them. */
export interface IntervalChecksumsQuery {
  database: string;
  table: string;
  /** Column bounding an interval (ingestion time). */
  intervalColumn: string;
  teamId: number;
  /** Intervals `[start, end)` in epoch ms (whole seconds), sorted and not overlapping. */
  spans: readonly Span[];
  includeEvents?: readonly string[];
  excludeEvents?: readonly string[];
}

/** Where the events table is. */
export type EventsTable = Pick<Config, 'CLICKHOUSE_DATABASE' | 'EVENTS_TABLE' | 'EVENTS_INTERVAL_COLUMN'>;

/** What the source holds for one interval: what a receipt of it must say. */
export interface IntervalChecksum {
  records: number;
  /** Sum modulo 2^64 of sipHash64 of each uuid as text, decimal. */
  checksum: string;
}

/** Intervals per query: the CASE of the grouping key grows with them. */
const SPANS_PER_QUERY = 500;

/**
 * One grouped query for many intervals of one export: each row's interval
 * by `multiIf` over the interval ends (any calendar, gaps allowed: a row
 * between intervals gets 0 and is dropped), then `count()` and
 * `sum(sipHash64(toString(uuid)))` per interval, the receipt's checksum.
 * Runs unchanged on ClickHouse 18.16 and on modern servers (bounds as
 * `toDateTime(<unix seconds>)`, as the events query has them). The aliases
 * are names no events table has: an alias named like a column would replace
 * that column in the WHERE clause.
 */
export function buildIntervalChecksumsQuery(q: IntervalChecksumsQuery): string {
  if (q.spans.length === 0) throw new RangeError('no interval to count');
  const column = quoteIdentifier(q.intervalColumn);
  const at = (ms: number) => `toDateTime(${seconds(ms)})`;
  const cases: string[] = [];
  q.spans.forEach((span, i) => {
    const previous = q.spans[i - 1];
    if (previous && span.start < previous.end) throw new RangeError('intervals overlap or are not sorted');
    // A gap before this interval: its rows belong to none.
    if (previous && span.start > previous.end) cases.push(`${column} < ${at(span.start)}, 0`);
    cases.push(`${column} < ${at(span.end)}, ${seconds(span.start)}`);
  });
  const first = q.spans[0]!;
  const last = q.spans[q.spans.length - 1]!;
  const where = [
    `team_id = ${integerLiteral(q.teamId)}`,
    `${column} >= ${at(first.start)}`,
    `${column} < ${at(last.end)}`,
  ];
  if (q.includeEvents?.length) where.push(`event IN (${q.includeEvents.map(quoteString).join(', ')})`);
  if (q.excludeEvents?.length) where.push(`event NOT IN (${q.excludeEvents.map(quoteString).join(', ')})`);
  return (
    `SELECT toUInt32(multiIf(${cases.join(', ')}, 0)) AS bx_interval, count() AS bx_records,` +
    ` toString(sum(sipHash64(toString(uuid)))) AS bx_checksum\n` +
    `FROM ${quoteIdentifier(q.database)}.${quoteIdentifier(q.table)}\n` +
    `WHERE ${where.join('\n  AND ')}\n` +
    `GROUP BY bx_interval`
  );
}

/**
 * Counts and checksums of intervals in the events table, read with the
 * plain ClickHouse client: the reconciler (scheduler role) and `npm run
 * verify` use it, so it loads no native code (entry point
 * `@bx/clickhouse/checksums`).
 */
export class IntervalChecksums {
  private readonly client: ClickHouseClient;

  static fromConfig(config: ClickHouseConfig): IntervalChecksums {
    return new IntervalChecksums(
      createClient({
        url: config.CLICKHOUSE_URL,
        username: config.CLICKHOUSE_USER,
        password: config.CLICKHOUSE_PASSWORD,
        request_timeout: config.CLICKHOUSE_QUERY_TIMEOUT_MS,
        compression: { response: false, request: false },
        log: { level: ClickHouseLogLevel.OFF },
      }),
    );
  }

  constructor(client: ClickHouseClient) {
    this.client = client;
  }

  /** Per interval start (epoch ms), what the source holds; an interval without rows has no entry. */
  async byInterval(q: IntervalChecksumsQuery, signal?: AbortSignal): Promise<Map<number, IntervalChecksum>> {
    const out = new Map<number, IntervalChecksum>();
    for (let i = 0; i < q.spans.length; i += SPANS_PER_QUERY) {
      const spans = q.spans.slice(i, i + SPANS_PER_QUERY);
      let rows: Array<{ bx_interval: number | string; bx_records: number | string; bx_checksum: string }>;
      try {
        const result = await this.client.query({
          query: buildIntervalChecksumsQuery({ ...q, spans }),
          format: 'JSONEachRow',
          abort_signal: signal,
        });
        rows = await result.json();
      } catch (err) {
        // A server that answered with an error has a numeric code; anything else did not answer.
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && /^\d+$/.test(code)) {
          throw new PermanentError(`ClickHouse: ${errorMessage(err)}`, { code: `ClickHouse${code}`, cause: err });
        }
        throw new RetryableError(`ClickHouse: ${errorMessage(err)}`, { code: 'ClickHouseUnavailable', cause: err });
      }
      for (const row of rows) {
        const start = Number(row.bx_interval) * 1000;
        if (start !== 0) out.set(start, { records: Number(row.bx_records), checksum: row.bx_checksum });
      }
    }
    return out;
  }

  /**
   * What the source holds for intervals of an export: its team and event
   * filters, as its runs select the rows. Events only: the persons model's
   * records are per (team, distinct_id) and need a checksum query of their
   * own before they can be reconciled.
   */
  ofExport(
    exp: Pick<BatchExport, 'team_id' | 'model' | 'include_events' | 'exclude_events'>,
    spans: readonly Span[],
    table: EventsTable,
    signal?: AbortSignal,
  ): Promise<Map<number, IntervalChecksum>> {
    if (exp.model !== 'events') {
      throw new PermanentError(`receipts of the ${exp.model} model cannot be checked yet`, {
        code: 'UnsupportedModel',
      });
    }
    return this.byInterval(
      {
        database: table.CLICKHOUSE_DATABASE,
        table: table.EVENTS_TABLE,
        intervalColumn: table.EVENTS_INTERVAL_COLUMN,
        teamId: exp.team_id,
        spans,
        includeEvents: exp.include_events,
        excludeEvents: exp.exclude_events,
      },
      signal,
    );
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function seconds(ms: number): string {
  if (ms % 1000 !== 0) throw new RangeError(`interval bound ${ms} is not a whole second`);
  return integerLiteral(ms / 1000);
}
