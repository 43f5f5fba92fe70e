import { buildEventsQuery } from '@bx/model-events';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GZIP_LEVEL } from '@bx/destination-s3';
import { BENCH_END, BENCH_START, BENCH_TEAM } from './generate';

export interface BaselineResult {
  seconds: number;
  bytes: number;
}

/** The product's own SELECT for the benchmark interval (without FORMAT); `layout`: the worker's binary fields. */
export function productSelect(
  database: string,
  layout?: Readonly<Uint8Array>,
  types?: ReadonlyMap<string, string>,
): string {
  return buildEventsQuery(
    {
      database,
      table: 'events',
      intervalColumn: 'inserted_at',
      teamId: BENCH_TEAM,
      start: BENCH_START,
      end: BENCH_END,
    },
    layout,
    types,
  );
}

/** The product's own SELECT for the benchmark interval, as JSON (B0), as sent over HTTP. */
export function benchQuery(database: string): string {
  return `${productSelect(database)}\nFORMAT JSONEachRow`;
}

/**
 * The same rows as they are stored, `SELECT *` with the product's WHERE, in
 * RowBinary (B0_rb): binary UUIDs and timestamps, no conversion at all. The
 * cheapest answer ClickHouse can give for the interval: the true read limit.
 */
export function rowBinaryQuery(database: string): string {
  const sql = productSelect(database);
  return `SELECT *\n${sql.slice(sql.indexOf('FROM '))}\nFORMAT RowBinary`;
}

function timed(command: string, dir: string): number {
  const began = process.hrtime.bigint();
  execFileSync('bash', ['-c', command], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - began) / 1e9;
}

/** Size of the interval as JSONEachRow (the uncompressed bytes every case moves). */
export function responseBytes(url: string, database: string, dir: string): number {
  writeFileSync(join(dir, 'query.sql'), benchQuery(database));
  const out = execFileSync('bash', ['-c', `curl -sS --fail --data-binary @query.sql '${url}/' | wc -c`], { cwd: dir });
  return Number(out.toString().trim());
}

/** B0: the SELECT over ClickHouse's HTTP interface, read and discarded (curl). */
export function b0(url: string, database: string, dir: string): BaselineResult {
  writeFileSync(join(dir, 'query.sql'), benchQuery(database));
  return { seconds: timed(`curl -sS --fail --data-binary @query.sql '${url}/' -o /dev/null`, dir), bytes: 0 };
}

/** B0_rb: the interval's rows as stored, in RowBinary over HTTP, read and discarded (curl). */
export function b0RowBinary(url: string, database: string, dir: string): BaselineResult {
  writeFileSync(join(dir, 'query-rb.sql'), rowBinaryQuery(database));
  return { seconds: timed(`curl -sS --fail --data-binary @query-rb.sql '${url}/' -o /dev/null`, dir), bytes: 0 };
}

/** B1: the cron one-liner: that response piped through gzip at the product's level, to a file. */
export function b1(url: string, database: string, dir: string): BaselineResult {
  writeFileSync(join(dir, 'query.sql'), benchQuery(database));
  const seconds = timed(
    `set -o pipefail; curl -sS --fail --data-binary @query.sql '${url}/' | gzip -${GZIP_LEVEL} > export.jsonl.gz`,
    dir,
  );
  return { seconds, bytes: statSync(join(dir, 'export.jsonl.gz')).size };
}
