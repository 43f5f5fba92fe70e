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

/** The product's own SELECT for the benchmark interval, as sent over HTTP. */
export function benchQuery(database: string): string {
  const sql = buildEventsQuery({
    database,
    table: 'events',
    intervalColumn: 'inserted_at',
    teamId: BENCH_TEAM,
    start: BENCH_START,
    end: BENCH_END,
  });
  return `${sql}\nFORMAT JSONEachRow`;
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

/** B1: the cron one-liner: that response piped through gzip at the product's level, to a file. */
export function b1(url: string, database: string, dir: string): BaselineResult {
  writeFileSync(join(dir, 'query.sql'), benchQuery(database));
  const seconds = timed(
    `set -o pipefail; curl -sS --fail --data-binary @query.sql '${url}/' | gzip -${GZIP_LEVEL} > export.jsonl.gz`,
    dir,
  );
  return { seconds, bytes: statSync(join(dir, 'export.jsonl.gz')).size };
}
