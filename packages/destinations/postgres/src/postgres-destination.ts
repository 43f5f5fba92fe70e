import {
  BatchExportError,
  EVENT_COLUMNS,
  RetryableError,
  errorMessage,
  type DestinationResult,
  type DestinationWriter,
  type EventBatch,
  type PostgresConfig,
  type RunContext,
} from '@bx/core';
import { createEventsTableSql } from './events-table';
import { checkedEncodings, describeTable, prepareEventsTable, requireSchema } from './events-table-session';
import { replaceIntervalRows } from './interval-load';
import { PostgresConnection, type SessionSettings } from './postgres-connection';
import { qualifiedName, quoteIdentifier } from './sql-text';

export interface PostgresDestinationOptions {
  /** Longest wait for the connection, TLS and login, in ms. Default 30 s. */
  connectMs: number;
  /**
   * Longest a run waits for a lock (another session holding the table, or the
   * interval's rows, or the interval's load), in ms; then the attempt fails
   * retryable and backoff tries again. Default 60 s.
   */
  lockMs: number;
}

export const DEFAULT_POSTGRES_OPTIONS: PostgresDestinationOptions = { connectMs: 30_000, lockMs: 60_000 };

/** The destination test answers an HTTP request within 30 s: its own, shorter deadlines, in ms. */
const CHECK_SETTINGS = { connectMs: 10_000, lockMs: 5_000, statementMs: 10_000 } as const;

/**
 * Loads a run's rows into a PostgreSQL table with one binary COPY, in the
 * transaction that deletes the rows earlier loads of the interval left
 * (interval-load.ts): each event of the interval is in the table once however
 * often the interval runs, and a failure anywhere leaves the old rows.
 */
export class PostgresDestination implements DestinationWriter {
  private readonly options: PostgresDestinationOptions;

  constructor(
    private readonly config: PostgresConfig,
    options: Partial<PostgresDestinationOptions> = {},
  ) {
    this.options = { ...DEFAULT_POSTGRES_OPTIONS, ...options };
  }

  async write(batches: AsyncIterable<EventBatch>, ctx: RunContext): Promise<DestinationResult> {
    const { schema, table_name: table } = this.config;
    // Even an empty interval connects: rows an earlier run loaded must go.
    const conn = await PostgresConnection.open(this.config, this.settings(sessionName(ctx.runId)), ctx.signal);
    try {
      if (!ctx.state.fresh) await endEarlierAttempts(conn, ctx);
      const encodings = await prepareEventsTable(conn, { schema, table, teamId: ctx.teamId });
      const result = await replaceIntervalRows(
        conn,
        {
          schema,
          table,
          teamId: ctx.teamId,
          start: ctx.dataIntervalStart,
          end: ctx.dataIntervalEnd,
          encodings,
          onProgress: (records) => ctx.onProgress(records),
          checkAborted: () => {
            if (ctx.signal.aborted) throw new RetryableError('run aborted', { code: 'Aborted' });
          },
        },
        batches,
      );
      ctx.logger.info('postgres interval loaded', {
        records: result.records,
        replaced: result.deleted,
        exact_rows: result.exactRows,
        bytes: result.bytes,
      });
      return { records: result.records, bytes: result.bytes, files: [] };
    } catch (err) {
      throw err instanceof BatchExportError
        ? err
        : new RetryableError(`PostgreSQL load failed: ${errorMessage(err)}`, { code: 'LoadFailed', cause: err });
    } finally {
      await conn.close();
    }
  }

  /**
   * Logs in, checks the schema exists, and proves the right to write the
   * table, in a transaction that is rolled back: an existing table must hold
   * the events and take a DELETE and an INSERT; a missing one must be
   * creatable (CREATE TABLE and its index, for real, then rolled back).
   */
  async check(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { schema, table_name: table } = this.config;
    const settings = { ...CHECK_SETTINGS, applicationName: 'bx check' };
    const conn = await PostgresConnection.open(this.config, settings, opts.signal);
    try {
      await requireSchema(conn, schema);
      const columns = await describeTable(conn, schema, table);
      await conn.query('BEGIN', 'BEGIN');
      if (columns) {
        checkedEncodings(columns, { schema, table, teamId: 0 });
        const name = qualifiedName(schema, table);
        // The run's own DELETE (it needs SELECT on team_id and inserted_at too), on an empty range.
        await conn.query(
          `DELETE FROM ${name} WHERE "team_id" = $1 AND "inserted_at" >= $2 AND "inserted_at" < $2`,
          'DELETE',
          [0, '2000-01-01T00:00:00+00:00'],
        );
        const list = EVENT_COLUMNS.map(quoteIdentifier).join(', ');
        const nulls = EVENT_COLUMNS.map(() => 'NULL').join(', ');
        await conn.query(`INSERT INTO ${name} (${list}) SELECT ${nulls} WHERE false`, 'INSERT');
      } else {
        for (const sql of createEventsTableSql(schema, table)) await conn.query(sql, 'CREATE TABLE');
      }
      await conn.query('ROLLBACK', 'ROLLBACK');
    } finally {
      await conn.close();
    }
  }

  private settings(applicationName: string): SessionSettings {
    return { connectMs: this.options.connectMs, lockMs: this.options.lockMs, statementMs: 0, applicationName };
  }
}

/** The session name of a run's loads (at most 63 bytes: run ids are 53). */
export function sessionName(runId: string): string {
  return `bx ${runId}`.slice(0, 63);
}

/**
 * Ends sessions an earlier attempt of this run left open (its worker killed
 * without its socket closing, or still running after losing its lock): their
 * transaction rolls back now instead of holding the interval's rows until the
 * server notices. Only sessions of this user: ending another's is not allowed.
 */
async function endEarlierAttempts(conn: PostgresConnection, ctx: RunContext): Promise<void> {
  const { rows } = await conn.query<{ pid: number }>(
    // OFFSET 0 keeps the filter apart from the call: AND does not order its operands.
    `SELECT pid FROM (SELECT pid FROM pg_catalog.pg_stat_activity
                       WHERE application_name = $1 AND usename = current_user AND pid <> pg_backend_pid()
                      OFFSET 0) earlier
      WHERE pg_terminate_backend(pid)`,
    'end earlier attempts',
    [sessionName(ctx.runId)],
  );
  if (rows.length > 0) ctx.logger.warn('ended sessions of an earlier attempt', { pids: rows.map((r) => r.pid) });
}
