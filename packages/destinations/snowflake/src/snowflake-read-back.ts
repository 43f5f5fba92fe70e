import {
  PermanentError,
  RECEIPTS_TABLE,
  ReadBackTally,
  readBackColumn,
  utcTimestamp as utc,
  type IntervalReadBack,
  type ReadBackRequest,
} from '@bx/core';
import type { SnowflakeConfig } from './snowflake-config';
import { DEFAULT_SNOWFLAKE_OPTIONS } from './snowflake-destination';
import { SnowflakeSession, useContext } from './snowflake-session';
import { eventFilterConditions, quoteIdentifier } from './sql-text';

/**
 * Reads back what the table holds of each interval (`npm run verify`): one
 * query over the export's team and the whole range, streamed, each row
 * counted in its interval by the column runs replace on (`inserted_at`, or
 * EVENTS_INTERVAL_COLUMN) and
 * its uuid hashed as a receipt is. Snowflake has no sipHash64, so the
 * grouping and the checksum happen here, in the same single pass; a second
 * query reads the versions in batch_export_receipts. A missing table holds
 * nothing.
 */
export async function readBackSnowflake(
  config: SnowflakeConfig,
  request: ReadBackRequest,
): Promise<Map<number, IntervalReadBack>> {
  const spans = request.spans;
  const tally = new ReadBackTally(spans);
  if (spans.length === 0) return tally.result();
  const from = spans[0]!.start;
  const to = spans[spans.length - 1]!.end;
  const timeouts = DEFAULT_SNOWFLAKE_OPTIONS.timeouts;
  const session = await SnowflakeSession.open(config, timeouts, request.signal, request.network);
  try {
    await useContext(session, config);
    const column = quoteIdentifier(readBackColumn(request.model));
    // Only the export's own events: the table may hold other exports' of the team too.
    const binds: Array<string | number> = [request.teamId, utc(from), utc(to)];
    const where = [`"team_id" = ?`, `${column} >= ?`, `${column} < ?`, ...eventFilterConditions(request.events, binds)];
    await missingAsEmpty(
      session.each<{ uuid: unknown; bx_at: unknown }>(
        `SELECT "uuid", ${column} AS "bx_at" FROM ${quoteIdentifier(config.table_name)} WHERE ${where.join(' AND ')}`,
        'SELECT events',
        binds,
        (row) => tally.add(String(row.uuid), instant(row.bx_at)),
      ),
    );
    await missingAsEmpty(
      session.each<{ data_interval_start: unknown; version: unknown }>(
        `SELECT "data_interval_start", "version" FROM ${quoteIdentifier(RECEIPTS_TABLE)}` +
          ` WHERE "export_id" = ? AND "data_interval_start" >= ? AND "data_interval_start" < ?`,
        'SELECT receipts',
        [request.exportId, utc(from), utc(to)],
        (row) => tally.version(instant(row.data_interval_start), Number(row.version)),
      ),
    );
  } finally {
    await session.close();
  }
  return tally.result();
}

/** A timestamp as the SDK hands it (a Date for TIMESTAMP_*), in epoch ms. */
function instant(value: unknown): number {
  const ms = value instanceof Date ? value.getTime() : Date.parse(String(value));
  if (Number.isNaN(ms)) throw new PermanentError(`not a timestamp: ${String(value)}`, { code: 'BadTimestamp' });
  return ms;
}

/** A table that does not exist (no run has written it yet) holds no rows. */
async function missingAsEmpty(query: Promise<void>): Promise<void> {
  try {
    await query;
  } catch (err) {
    if (!(err instanceof PermanentError && err.code === 'ObjectNotFound')) throw err;
  }
}
