import { randomBytes } from 'node:crypto';
import {
  BatchExportError,
  PermanentError,
  RetryableError,
  EVENTS_SCHEMA,
  errorMessage,
  intervalLoadColumn,
  type DestinationCheckOptions,
  type ModelSchema,
  type NetworkPolicy,
  receiptRowOf,
} from '@bx/core';
import {
  requireLatestAttempt,
  type DestinationResult,
  type DestinationWriter,
  type RecordBatch,
  type RunContext,
} from '@bx/batch';
import type { SnowflakeConfig } from './snowflake-config';
import { createTableSql, incompatibleColumns } from './record-table';
import { replaceIntervalRows } from './interval-load';
import { LargestValue } from './largest-value';
import { createReceiptsTableSql } from './receipts-table';
import { SnowflakeSession, useContext, type SessionTimeouts } from './snowflake-session';
import { attemptStageFolder, quoteIdentifier, runStageFolder } from './sql-text';
import { putFile, removeStaged } from './table-stage';
import { upsertRows } from './upsert-load';
import { ZstdFileSpool, type SpooledFile } from './zstd-file-spool';

export interface SnowflakeDestinationOptions {
  /** Start a new local file (and PUT the finished one) at about this many compressed bytes. Default 100 MiB. */
  maxFileBytes: number;
  /** Deadlines of the login and of each statement; see SessionTimeouts. */
  timeouts: SessionTimeouts;
  /** Folder for the local files. Default: the OS temporary folder. */
  tmpDir?: string;
  /** Addresses the session may connect to (ALLOWED_PRIVATE_DESTINATIONS). Default: not checked. */
  network?: NetworkPolicy;
}

export const DEFAULT_SNOWFLAKE_OPTIONS: SnowflakeDestinationOptions = {
  maxFileBytes: 100 * 1024 * 1024,
  timeouts: { statementMs: 60 * 60_000, requestMs: 60_000, loginRetries: 3 },
};

/** The destination test answers an HTTP request: it gives up sooner than a run, in ms. */
const CHECK_STATEMENT_MS = 30_000;

/** What an attempt records so that a later attempt of the run knows the table may hold its rows. */
export interface SnowflakeRunState {
  may_hold_rows: boolean;
}

/**
 * Loads a run's rows into a Snowflake table as PostHog does (local JSON
 * Lines files of bounded size, PUT to the table stage, COPY INTO with
 * MATCH_BY_COLUMN_NAME; our files are zstd where PostHog's are gzip, see
 * ZstdFileSpool), as the model's load says: events leave each event of the
 * interval in the table exactly once however often the interval runs (the
 * COPY runs in one transaction with the deletion of the team's rows of the
 * interval, interval-load.ts); persons are merged by key where their
 * versions are higher (upsert-load.ts). Files are staged under a folder
 * unique to the attempt. The interval's receipt row is replaced in the
 * load's transaction (receipts-table.ts). An interval without rows whose
 * first attempt never connects keeps its receipt on the run record only;
 * so does a persons interval without rows.
 */
export class SnowflakeDestination implements DestinationWriter {
  private readonly options: SnowflakeDestinationOptions;

  constructor(
    private readonly config: SnowflakeConfig,
    options: Partial<SnowflakeDestinationOptions> = {},
  ) {
    this.options = { ...DEFAULT_SNOWFLAKE_OPTIONS, ...options };
  }

