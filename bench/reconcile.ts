import { IntervalChecksums } from '@bx/clickhouse/checksums';
import { createLogger, runIdFor } from '@bx/core';
import { Reconciler } from '@bx/operations';
import type { RunQueue } from '@bx/queue';
import type { NewRun, Store } from '@bx/store';
import { createClient } from '@clickhouse/client';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { EVENTS_DDL_18 } from '../test/helpers/clickhouse';
import { exportFixture } from '../test/helpers/export-fixture';

const HOUR = 3_600_000;
const EXPORTS = 1000;
const WINDOW_HOURS = 72;
/** Source rows per export and hour. */
const ROWS_PER_INTERVAL = 5;
const DATABASE = 'bx_bench_reconcile';
const TEAM_BASE = 100_000;

export interface ReconcileBench {
  /** Wall seconds of one reconciler pass over every export. */
  seconds: number;
  exports: number;
  intervals_checked: number;
  mismatches: number;
  /** Of `seconds`, the part spent waiting for ClickHouse (the source queries). */
  source_seconds: number;
  /** CPU seconds of this process (the scheduler's side) during the pass. */
  node_cpu_seconds: number;
  /** The machine's 1-minute load average when the pass began: on a shared machine, wall time follows it. */
  load_average: number;
  /** Seconds spent preparing (rows, runs, receipts), not measured. */
  setup_seconds: number;
}

/**
 * `reconcile_pass_1k_s`: one reconciler pass for 1,000 hourly exports with a
 * 72 h window, each export its own team with rows in every interval, every
 * interval Completed with a receipt equal to the source (the steady state:
 * the pass reads and compares, it repairs nothing). Per chunk of 100
 * exports the pass costs a few Redis round trips (locks, exports, run ids,
 * receipts, records) and, as the exports share a grid, one grouped
 * ClickHouse query per 200 teams.
 */
export async function reconcilePass1k(store: Store, queue: RunQueue, clickhouseUrl: string): Promise<ReconcileBench> {
  const began = Date.now();
  const now = Math.floor(Date.now() / HOUR) * HOUR;
  const first = now - WINDOW_HOURS * HOUR;
  const ch = createClient({ url: clickhouseUrl, request_timeout: 600_000 });
  const checksums = IntervalChecksums.fromConfig({
    CLICKHOUSE_URL: clickhouseUrl,
    CLICKHOUSE_USER: 'default',
    CLICKHOUSE_PASSWORD: '',
    CLICKHOUSE_QUERY_TIMEOUT_MS: 600_000,
    CLICKHOUSE_IDLE_TIMEOUT_MS: 600_000,
  });
  try {
    const truth = await loadSource(ch, first);
    const ids = await createExportsWithReceipts(store, first, truth);
    const setup = (Date.now() - began) / 1000;
    let sourceSeconds = 0;
    const table = { CLICKHOUSE_DATABASE: DATABASE, EVENTS_TABLE: 'events', EVENTS_INTERVAL_COLUMN: 'inserted_at' };
    const sut = new Reconciler(
      store,
      queue,
      async (items) => {
        const t0 = process.hrtime.bigint();
        try {
          return await checksums.ofExports(items, table);
        } finally {
          sourceSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
        }
      },
      createLogger({}, 'error'),
      { windowMs: WINDOW_HOURS * HOUR, keepMismatchesMs: 90 * 24 * HOUR },
    );
    const load = loadavg()[0]!;
    const cpu = process.cpuUsage();
    const t = process.hrtime.bigint();
    const pass = await sut.pass(now);
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const used = process.cpuUsage(cpu);
    if (pass.exports !== ids.length) throw new Error(`the pass checked ${pass.exports} exports of ${ids.length}`);
    return {
      seconds,
      exports: pass.exports,
      intervals_checked: pass.checked,
      mismatches: pass.mismatches,
      source_seconds: sourceSeconds,
      node_cpu_seconds: (used.user + used.system) / 1e6,
      load_average: load,
      setup_seconds: setup,
    };
  } finally {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` }).catch(() => undefined);
    await Promise.all([ch.close(), checksums.close()]);
  }
}

/** Rows of 1,000 teams over 72 hours, made by ClickHouse itself; answers count and checksum per (team, hour). */
async function loadSource(
  ch: ReturnType<typeof createClient>,
  first: number,
): Promise<Map<string, { records: number; checksum: string }>> {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` });
  await ch.command({ query: `CREATE DATABASE ${DATABASE}` });
  await ch.command({ query: EVENTS_DDL_18(DATABASE, 'events') });
  const total = EXPORTS * WINDOW_HOURS * ROWS_PER_INTERVAL;
  const start = first / 1000;
  await ch.command({
    query: `INSERT INTO ${DATABASE}.events SELECT generateUUIDv4(), '$pageview', '{}',
        toDateTime(${start} + intDiv(number, ${EXPORTS * ROWS_PER_INTERVAL}) * 3600 + number % 3600), ${TEAM_BASE} + number % ${EXPORTS},
        'd', '', toDateTime(${start}), generateUUIDv4(), '{}',
        toDateTime(${start} + intDiv(number, ${EXPORTS * ROWS_PER_INTERVAL}) * 3600 + number % 3600)
      FROM numbers(${total})`,
  });
  const result = await ch.query({
    query: `SELECT team_id, toUInt32(intDiv(toUInt32(inserted_at), 3600) * 3600) AS h, count() AS n,
        toString(sum(sipHash64(toString(uuid)))) AS c
      FROM ${DATABASE}.events GROUP BY team_id, h`,
    format: 'JSONEachRow',
  });
  const truth = new Map<string, { records: number; checksum: string }>();
  for (const row of (await result.json()) as Array<{ team_id: string; h: number; n: string; c: string }>)
    truth.set(`${row.team_id}|${Number(row.h) * 1000}`, { records: Number(row.n), checksum: row.c });
  return truth;
}

