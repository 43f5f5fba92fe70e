import fs from 'node:fs';
import type { DestinationConfig, EventRow, Span } from '@bx/core';
import type { DestinationResult, EventBatch, RunContext } from '@bx/batch';
import { PostgresDestination } from '@bx/destination-postgres';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { rowBatches } from './events';
import { TestPostgres } from './postgres';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from './snowflake';

/** A row of batch_export_receipts as a test compares it, whatever the destination: instants in epoch ms. */
export interface StoredReceipt {
  export_id: string;
  table_name: string;
  start: number;
  end: number;
  records: number;
  checksum: string;
  min_inserted_at: number | null;
  max_inserted_at: number | null;
  files: unknown;
  version: number;
}

/** How the next write is made to fail before it commits. */
export type Breakage = 'load' | 'receipt';

/**
 * A table destination with receipts, on its real (or loopback) server, as
 * the shared receipts tests drive it: write an interval, read back the
 * receipts table and the events table, break the next write.
 */
export interface ReceiptTarget {
  readonly name: 'Postgres' | 'Snowflake';
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** One write of the destination, from a writer made for it. */
  write(batches: AsyncIterable<EventBatch>, ctx: RunContext): Promise<DestinationResult>;
  /** The export config of the events table (for exports the worker runs). */
  destination(): DestinationConfig;
  receipts(): Promise<StoredReceipt[]>;
  /** The uuids the events table holds for a team and `inserted_at` span (all when omitted), sorted. */
  uuids(teamId?: number, span?: Span): Promise<string[]>;
  /** Makes the next write fail: its rows load but the load fails, or its receipt row is refused. Answers the error's message. */
  breakNext(what: Breakage, version: number): Promise<RegExp>;
  /** Batches of 20 from the rows, as the write should read them after breakNext('load'). */
  batches(rows: EventRow[]): AsyncGenerator<EventBatch>;
}

const ms = (value: unknown): number | null => (value === null ? null : Date.parse(String(value)));
const sorted = (uuids: string[]) => uuids.sort();

/** PostgreSQL (the local server), a schema of its own. A failed load: the source fails after its last batch. */
export function postgresTarget(): ReceiptTarget {
  let pg: TestPostgres;
  let sourceFails = false;
  return {
    name: 'Postgres',
    async setup() {
      pg = await new TestPostgres().setup();
    },
    teardown: () => pg.drop(),
    write: (batches, ctx) => new PostgresDestination(pg.config(), { lockMs: 5000 }).write(batches, ctx),
    destination: () => ({ type: 'Postgres', config: pg.config() }),
    async receipts() {
      const instant = (c: string, as: string) => `(extract(epoch FROM "${c}") * 1000)::float8 AS "${as}"`;
      const { rows } = await pg.admin.query<StoredReceipt & { records: string }>(
        `SELECT "export_id", "table_name", ${instant('data_interval_start', 'start')}, ${instant('data_interval_end', 'end')},
                "records"::text AS records, "checksum", ${instant('min_inserted_at', 'min_inserted_at')},
                ${instant('max_inserted_at', 'max_inserted_at')}, "files", "version"
           FROM "${pg.schema}"."batch_export_receipts" ORDER BY "export_id", "data_interval_start"`,
      );
      return rows.map((r) => ({ ...r, records: Number(r.records) }));
    },
    async uuids(teamId, span) {
      const where =
        teamId === undefined
          ? ''
          : `WHERE "team_id" = $1 AND "inserted_at" >= to_timestamp($2) AND "inserted_at" < to_timestamp($3)`;
      const params = teamId === undefined ? [] : [teamId, span!.start / 1000, span!.end / 1000];
      const { rows } = await pg.admin.query<{ uuid: string }>(
        `SELECT "uuid" FROM "${pg.schema}"."events" ${where}`,
        params,
      );
      return sorted(rows.map((r) => r.uuid));
    },
    async breakNext(what, version) {
      if (what === 'load') {
        sourceFails = true;
        return /the source went away/;
      }
      await pg.admin.query(
        `ALTER TABLE "${pg.schema}"."batch_export_receipts" ADD CONSTRAINT refused CHECK ("version" <> ${version})`,
      );
      return /refused/;
    },
    async *batches(rows) {
      yield* rowBatches(rows, 20);
      if (sourceFails) {
        sourceFails = false;
        throw new Error('the source went away');
      }
    },
  };
}

/** Snowflake (the loopback server). A failed load: COPY INTO fails; a refused receipt: its INSERT fails. */
export function snowflakeTarget(): ReceiptTarget {
  let server: SnowflakeServer;
  let local: string;
  const table = 'ANALYTICS.PUBLIC.events';
  return {
    name: 'Snowflake',
    async setup() {
      local = tmpDir();
      server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    },
    async teardown() {
      await server.close();
      fs.rmSync(local, { recursive: true, force: true });
    },
    write: (batches, ctx) => new SnowflakeDestination(snowflakeConfig(server), { tmpDir: local }).write(batches, ctx),
    destination: () => ({ type: 'Snowflake', config: snowflakeConfig(server) }),
    async receipts() {
      return server
        .rows('ANALYTICS.PUBLIC.batch_export_receipts')
        .map((r) => ({
          export_id: r.export_id as string,
          table_name: r.table_name as string,
          start: ms(r.data_interval_start)!,
          end: ms(r.data_interval_end)!,
          records: r.records as number,
          checksum: r.checksum as string,
          min_inserted_at: ms(r.min_inserted_at),
          max_inserted_at: ms(r.max_inserted_at),
          files: r.files,
          version: r.version as number,
        }))
        .sort((a, b) => a.export_id.localeCompare(b.export_id) || a.start - b.start);
    },
    async uuids(teamId, span) {
      const at = (r: Record<string, unknown>) => Date.parse(r.inserted_at as string);
      const rows = server
        .rows(table)
        .filter((r) => teamId === undefined || (r.team_id === teamId && at(r) >= span!.start && at(r) < span!.end));
      return sorted(rows.map((r) => r.uuid as string));
    },
    async breakNext(what) {
      if (what === 'load') {
        server.faults.queryError({
          sql: /^COPY INTO/,
          code: '000603',
          sqlState: 'XX000',
          message: 'Processing aborted',
        });
        return /Processing aborted/;
      }
      const message = 'Receipt refused';
      server.faults.queryError({
        sql: /^INSERT INTO "batch_export_receipts"/,
        code: '000603',
        sqlState: 'XX000',
        message,
      });
      return /Receipt refused/;
    },
    batches: (rows) => rowBatches(rows, 20),
  };
}