  async write(batches: AsyncIterable<RecordBatch>, ctx: RunContext): Promise<DestinationResult> {
    const table = this.config.table_name;
    const nonce = randomBytes(4).toString('hex');
    const folder = attemptStageFolder(ctx.runId, ctx.attempt, nonce);
    const load = ctx.model.load;
    // Before any row is staged: a column the table cannot be cut on fails the run at once.
    const column = load.kind === 'replace-interval' ? intervalLoadColumn(ctx.model, load) : '';
    const spool = new ZstdFileSpool(this.options.tmpDir);
    const result: DestinationResult = { records: 0, bytes: 0, files: [] };
    const staged: string[] = [];
    const largest = new LargestValue();
    /**
     * The session, prepared while the first file is written: login, USE, the
     * table's check and the stale files' removal are about eight round trips
     * to Snowflake, which the rows need not wait for. Its failure stops the
     * loop at the next batch.
     */
    let preparing: Promise<SnowflakeSession> | null = null;
    let prepareFailed = false;
    const connect = (): Promise<SnowflakeSession> => {
      if (!preparing) {
        preparing = this.prepare(ctx);
        preparing.catch(() => (prepareFailed = true));
      }
      return preparing;
    };
    let failed = false;
    /**
     * The PUT of the file finished last, if any: it runs while the next file
     * is written (the SDK hashes the file and uploads it, seconds for 100 MiB
     * to a real stage), one at a time, so at most two files are on disk. Its
     * failure surfaces when the next PUT or the COPY waits for it.
     */
    let staging: Promise<void> = Promise.resolve();
    const stage = async (s: SnowflakeSession, file: SpooledFile) => {
      await putFile(s, table, folder, file);
      await spool.remove(file);
      staged.push(file.name);
      result.bytes += file.bytes;
      ctx.logger.debug('snowflake file staged', { file: `${folder}${file.name}`, bytes: file.bytes });
    };
    const stageNext = async (s: SnowflakeSession, file: SpooledFile) => {
      await staging;
      staging = stage(s, file);
      staging.catch(() => undefined); // observed by the next wait
    };
    try {
      for await (const batch of batches) {
        if (batch.count === 0) continue;
        if (ctx.signal.aborted) throw new RetryableError('run aborted', { code: 'Aborted' });
        // Connect on the first row: an empty interval never wakes the warehouse.
        const connecting = connect();
        if (prepareFailed) await connecting;
        largest.add(batch);
        await spool.write(batch);
        result.records += batch.count;
        ctx.onProgress(result.records);
        if (await spool.reached(this.options.maxFileBytes)) await stageNext(await connecting, (await spool.finish())!);
      }
      const last = await spool.finish();
      if (last) await stageNext(await connect(), last);
      await staging;
      if (load.kind === 'upsert') {
        // Nothing to merge; an earlier attempt's merge holds records of the same versions or older.
        if (result.records === 0) return result;
        const files = staged.map((name) => `${folder}${name}`);
        result.receipt = ctx.receipt?.build(files);
        const { merged } = await upsertRows(await connect(), {
          table,
          model: { ...ctx.model, load },
          folder,
          files: staged,
          records: result.records,
          nonce,
          receipt: result.receipt && receiptRowOf(ctx, table, result.receipt),
          beforeCommit: () => requireLatestAttempt(ctx.state),
        });
        result.files = files;
        ctx.logger.info('snowflake records merged', { records: result.records, files: staged.length, merged });
        return result;
      }
      // An empty re-run still connects: rows an earlier attempt loaded must go, and so must rows of
      // an earlier run whose record (and this state) retention removed: unknown means they may be there.
      const mayHoldRows = ctx.state.priorUnknown || (await ctx.state.get<SnowflakeRunState>())?.may_hold_rows === true;
      if (result.records === 0 && !mayHoldRows) return result;
      const session = await connect();
      await ctx.state.set({ may_hold_rows: true } satisfies SnowflakeRunState);
      const files = staged.map((name) => `${folder}${name}`);
      result.receipt = ctx.receipt?.build(files);
      const { deleted } = await replaceIntervalRows(session, {
        table,
        teamId: ctx.teamId,
        column,
        start: ctx.dataIntervalStart,
        end: ctx.dataIntervalEnd,
        events: ctx.events,
        folder,
        files: staged,
        records: result.records,
        receipt: result.receipt && receiptRowOf(ctx, table, result.receipt),
        // A later attempt may have loaded the interval meanwhile: this one's rows must not replace its.
        beforeCommit: () => requireLatestAttempt(ctx.state),
      });
      result.files = files;
      ctx.logger.info('snowflake interval loaded', {
        records: result.records,
        files: staged.length,
        replaced: deleted,
      });
      return result;
    } catch (caught) {
      failed = true;
      const err = largest.explain(caught);
      throw err instanceof BatchExportError
        ? err
        : new RetryableError(`Snowflake load failed: ${errorMessage(err)}`, { code: 'LoadFailed', cause: err });
    } finally {
      await staging.catch(() => undefined);
      await spool.discard();
      const session = preparing ? await (preparing as Promise<SnowflakeSession>).catch(() => null) : null;
      if (session) {
        // A failed attempt's staged files would only wait for the next attempt's cleanup.
        if (failed && session.usable) await removeStaged(session, table, folder).catch(() => undefined);
        await session.close();
      }
    }
  }

