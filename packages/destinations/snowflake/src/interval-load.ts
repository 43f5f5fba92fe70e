import { RetryableError, utcTimestamp, type EventFilter, type ReceiptRow } from '@bx/core';
import { writeReceipt } from './receipts-table';
import type { SnowflakeSession } from './snowflake-session';
import { COPY_JSON_OPTIONS, eventFilterConditions, quoteIdentifier, tableStage } from './sql-text';

export interface IntervalLoad {
  table: string;
  teamId: number;
  /** The timestamp column the interval is cut on (the model's load: EVENTS_INTERVAL_COLUMN). */
  column: string;
  /** The interval, epoch ms, `[start, end)`. */
  start: number;
  end: number;
  /** The export's event filters: only its own events of the interval are replaced. */
  events?: EventFilter;
  /** This attempt's stage folder and the file names staged in it. */
  folder: string;
  files: readonly string[];
  /** Rows written to the files: what COPY must report loaded. */
  records: number;
  /** The interval's receipt, written in the same transaction (absent: no receipt kept). */
  receipt?: ReceiptRow;
  /** Throws when the load must not commit (a later attempt of the run has started). */
  beforeCommit?(): Promise<void>;
}

interface CopyResult {
  file?: string;
  status?: string;
  rows_loaded?: number;
  first_error?: string | null;
}

/**
 * Makes the table hold exactly this attempt's rows for the team's interval, in
 * one transaction: delete the rows any earlier attempt loaded (found by team
 * and `load.column`, the column the interval is cut on, `inserted_at` by default, and the export's
 * event filters: another export of the team may share the table), COPY the staged files,
 * check every file reports LOADED with the expected row count, replace the
 * interval's receipt row (receipts-table.ts), commit. Readers
 * see the old rows or the new ones, never both or neither; an attempt that
 * fails anywhere rolls back (or its session ends, which rolls back).
 */
export async function replaceIntervalRows(session: SnowflakeSession, load: IntervalLoad): Promise<{ deleted: number }> {
  const table = quoteIdentifier(load.table);
  await session.query('BEGIN', 'BEGIN');
  try {
    const column = quoteIdentifier(load.column);
    const binds: Array<string | number> = [load.teamId, utcTimestamp(load.start), utcTimestamp(load.end)];
    const where = [`"team_id" = ?`, `${column} >= ?`, `${column} < ?`, ...eventFilterConditions(load.events, binds)];
    const [deletion] = await session.query<Record<string, number>>(
      `DELETE FROM ${table} WHERE ${where.join(' AND ')}`,
      'DELETE',
      binds,
    );
    if (load.files.length > 0) {
      const results = await session.query<CopyResult>(
        `COPY INTO ${table} FROM ${tableStage(load.table, load.folder)}` + ` ${COPY_JSON_OPTIONS}`,
        'COPY INTO',
      );
      verifyCopy(results, load);
    }
    if (load.receipt) await writeReceipt(session, load.receipt, Date.now());
    await load.beforeCommit?.();
    await session.query('COMMIT', 'COMMIT');
    return { deleted: Number(deletion?.['number of rows deleted'] ?? 0) };
  } catch (err) {
    if (session.usable) await session.query('ROLLBACK', 'ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Every staged file must be in COPY's answer as LOADED. A file COPY skipped
 * (load metadata: it believes it loaded that file before) is missing from the
 * answer, and committing then would lose the interval's rows.
 */
export function verifyCopy(
  results: readonly CopyResult[],
  load: Pick<IntervalLoad, 'folder' | 'files' | 'records'>,
): void {
  const problems: string[] = [];
  let loaded = 0;
  for (const name of load.files) {
    const row = results.find((r) => r.file === `${load.folder}${name}` || r.file?.endsWith(`/${name}`));
    if (!row) problems.push(`${name} was not loaded`);
    else if (row.status !== 'LOADED')
      problems.push(`${name} is ${row.status}${row.first_error ? `: ${row.first_error}` : ''}`);
    else loaded += Number(row.rows_loaded ?? 0);
  }
  if (problems.length === 0 && loaded !== load.records) {
    problems.push(`${loaded} rows loaded, ${load.records} written`);
  }
  if (problems.length > 0) {
    throw new RetryableError(`Snowflake COPY INTO did not load the staged files: ${problems.join('; ')}`, {
      code: 'CopyIncomplete',
    });
  }
}
