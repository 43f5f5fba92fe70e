/**
 * The benchmark's `persons` case: `persons` persons with two distinct_ids
 * each (1,000,000 and 2,000,000 at the default 2,000,000 rows), 10% of the
 * distinct_ids touched in the interval, exported as the persons model to
 * the S3 server as JSONLines+zstd through BullMQ and a worker process.
 * Against B0 (the same SELECT, RowBinary over HTTP, discarded: what the
 * worker reads) and B1 (the SELECT as JSONEachRow through `gzip -6`).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createLogger, runIdFor } from '@bx/core';
import { GZIP_LEVEL } from '@bx/destination-s3';
import { buildPersonsQuery, PERSONS_QUERY_SETTINGS } from '@bx/model-persons';
import { ExportService } from '@bx/operations';
import type { RunQueue } from '@bx/queue';
import type { Store } from '@bx/store';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_END, BENCH_START, BENCH_TEAM, LONG_QUERY } from './generate';
import { WorkerProcess } from './worker-process';

export interface PersonsBenchDeps {
  url: string;
  database: string;
  /** Persons to generate (two distinct_ids each). */
  persons: number;
  reps: number;
  /** A scratch folder for the baselines' files. */
  dir: string;
  store: Store;
  queue: RunQueue;
  workerEnv: Record<string, string>;
  s3: Record<string, string>;
  say: (msg: string) => void;
}