/** 1,000 hourly exports, each with 72 runs Completed with receipts equal to the source. */
async function createExportsWithReceipts(
  store: Store,
  first: number,
  truth: Map<string, { records: number; checksum: string }>,
): Promise<string[]> {
  const ids: string[] = [];
  for (let e = 0; e < EXPORTS; e++) {
    const exp = exportFixture(randomUUID(), first, { name: `reconcile bench ${e}`, team_id: TEAM_BASE + e });
    await store.exports.create(exp, first + WINDOW_HOURS * HOUR, null);
    ids.push(exp.id);
  }
  const runs: Array<NewRun & { team: number }> = ids.flatMap((id, e) =>
    Array.from({ length: WINDOW_HOURS }, (_, h) => ({
      id: runIdFor(id, first + h * HOUR),
      export_id: id,
      data_interval_start: first + h * HOUR,
      data_interval_end: first + (h + 1) * HOUR,
      team: TEAM_BASE + e,
    })),
  );
  await store.runs.createMany(runs);
  // Completed with receipts as finish-run.lua leaves a run (the fields the pass reads), written in
  // pipelines: through start and complete, one script call each, this took over a minute here.
  for (let i = 0; i < runs.length; i += 5000) {
    const pipeline = store.redis.pipeline();
    for (const run of runs.slice(i, i + 5000)) {
      const held = truth.get(`${run.team}|${run.data_interval_start}`) ?? { records: 0, checksum: '0' };
      const receipt = { ...held, min_inserted_at: null, max_inserted_at: null, files: [], version: 1 };
      pipeline.hset(store.keys.run(run.id), {
        status: 'Completed',
        attempts: 1,
        records_completed: held.records,
        finished_at: new Date(run.data_interval_end).toISOString(),
        receipt: JSON.stringify(receipt),
      });
    }
    await pipeline.exec();
  }
  return ids;
}
