import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Reads a Parquet file with DuckDB (an independent reader), rows as plain objects. */
export async function readParquet(
  data: Buffer,
): Promise<{ rows: Array<Record<string, unknown>>; schema: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-duck-'));
  const file = join(dir, 'f.parquet');
  writeFileSync(file, data);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const schemaReader = await conn.runAndReadAll(
      `SELECT name, logical_type, converted_type, type FROM parquet_schema('${file}') WHERE name <> 'duckdb_schema' AND num_children IS NULL`,
    );
    const schema: Record<string, string> = {};
    for (const [name, logical, converted, type] of schemaReader.getRows()) {
      schema[String(name)] = `${type}/${converted ?? ''}/${logical ?? ''}`;
    }
    const reader = await conn.runAndReadAll(`
      SELECT uuid, event, properties::VARCHAR AS properties, distinct_id, team_id::VARCHAR AS team_id,
             epoch_us(timestamp)::VARCHAR AS timestamp, epoch_us(created_at)::VARCHAR AS created_at,
             epoch_us(inserted_at)::VARCHAR AS inserted_at, elements_chain, person_id,
             person_properties::VARCHAR AS person_properties
      FROM read_parquet('${file}')`);
    return { rows: reader.getRowObjectsJS() as Array<Record<string, unknown>>, schema };
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