/** The case's row of bench/results.json (`cases.persons`): the events cases' fields, and the data's size. */
export interface PersonsCaseResult {
  rows_per_s: number;
  rep_seconds: number[];
  mb_per_s: number;
  seconds: number;
  ratio_b0: number;
  ratio_b1: number;
  b0_paired_rep_seconds: number[];
  ratio_b0_paired: number;
  peak_rss_mb: number;
  output_mb: number;
  records: number;
  persons: number;
  distinct_ids: number;
  b1_seconds: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function benchPersons(deps: PersonsBenchDeps): Promise<PersonsCaseResult> {
  const { say, reps } = deps;
  const persons = Math.max(20, Math.floor(deps.persons / 20) * 20);
  say(`persons: ${persons.toLocaleString('en-US')} persons, ${(2 * persons).toLocaleString('en-US')} distinct_ids`);
  await generatePersons(deps.url, deps.database, persons);
  const sql = buildPersonsQuery({
    database: deps.database,
    personsTable: 'person',
    distinctIdsTable: 'person_distinct_id2',
    teamId: BENCH_TEAM,
    start: BENCH_START,
    end: BENCH_END,
  });
  writeFileSync(join(deps.dir, 'persons-rb.sql'), `${sql}\nFORMAT RowBinary`);
  writeFileSync(join(deps.dir, 'persons-json.sql'), `${sql}\nFORMAT JSONEachRow`);
  const settings = Object.entries(PERSONS_QUERY_SETTINGS).map(([k, v]) => `${k}=${v}`);
  const url = `${deps.url}/?${settings.join('&')}`;
  const b0 = () => timed(`curl -sS --fail --data-binary @persons-rb.sql '${url}' -o /dev/null`, deps.dir);
  const b1 = () =>
    timed(
      `set -o pipefail; curl -sS --fail --data-binary @persons-json.sql '${url}' | gzip -${GZIP_LEVEL} > persons.jsonl.gz`,
      deps.dir,
    );
  const b1s = Array.from({ length: reps }, b1);
  say(`  B1 ${b1s.map((s) => s.toFixed(2)).join(', ')} s`);

  const service = new ExportService(deps.store, deps.queue, createLogger({}, 'error'));
  const exp = await service.create({
    name: 'bench persons',
    team_id: BENCH_TEAM,
    interval: 'hour',
    model: 'persons',
    // Not paused: the worker holds the runs of a paused export. No scheduler serves this prefix.
    paused: false,
    destination: {
      type: 'S3',
      config: { ...deps.s3, prefix: 'bench/persons', file_format: 'JSONLines', compression: 'zstd' },
    },
  });
  const worker = new WorkerProcess({ ...deps.workerEnv, WORKER_CONCURRENCY: '1' });
  await worker.started();
  const runId = runIdFor(exp.id, BENCH_START);
  const job = { run_id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END };
  const seconds: number[] = [];
  const b0s: number[] = [];
  let records = 0;
  let bytes = 0;
  let peakRssMb: number;
  try {
    await deps.store.runs.createMany([
      { id: runId, export_id: exp.id, data_interval_start: BENCH_START, data_interval_end: BENCH_END },
    ]);
    for (let rep = 0; rep < reps; rep++) {
      b0s.push(b0());
      const began = performance.now();
      if (rep === 0) await deps.queue.enqueue([job]);
      else {
        if (!(await deps.queue.settled(runId))) throw new Error('persons: the worker still holds the run');
        await deps.store.runs.reschedule(runId);
        await deps.queue.requeue(job);
      }
      for (;;) {
        const run = await deps.store.runs.get(runId);
        if (run?.status === 'Completed') {
          records = run.records_completed;
          bytes = run.bytes_exported;
          break;
        }
        if (run?.status === 'Failed') throw new Error(`persons failed: ${run.error}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      seconds.push((performance.now() - began) / 1000);
      say(
        `  rep ${rep + 1}/${reps}: B0 ${b0s[rep]!.toFixed(2)} s, persons ${seconds[rep]!.toFixed(2)} s, ${Math.round(records / seconds[rep]!).toLocaleString('en-US')} records/s`,
      );
    }
    peakRssMb = worker.peakRssMb();
  } finally {
    await worker.stop();
  }
  if (records !== persons / 5) throw new Error(`persons exported ${records} records, expected ${persons / 5}`);
  const s = median(seconds);
  return {
    rows_per_s: Math.round(records / s),
    rep_seconds: seconds.map((x) => round(x, 3)),
    mb_per_s: round(bytes / 1e6 / s, 1),
    seconds: round(s, 3),
    ratio_b0: round(median(b0s) / s),
    ratio_b1: round(median(b1s) / s),
    b0_paired_rep_seconds: b0s.map((x) => round(x, 3)),
    ratio_b0_paired: round(median(b0s) / s),
    peak_rss_mb: Math.round(peakRssMb),
    output_mb: round(bytes / 1e6, 1),
    records,
    persons,
    distinct_ids: 2 * persons,
    b1_seconds: round(median(b1s), 3),
  };
}

function timed(command: string, dir: string): number {
  const began = process.hrtime.bigint();
  execFileSync('bash', ['-c', command], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - began) / 1e9;
}

/** `toString(n)` zero-padded into the last group of a UUID: person n's id, the same in both tables. */
const personId = (n: string) =>
  `toUUID(concat('00000000-0000-4000-8000-', substring(concat('000000000000', toString(${n})), 1 + length(toString(${n})), 12)))`;

/**
 * PostHog's person tables in `database`, generated by ClickHouse: person n
 * (version 0, ingested the day before the interval) with distinct_ids
 * `d<n>-0` and `d<n>-1`. In the interval, one person in 20 gets version 1
 * (its two distinct_ids are exported), and the two distinct_ids of another
 * one in 20 move to the next person (a merge; the mapping's version 1):
 * 10% of the distinct_ids, persons / 5 records. Kept when already there at
 * this size; merged into one part per table, as tables settle.
 */
export async function generatePersons(url: string, database: string, persons: number): Promise<void> {
  const ch = createClient({ url, request_timeout: 600_000, clickhouse_settings: LONG_QUERY });
  try {
    if (
      (await count(ch, `SELECT count() AS n FROM system.tables WHERE database = '${database}' AND name = 'person'`)) > 0
    ) {
      const have = await count(ch, `SELECT uniqExact(id) AS n FROM ${database}.person`);
      if (have === persons) return;
    }
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    for (const table of ['person', 'person_distinct_id2']) {
      await ch.command({ query: `DROP TABLE IF EXISTS ${database}.${table}` });
    }
    await ch.command({
      query: `CREATE TABLE ${database}.person (
        id UUID, team_id Int64, properties String, is_identified Int8, is_deleted Int8, version UInt64,
        created_at DateTime('UTC'), _timestamp DateTime('UTC')
      ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, id)`,
    });
    await ch.command({
      query: `CREATE TABLE ${database}.person_distinct_id2 (
        team_id Int64, distinct_id String, person_id UUID, is_deleted Int8, version Int64, _timestamp DateTime('UTC')
      ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, distinct_id)`,
    });
    const start = BENCH_START / 1000;
    const before = `toDateTime(${start - 86_400} + number % 3600)`;
    const inside = `toDateTime(${start} + number % 3600)`;
    const properties = (version: string) =>
      `concat('{"email":"person', toString(number), '@example.com","name":"Person ', toString(number),
               '","plan":"', arrayElement(['free', 'pro', 'team'], 1 + number % 3), '","version":', ${version},
               ',"$initial_referrer":"https://www.example.com/', hex(cityHash64(number)), '","blob":"',
               arrayStringConcat(arrayMap(x -> hex(cityHash64(number, x)), range(toUInt64(4 + number % 12))), ''), '"}')`;
    await ch.command({
      query: `INSERT INTO ${database}.person
        SELECT ${personId('number')}, ${BENCH_TEAM}, ${properties("'0'")}, 1, 0, 0, ${before}, ${before}
        FROM numbers(${persons})`,
    });
    await ch.command({
      query: `INSERT INTO ${database}.person_distinct_id2
        SELECT ${BENCH_TEAM}, concat('d', toString(intDiv(number, 2)), '-', toString(number % 2)),
               ${personId('intDiv(number, 2)')}, 0, 0, ${before}
        FROM numbers(${2 * persons})`,
    });
    // In the interval: persons 0, 20, 40, ... change; the distinct_ids of 10, 30, 50, ... move to 11, 31, 51, ...
    await ch.command({
      query: `INSERT INTO ${database}.person
        SELECT ${personId('number')}, ${BENCH_TEAM}, ${properties("'1'")}, 1, 0, 1, ${before}, ${inside}
        FROM numbers(${persons}) WHERE number % 20 = 0`,
    });
    await ch.command({
      query: `INSERT INTO ${database}.person_distinct_id2
        SELECT ${BENCH_TEAM}, concat('d', toString(intDiv(number, 2)), '-', toString(number % 2)),
               ${personId('intDiv(number, 2) + 1')}, 0, 1, ${inside}
        FROM numbers(${2 * persons}) WHERE intDiv(number, 2) % 20 = 10`,
    });
    for (const table of ['person', 'person_distinct_id2']) {
      await ch.command({ query: `OPTIMIZE TABLE ${database}.${table} FINAL` });
    }
  } finally {
    await ch.close();
  }
}

async function count(ch: ClickHouseClient, query: string): Promise<number> {
  const rs = await ch.query({ query, format: 'JSONEachRow' });
  return Number(((await rs.json()) as Array<{ n: string }>)[0]!.n);
}
