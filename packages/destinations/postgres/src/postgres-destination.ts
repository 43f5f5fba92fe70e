import type { DestinationResult, DestinationWriter, EventBatch, RunContext } from '@bx/batch';
import { BatchExportError, RetryableError, errorMessage, type NetworkPolicy } from '@bx/core';
import { prepareEventsTable } from './events-table-session';
import { replaceIntervalRows } from './interval-load';
import type { PostgresConfig } from './postgres-config';
import { PostgresConnection, type SessionSettings } from './postgres-connection';

export interface PostgresDestinationOptions {
  /** Longest wait for the connection, TLS and login, in ms. Default 30 s. */
  connectMs: number;
  /**
   * Longest a run waits for a lock (another session holding the table, or the
   * interval's rows, or the interval's load), in ms; then the attempt fails
   * retryable and backoff tries again. Default 60 s.
   */
  lockMs: number;
  /** Which addresses a run may reach (ALLOWED_PRIVATE_DESTINATIONS), checked when connecting. Default: any. */
  network?: NetworkPolicy;
}

export const DEFAULT_POSTGRES_OPTIONS: PostgresDestinationOptions = { connectMs: 30_000, lockMs: 60_000 };

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

  private settings(applicationName: string): SessionSettings {
    const { connectMs, lockMs, network } = this.options;
    return { connectMs, lockMs, statementMs: 0, applicationName, network };
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
