import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Reads an events Parquet file with DuckDB (an independent reader), rows as plain objects. */
export function readParquet(
  data: Buffer,
): Promise<{ rows: Array<Record<string, unknown>>; schema: Record<string, string> }> {
  return queryParquet(
    data,
    (file) => `
      SELECT uuid, event, properties::VARCHAR AS properties, distinct_id, team_id::VARCHAR AS team_id,
             epoch_us(timestamp)::VARCHAR AS timestamp, epoch_us(created_at)::VARCHAR AS created_at,
             epoch_us(inserted_at)::VARCHAR AS inserted_at, elements_chain, person_id,
             person_properties::VARCHAR AS person_properties
      FROM read_parquet('${file}')`,
  );
}

/**
 * The rows `sql(file)` selects from a Parquet file with DuckDB (an
 * independent reader), and the file's columns as `type/converted/logical`.
 */
export async function queryParquet(
  data: Buffer,
  sql: (file: string) => string,
): Promise<{ rows: Array<Record<string, unknown>>; schema: Record<string, string> }> {
  return withParquetFile(data, async (conn, file) => {
    const schemaReader = await conn.runAndReadAll(
      `SELECT name, logical_type, converted_type, type FROM parquet_schema('${file}') WHERE name <> 'duckdb_schema' AND num_children IS NULL`,
    );
    const schema: Record<string, string> = {};
    for (const [name, logical, converted, type] of schemaReader.getRows()) {
      schema[String(name)] = `${type}/${converted ?? ''}/${logical ?? ''}`;
    }
    const reader = await conn.runAndReadAll(sql(file));
    return { rows: reader.getRowObjectsJS() as Array<Record<string, unknown>>, schema };
  });
}

/** DuckDB's view of a Parquet file's row groups and column chunks (parquet_metadata), a row per chunk. */
export async function parquetChunks(data: Buffer): Promise<Array<Record<string, unknown>>> {
  return withParquetFile(data, async (conn, file) => {
    const reader = await conn.runAndReadAll(`
      SELECT row_group_id, row_group_num_rows, path_in_schema, num_values, compression,
             stats_min_value, stats_max_value, stats_null_count, data_page_offset, total_compressed_size
      FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`);
    return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
  });
}

/**
 * A JSON Lines file read by DuckDB's strict JSON reader (as a downstream job
 * would): its JSON columns as text, in file order.
 */
export async function readJsonLinesWithDuckDb(data: Buffer): Promise<Array<Record<string, unknown>>> {
  return withParquetFile(
    data,
    async (conn, file) => {
      const reader = await conn.runAndReadAll(
        `SELECT uuid, properties::VARCHAR AS properties, person_properties::VARCHAR AS person_properties
           FROM read_json('${file}', format = 'newline_delimited',
                          columns = {uuid: 'VARCHAR', properties: 'JSON', person_properties: 'JSON'})`,
      );
      return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
    },
    'f.jsonl',
  );
}

async function withParquetFile<T>(
  data: Buffer,
  fn: (conn: DuckDBConnection, file: string) => Promise<T>,
  name = 'f.parquet',
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-duck-'));
  const file = join(dir, name);
  writeFileSync(file, data);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return await fn(conn, file);
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
