import { RECEIPTS_TABLE, ReadBackTally, readBackColumn, type IntervalReadBack, type ReadBackRequest } from '@bx/core';
import type { PostgresConfig } from './postgres-config';
import { PostgresConnection } from './postgres-connection';
import { eventFilterConditions, textArrayLiteral } from './event-filter-sql';
import { tableExists } from './receipts-table';
import { qualifiedName, quoteIdentifier, utcTimestamp } from './sql-text';

/** Rows fetched per round trip of the read-back's cursor. */
const FETCH_ROWS = 10_000;

// The operator's own verify reads every row of the range back: no cap on the answer.
const READ_BACK_SETTINGS = {
  connectMs: 30_000,
  lockMs: 60_000,
  statementMs: 0,
  applicationName: 'bx verify',
  maxAnswerBytes: Infinity,
};

/**
 * Reads back what the table holds of each interval (`npm run verify`): one
 * query over the export's team and the whole range, read through a cursor a
 * page at a time, each row counted in its interval by the column runs
 * replace on (`inserted_at`, or EVENTS_INTERVAL_COLUMN) and its uuid hashed as a receipt is;
 * only the export's own events (its event filters: the table may hold other exports' too). PostgreSQL has
 * no sipHash64, so the grouping and the checksum happen here, in one pass; a
 * second query reads the versions in batch_export_receipts. A missing table
 * holds nothing. Read-only: the transaction is rolled back.
 */
export async function readBackPostgres(
  config: PostgresConfig,
  request: ReadBackRequest,
): Promise<Map<number, IntervalReadBack>> {
  const spans = request.spans;
  const tally = new ReadBackTally(spans);
  if (spans.length === 0) return tally.result();
  const from = utcTimestamp(spans[0]!.start);
  const to = utcTimestamp(spans[spans.length - 1]!.end);
  const { schema, table_name: table } = config;
  const settings = { ...READ_BACK_SETTINGS, network: request.network };
  const conn = await PostgresConnection.open(config, settings, request.signal);
  try {
    if (await tableExists(conn, schema, table)) {
      const column = quoteIdentifier(readBackColumn(request.model));
      await conn.query('BEGIN READ ONLY', 'BEGIN');
      // DECLARE takes no bound parameters: the values are a number and two timestamps this code
      // wrote, and the filters' names as escape strings (textArrayLiteral).
      const where = [
        `"team_id" = ${Math.trunc(request.teamId)}`,
        `${column} >= '${from}'`,
        `${column} < '${to}'`,
        ...eventFilterConditions(request.events, textArrayLiteral),
      ];
      await conn.query(
        `DECLARE bx_read_back NO SCROLL CURSOR FOR
           SELECT "uuid"::text AS uuid, floor(extract(epoch FROM ${column}) * 1000)::int8 AS at
             FROM ${qualifiedName(schema, table)}
            WHERE ${where.join(' AND ')}`,
        'DECLARE',
      );
      for (;;) {
        const { rows } = await conn.query<{ uuid: string; at: string }>(
          `FETCH ${FETCH_ROWS} FROM bx_read_back`,
          'FETCH events',
        );
        // Whole milliseconds, cut down: 10:59:59.999999 rounded was the next interval's. As int8
        // (text, exact): a float8 loses digits when the login sets extra_float_digits below 1.
        for (const row of rows) tally.add(row.uuid, Number(row.at));
        if (rows.length < FETCH_ROWS) break;
      }
      await conn.query('ROLLBACK', 'ROLLBACK');
    }
    if (await tableExists(conn, schema, RECEIPTS_TABLE)) {
      const { rows } = await conn.query<{ start: string; version: number }>(
        `SELECT floor(extract(epoch FROM "data_interval_start") * 1000)::int8 AS start, "version"
           FROM ${qualifiedName(schema, RECEIPTS_TABLE)}
          WHERE "export_id" = $1 AND "data_interval_start" >= $2 AND "data_interval_start" < $3`,
        'SELECT receipts',
        [request.exportId, from, to],
      );
      for (const row of rows) tally.version(Number(row.start), Number(row.version));
    }
  } finally {
    await conn.close();
  }
  return tally.result();
}
