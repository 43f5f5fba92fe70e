import { expect } from 'chai';
import { receiptValues, type ReceiptRow } from '@bx/core';
import * as postgres from '@bx/destination-postgres';
import * as snowflake from '@bx/destination-snowflake';

/** One receipts column list (core), two dialects: the SQL text each renders, pinned. */
const COLUMNS =
  '"export_id", "table_name", "data_interval_start", "data_interval_end", "records", "checksum", ' +
  '"min_inserted_at", "max_inserted_at", "files", "version", "written_at"';

const row: ReceiptRow = {
  exportId: 'export-1',
  table: 'events',
  start: Date.parse('2024-01-01T10:00:00Z'),
  end: Date.parse('2024-01-01T11:00:00Z'),
  receipt: {
    records: 3,
    checksum: '18446744073709551615',
    min_inserted_at: '2024-01-01T10:00:00.000000Z',
    max_inserted_at: null,
    files: ['a/1.jsonl.zst'],
    version: 2,
  },
};
const writtenAt = Date.parse('2024-01-02T00:00:00.5Z');

/** A connection or session that records what it is asked (the write's only collaborator). */
function recorder() {
  const calls: Array<{ sql: string; params: unknown[] }> = [];
  const query = (sql: string, _name: string, params: unknown[] = []) => {
    calls.push({ sql, params });
    return Promise.resolve({ rows: [] });
  };
  return { calls, query };
}

describe('receipts table: one column list, rendered per dialect', () => {
  it('binds the values in column order, instants as UTC text, files as JSON text', () => {
    expect(receiptValues(row, writtenAt)).to.deep.equal([
      'export-1',
      'events',
      '2024-01-01T10:00:00.000+00:00',
      '2024-01-01T11:00:00.000+00:00',
      3,
      '18446744073709551615',
      '2024-01-01T10:00:00.000000Z',
      null,
      '["a/1.jsonl.zst"]',
      2,
      '2024-01-02T00:00:00.500+00:00',
    ]);
  });

  it('PostgreSQL: typed, NOT NULL but for the inserted_at bounds, keyed by export and interval start', async () => {
    expect(postgres.createReceiptsTableSql('s')).to.equal(
      'CREATE TABLE IF NOT EXISTS "s"."batch_export_receipts" ("export_id" text NOT NULL, "table_name" text NOT NULL, ' +
        '"data_interval_start" timestamptz NOT NULL, "data_interval_end" timestamptz NOT NULL, ' +
        '"records" bigint NOT NULL, "checksum" text NOT NULL, "min_inserted_at" timestamptz, ' +
        '"max_inserted_at" timestamptz, "files" jsonb NOT NULL, "version" integer NOT NULL, ' +
        '"written_at" timestamptz NOT NULL, PRIMARY KEY ("export_id", "data_interval_start"))',
    );
    const sut = recorder();
    await postgres.writeReceipt(sut as unknown as Parameters<typeof postgres.writeReceipt>[0], 's', row, writtenAt);
    expect(sut.calls).to.deep.equal([
      {
        sql:
          `INSERT INTO "s"."batch_export_receipts" (${COLUMNS}) ` +
          'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) ' +
          'ON CONFLICT ("export_id", "data_interval_start") DO UPDATE SET "table_name" = EXCLUDED."table_name", ' +
          '"data_interval_end" = EXCLUDED."data_interval_end", "records" = EXCLUDED."records", ' +
          '"checksum" = EXCLUDED."checksum", "min_inserted_at" = EXCLUDED."min_inserted_at", ' +
          '"max_inserted_at" = EXCLUDED."max_inserted_at", "files" = EXCLUDED."files", ' +
          '"version" = EXCLUDED."version", "written_at" = EXCLUDED."written_at"',
        params: receiptValues(row, writtenAt),
      },
    ]);
  });

  it('Snowflake: its types, no constraints; the row replaced by DELETE then INSERT ... SELECT with PARSE_JSON', async () => {
    expect(snowflake.createReceiptsTableSql()).to.equal(
      'CREATE TABLE IF NOT EXISTS "batch_export_receipts" ("export_id" STRING, "table_name" STRING, ' +
        '"data_interval_start" TIMESTAMP_NTZ, "data_interval_end" TIMESTAMP_NTZ, "records" INTEGER, ' +
        '"checksum" STRING, "min_inserted_at" TIMESTAMP_NTZ, "max_inserted_at" TIMESTAMP_NTZ, ' +
        `"files" VARIANT, "version" INTEGER, "written_at" TIMESTAMP_NTZ) COMMENT = 'Batch export receipts'`,
    );
    const sut = recorder();
    await snowflake.writeReceipt(sut as unknown as Parameters<typeof snowflake.writeReceipt>[0], row, writtenAt);
    expect(sut.calls).to.deep.equal([
      {
        sql: 'DELETE FROM "batch_export_receipts" WHERE "export_id" = ? AND "data_interval_start" = ?',
        params: ['export-1', '2024-01-01T10:00:00.000+00:00'],
      },
      {
        sql: `INSERT INTO "batch_export_receipts" (${COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, PARSE_JSON(?), ?, ?`,
        params: receiptValues(row, writtenAt),
      },
    ]);
  });
});
