import type { ModelSchema, ReceiptRow, TableLoad } from '@bx/core';
import { verifyCopy } from './interval-load';
import { writeReceipt } from './receipts-table';
import type { SnowflakeSession } from './snowflake-session';
import { COPY_JSON_OPTIONS, quoteIdentifier, tableStage } from './sql-text';

type Upsert = Extract<TableLoad, { kind: 'upsert' }>;

export interface UpsertLoad {
  table: string;
  model: ModelSchema & { load: Upsert };
  /** This attempt's stage folder (in the table's stage) and the file names staged in it. */
  folder: string;
  files: readonly string[];
  /** Rows written to the files: what COPY must report loaded. */
  records: number;
  /** Unique to the attempt ([a-z0-9]+): names the staging table. */
  nonce: string;
  /** The interval's receipt, written in the MERGE's transaction (absent: no receipt kept). */
  receipt?: ReceiptRow;
  /** Throws when the load must not commit (a later attempt of the run has started: its receipt stays). */
  beforeCommit?(): Promise<void>;
}

/**
 * `WHEN MATCHED AND <this>`: the incoming versions are higher than the
 * stored ones, compared in order (the first that differs decides). A
 * stored row changes only then, so a retry, a re-run or a backfill of an
 * older interval never moves it backwards: for persons, a distinct_id that
 * moved to another person keeps it even if the old person's version is
 * higher, since the mapping's version is compared first.
 */
export function newerCondition(versions: readonly string[], stored = 't', incoming = 's'): string {
  const at = (i: number): string => {
    const column = quoteIdentifier(versions[i]!);
    const higher = `${incoming}.${column} > ${stored}.${column}`;
    if (i === versions.length - 1) return higher;
    return `${higher} OR (${incoming}.${column} = ${stored}.${column} AND (${at(i + 1)}))`;
  };
  return at(0);
}

/**
 * `newerCondition`, or, with a `placeholder` column, equal versions where
 * the stored row is a placeholder (that column NULL) and the incoming one
 * is not: a distinct_id whose person had no row yet gets the person's
 * first row, of the same versions.
 */
export function replacesCondition(load: Upsert, stored = 't', incoming = 's'): string {
  const newer = newerCondition(load.versions, stored, incoming);
  if (load.placeholder === undefined) return newer;
  const equal = load.versions.map((v) => `${incoming}.${quoteIdentifier(v)} = ${stored}.${quoteIdentifier(v)}`);
  const column = quoteIdentifier(load.placeholder);
  return (
    `${newer} OR (${equal.join(' AND ')}` + ` AND ${stored}.${column} IS NULL AND ${incoming}.${column} IS NOT NULL)`
  );
}

/** The MERGE of the staging table into the table: insert new keys, update where the versions are higher. */
export function mergeSql(table: string, staging: string, model: UpsertLoad['model']): string {
  const q = quoteIdentifier;
  const columns = model.columns.map((c) => q(c.name));
  const on = model.load.key.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ');
  const keys = new Set(model.load.key);
  const sets = model.columns.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = s.${q(c.name)}`);
  return (
    `MERGE INTO ${q(table)} AS t USING ${q(staging)} AS s ON ${on}` +
    ` WHEN MATCHED AND (${replacesCondition(model.load)}) THEN UPDATE SET ${sets.join(', ')}` +
    ` WHEN NOT MATCHED THEN INSERT (${columns.join(', ')}) VALUES (${columns.map((c) => `s.${c}`).join(', ')})`
  );
}

/**
 * Applies an attempt's staged files to the table by key: COPY them into a
 * temporary staging table of the table's shape (private to the session,
 * gone with it if the worker dies), check every file LOADED, then one MERGE
 * and the interval's receipt row in a transaction. The staging table is created before the transaction:
 * Snowflake commits an open transaction at any DDL.
 */
export async function upsertRows(session: SnowflakeSession, load: UpsertLoad): Promise<{ merged: number }> {
  const table = quoteIdentifier(load.table);
  const staging = `bx_stage_${load.nonce}`;
  await session.query(`CREATE TEMPORARY TABLE ${quoteIdentifier(staging)} LIKE ${table}`, 'CREATE STAGING TABLE');
  try {
    const results = await session.query<Parameters<typeof verifyCopy>[0][number]>(
      `COPY INTO ${quoteIdentifier(staging)} FROM ${tableStage(load.table, load.folder)}` + ` ${COPY_JSON_OPTIONS}`,
      'COPY INTO',
    );
    verifyCopy(results, load);
    await session.query('BEGIN', 'BEGIN');
    try {
      const [merged] = await session.query<Record<string, number>>(mergeSql(load.table, staging, load.model), 'MERGE');
      if (load.receipt) await writeReceipt(session, load.receipt, Date.now());
      await load.beforeCommit?.();
      await session.query('COMMIT', 'COMMIT');
      const count = (name: string) => Number(merged?.[name] ?? 0);
      return { merged: count('number of rows inserted') + count('number of rows updated') };
    } catch (err) {
      if (session.usable) await session.query('ROLLBACK', 'ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    if (session.usable) {
      await session.query(`DROP TABLE IF EXISTS ${quoteIdentifier(staging)}`, 'DROP STAGING TABLE').catch(() => {
        // Temporary: it goes with the session anyway.
      });
    }
  }
}
