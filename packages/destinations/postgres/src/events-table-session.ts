import { PermanentError } from '@bx/core';
import { columnPlan, createEventsTableSql, type ColumnEncoding, type TableColumn } from './events-table';
import type { PostgresConnection } from './postgres-connection';
import { qualifiedName } from './sql-text';

const INT4_MAX = 2 ** 31 - 1;

/** The table's columns, or null when there is no such table. */
export async function describeTable(
  conn: PostgresConnection,
  schema: string,
  table: string,
): Promise<TableColumn[] | null> {
  const { rows } = await conn.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', 'describe table', [
    qualifiedName(schema, table),
  ]);
  const oid = rows[0]?.oid;
  if (oid === null || oid === undefined) return null;
  const columns = await conn.query<{
    name: string;
    type: string;
    display: string;
    not_null: boolean;
    has_default: boolean;
    typmod: number;
  }>(
    `SELECT a.attname AS name, t.typname AS type, format_type(a.atttypid, a.atttypmod) AS display,
            a.attnotnull AS not_null, a.atthasdef AS has_default, a.atttypmod AS typmod
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    'describe table',
    [oid],
  );
  return columns.rows.map((c) => ({
    name: c.name,
    type: c.type,
    display: c.display,
    notNull: c.not_null,
    hasDefault: c.has_default,
    typmod: c.typmod,
  }));
}

/** Fails permanently unless the schema exists (PostgreSQL would say 3F000 at CREATE TABLE, less clearly). */
export async function requireSchema(conn: PostgresConnection, schema: string): Promise<void> {
  const { rows } = await conn.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', 'find schema', [
    schema,
  ]);
  if (rows.length === 0) {
    throw new PermanentError(`PostgreSQL schema "${schema}" does not exist (3F000)`, { code: 'SchemaNotFound' });
  }
}

/**
 * Makes sure the events table exists and can take the records: creates it
 * (with its index) when missing, in a transaction of its own so that a
 * concurrent creation by another run is simply found; checks an existing one.
 * Answers how each record field is encoded for its column.
 */
export async function prepareEventsTable(
  conn: PostgresConnection,
  target: { schema: string; table: string; teamId: number },
): Promise<ColumnEncoding[]> {
  const { schema, table } = target;
  await requireSchema(conn, schema);
  const columns =
    (await describeTable(conn, schema, table)) ??
    (await createTable(conn, schema, table, createEventsTableSql(schema, table)));
  return checkedEncodings(columns, target);
}

/**
 * Creates the table and its index, one creator at a time: runs of several
 * intervals start together on a new export, and concurrent CREATE TABLEs of
 * one name fail (42P07, or 23505 on pg_type's index) rather than wait. The
 * advisory lock makes the others wait, then find the table.
 */
export async function createTable(
  conn: PostgresConnection,
  schema: string,
  table: string,
  statements: readonly string[],
): Promise<TableColumn[]> {
  await conn.query('BEGIN', 'BEGIN');
  try {
    await lockTableCreation(conn, schema, table);
    if (!(await describeTable(conn, schema, table))) {
      for (const sql of statements) await conn.query(sql, 'CREATE TABLE');
    }
    await conn.query('COMMIT', 'COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK', 'ROLLBACK').catch(() => undefined);
    // Created at the same moment by someone who does not take the lock.
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code !== '42P07' && code !== '23505') throw err;
  }
  return (await describeTable(conn, schema, table)) ?? [];
}

/**
 * Waits (up to lock_timeout) for whoever is creating the table to commit, and
 * keeps others from creating it until this transaction ends: a transaction
 * lock, so BEGIN first.
 */
export async function lockTableCreation(conn: PostgresConnection, schema: string, table: string): Promise<void> {
  await conn.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', 'lock table creation', [
    `bx:create:${qualifiedName(schema, table)}`,
  ]);
}

/** The encodings for `columns`, or a PermanentError naming every column that cannot hold the events. */
export function checkedEncodings(
  columns: readonly TableColumn[],
  target: { schema: string; table: string; teamId: number },
): ColumnEncoding[] {
  const plan = columnPlan(columns);
  const name = qualifiedName(target.schema, target.table);
  if (plan.problems) {
    throw new PermanentError(`PostgreSQL table ${name} cannot hold the events: ${plan.problems.join('; ')}`, {
      code: 'IncompatibleTable',
    });
  }
  if (plan.encodings.includes('int4') && target.teamId > INT4_MAX) {
    throw new PermanentError(
      `PostgreSQL table ${name}: column "team_id" is integer, too small for team ${target.teamId}`,
      {
        code: 'IncompatibleTable',
      },
    );
  }
  return plan.encodings;
}