  /** Logs in, uses the warehouse, database and schema, and checks an existing table can hold the model's records. */
  async check({ signal, model, network }: DestinationCheckOptions = {}): Promise<void> {
    const timeouts = this.options.timeouts;
    const session = await SnowflakeSession.open(
      this.config,
      {
        ...timeouts,
        statementMs: Math.min(timeouts.statementMs, CHECK_STATEMENT_MS),
        loginRetries: Math.min(timeouts.loginRetries, 1),
      },
      signal,
      network ?? this.options.network,
    );
    try {
      await this.useContext(session);
      const [current] = await session.query<Record<string, string | null>>(
        'SELECT CURRENT_WAREHOUSE() AS W, CURRENT_DATABASE() AS D, CURRENT_SCHEMA() AS S',
        'check',
      );
      const names = { W: 'warehouse', D: 'database', S: 'schema' } as const;
      const missing = (Object.keys(names) as Array<keyof typeof names>).filter((k) => !current?.[k]);
      if (missing.length > 0) {
        const what = missing.map((k) => names[k]).join(', ');
        throw new PermanentError(
          `Snowflake session has no current ${what}: check the names and the role's USAGE grants`,
          { code: 'ObjectNotFound' },
        );
      }
      try {
        await this.checkTable(session, model ?? EVENTS_SCHEMA);
      } catch (err) {
        // A missing table is fine: the first run creates it.
        if (!(err instanceof PermanentError && err.code === 'ObjectNotFound')) throw err;
      }
    } finally {
      await session.close();
    }
  }

  /** A session ready to load: context set, table present and compatible, stale files of the run removed. */
  private async prepare(ctx: RunContext): Promise<SnowflakeSession> {
    const session = await SnowflakeSession.open(this.config, this.options.timeouts, ctx.signal, this.options.network);
    try {
      await this.useContext(session);
      await session.query(createTableSql(this.config.table_name, ctx.model), 'CREATE TABLE');
      await this.checkTable(session, ctx.model);
      if (ctx.receipt) await session.query(createReceiptsTableSql(), 'CREATE TABLE receipts');
      // Files a crashed attempt of this run staged but never loaded. Not by an attempt that was
      // taken over: the folder holds the later attempt's files too.
      await requireLatestAttempt(ctx.state);
      const removed = await removeStaged(session, this.config.table_name, runStageFolder(ctx.runId));
      if (removed > 0) ctx.logger.info('removed files an earlier attempt staged', { removed });
      return session;
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  private async useContext(session: SnowflakeSession): Promise<void> {
    await useContext(session, this.config);
  }

  private async checkTable(session: SnowflakeSession, model: ModelSchema): Promise<void> {
    const table = quoteIdentifier(this.config.table_name);
    const columns = await session.columns(`SELECT * FROM ${table} LIMIT 0`, 'SELECT');
    const problems = incompatibleColumns(
      columns.map((c) => ({ name: c.getName(), type: c.getType() })),
      model,
    );
    if (problems.length > 0) {
      throw new PermanentError(`Snowflake table ${table} cannot hold the ${model.name}: ${problems.join('; ')}`, {
        code: 'IncompatibleTable',
      });
    }
  }
}
