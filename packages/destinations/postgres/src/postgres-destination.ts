import {
  requireLatestAttempt,
  type DestinationResult,
  type DestinationWriter,
  type EventBatch,
  type RecordBatch,
  type RunContext,
} from '@bx/batch';
import {
  BatchExportError,
  RetryableError,
  errorMessage,
  intervalLoadColumn,
  receiptRowOf,
  type NetworkPolicy,
  type ReceiptRow,
} from '@bx/core';
import { createTable, describeTable, prepareEventsTable, requireSchema } from './events-table-session';
import { replaceIntervalRows } from './interval-load';
import { createModelTableSql, requireModelColumns, type UpsertModel } from './model-table';
import type { PostgresConfig } from './postgres-config';
import { PostgresConnection, type SessionSettings } from './postgres-connection';
import { prepareReceiptsTable } from './receipts-table';
import { qualifiedName } from './sql-text';
import { upsertRows } from './upsert-load';

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
  /**
   * How long a load waits on a silent server before a new session checks it still answers; a
   * hung server (stopped, frozen) fails the attempt retryably instead of holding it for ever.
   * Default SERVER_QUIET_MS (60 s).
   */
  quietMs?: number;
}

export const DEFAULT_POSTGRES_OPTIONS: PostgresDestinationOptions = { connectMs: 30_000, lockMs: 60_000 };

/**
 * Loads a run's rows into a PostgreSQL table with one binary COPY, as the
 * model's load says. Events: in the transaction that deletes the rows
 * earlier loads of the interval left (interval-load.ts), so each event of
 * the interval is in the table once however often the interval runs.
 * Persons: into a staging table, then upserted by key where the versions
 * are higher (upsert-load.ts), so no run moves a row backwards. A failure
 * anywhere leaves the old rows. The interval's receipt row in
 * `batch_export_receipts` (same schema) is replaced in the load's
 * transaction: rows and receipt commit together or not at all.
 */
export class PostgresDestination implements DestinationWriter {
  private readonly options: PostgresDestinationOptions;

  constructor(
    private readonly config: PostgresConfig,
    options: Partial<PostgresDestinationOptions> = {},
  ) {
    this.options = { ...DEFAULT_POSTGRES_OPTIONS, ...options };
  }

  async write(batches: AsyncIterable<RecordBatch>, ctx: RunContext): Promise<DestinationResult> {
    const { schema, table_name: table } = this.config;
    // Even an empty interval connects: rows an earlier run loaded must go.
    const conn = await PostgresConnection.open(this.config, this.settings(sessionName(ctx.runId)), ctx.signal);
    try {
      if (!ctx.state.fresh) {
        // Not by an attempt that was taken over: the sessions it would end include the later one's.
        await requireLatestAttempt(ctx.state);
        await endEarlierAttempts(conn, ctx);
      }
      const load = ctx.model.load;
      if (load.kind === 'upsert') return await this.upsert(conn, { ...ctx.model, load }, batches, ctx);
      const column = intervalLoadColumn(ctx.model, load);
      const encodings = await prepareEventsTable(conn, { schema, table, teamId: ctx.teamId });
      if (ctx.receipt) await prepareReceiptsTable(conn, schema);
      const result = await replaceIntervalRows(
        conn,
        {
          schema,
          table,
          teamId: ctx.teamId,
          column,
          start: ctx.dataIntervalStart,
          end: ctx.dataIntervalEnd,
          events: ctx.events,
          encodings,
          ...runHooks(ctx, table),
        },
        batches as AsyncIterable<EventBatch>,
      );
      ctx.logger.info('postgres interval loaded', {
        records: result.records,
        replaced: result.deleted,
        exact_rows: result.exactRows,
        bytes: result.bytes,
      });
      return { records: result.records, bytes: result.bytes, files: [], receipt: result.receipt };
    } catch (err) {
      throw err instanceof BatchExportError
        ? err
        : new RetryableError(`PostgreSQL load failed: ${errorMessage(err)}`, { code: 'LoadFailed', cause: err });
    } finally {
      await conn.close();
    }
  }

  /** A model upserted by key (persons): its table created if missing, the run's records merged. */
  private async upsert(
    conn: PostgresConnection,
    model: UpsertModel,
    batches: AsyncIterable<RecordBatch>,
    ctx: RunContext,
  ): Promise<DestinationResult> {
    const { schema, table_name: table } = this.config;
    await requireSchema(conn, schema);
    const columns =
      (await describeTable(conn, schema, table)) ??
      (await createTable(conn, schema, table, createModelTableSql(schema, table, model)));
    requireModelColumns(columns, qualifiedName(schema, table), model);
    if (ctx.receipt) await prepareReceiptsTable(conn, schema);
    const result = await upsertRows(
      conn,
      {
        schema,
        table,
        model,
        columns,
        ...runHooks(ctx, table),
      },
      batches,
    );
    ctx.logger.info('postgres records merged', {
      records: result.records,
      merged: result.merged,
      exact_rows: result.exactRows,
      bytes: result.bytes,
    });
    return { records: result.records, bytes: result.bytes, files: [], receipt: result.receipt };
  }

  private settings(applicationName: string): SessionSettings {
    const { connectMs, lockMs, network, quietMs } = this.options;
    return { connectMs, lockMs, statementMs: 0, applicationName, network, quietMs };
  }
}

/**
 * What a load is told as it goes: progress to report, whether the run must
 * stop, and the interval's receipt row to commit with the rows (when the
 * run keeps receipts).
 */
function runHooks(
  ctx: RunContext,
  table: string,
): {
  onProgress(records: number): void;
  checkAborted(): void;
  beforeCommit(): Promise<void>;
  receipt?: () => ReceiptRow;
} {
  const receipt = ctx.receipt;
  return {
    onProgress: (records) => ctx.onProgress(records),
    checkAborted: () => {
      if (ctx.signal.aborted) throw new RetryableError('run aborted', { code: 'Aborted' });
    },
    // A later attempt may have loaded the interval meanwhile: this one's rows must not replace its.
    beforeCommit: () => requireLatestAttempt(ctx.state),
    receipt: receipt && (() => receiptRowOf(ctx, table, receipt.build([]))),
  };
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
