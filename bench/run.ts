/**
 * `npm run bench [-- --rows N --reps R --quick]`: the product against the
 * physical limit of reading (B0) and the cron one-liner (B1), measured in
 * one run on the same interval; the Postgres case against `curl | psql \copy`
 * (B_pg); scheduling and small-run throughput.
 * Prints a table and writes bench/results.json.
 */
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { b0, b1, responseBytes } from './baselines';
import { benchBucket } from './bench-bucket';
import { countTeamRows, generateEvents } from './generate';
import { runProductCase, type ProductCase } from './product';
import { backfillAccept, schedulerTick } from './scheduling';
import { generateSmall, smallRuns } from './small-runs';
import { isolated } from './isolated';
import { benchPersons } from './persons';
import { bPg, dropProductTable, preparePostgres } from './postgres-bench';
import { FOOTPRINT_KEYS, redisFootprint } from './redis-footprint';
import { saveResults } from './results-file';
import { scaleBench, SCALE_OPTIONS } from './scale-hook';
import { dropStoreAndQueue } from '../test/helpers/redis-prefix';
import { WorkerProcess } from './worker-process';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    cases: { type: 'string', default: 'jsonl_gzip,jsonl_zstd,parquet_zstd,postgres' },
    /** Measure Redis's footprint (about a minute and a half) in a --quick run too. */
    footprint: { type: 'boolean', default: false },
    ...SCALE_OPTIONS,
    /** Skip the persons model's case (bench/persons.ts). */
    'no-persons': { type: 'boolean', default: false },
  },
});
const rows = Number(args.rows);
const reps = Number(args.reps ?? (args.quick ? 1 : 3));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const S3_ENDPOINT = process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568';
/** BENCH_DATABASE: another ClickHouse database, so as not to reload one another run is reading. */
const DATABASE = process.env.BENCH_DATABASE ?? 'bx_bench';
const BUCKET = 'bx-bench';
const CASES: Record<string, ProductCase> = {
  jsonl_gzip: { name: 'jsonl_gzip', file_format: 'JSONLines', compression: 'gzip' },
  jsonl_zstd: { name: 'jsonl_zstd', file_format: 'JSONLines', compression: 'zstd' },
  parquet_zstd: { name: 'parquet_zstd', file_format: 'Parquet', compression: 'zstd' },
  postgres: { name: 'postgres' },
};

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  if (args.scale) return scaleBench(args, CLICKHOUSE_URL);
  if (!Number.isInteger(rows) || rows < 1000) throw new Error('--rows must be an integer ≥ 1000');
  execFileSync('bash', [join(__dirname, '..', 'scripts', 'local-services.sh'), 'start'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-'));
  const prefix = `bxbench${Date.now()}`;
  const store = Store.connect(REDIS_URL, prefix);
  const queue = new BullMqRunQueue({ redis: { url: REDIS_URL }, prefix, attempts: 1, backoffMs: 1000 });
  const s3Config = await benchBucket(S3_ENDPOINT, BUCKET);
  const workerEnv = { REDIS_URL, CLICKHOUSE_URL, CLICKHOUSE_DATABASE: DATABASE, QUEUE_PREFIX: prefix };
  try {
    say(`loading ${rows.toLocaleString('en-US')} events into ${DATABASE}.events`);
    await generateEvents(CLICKHOUSE_URL, DATABASE, rows);
    const teamRows = await countTeamRows(CLICKHOUSE_URL, DATABASE);
    const bytes = responseBytes(CLICKHOUSE_URL, DATABASE, dir);
    say(
      `interval: ${teamRows.toLocaleString('en-US')} rows of the exported team, ${(bytes / 1e6).toFixed(0)} MB as JSONEachRow`,
    );

    // B0 is measured at the start and again right before every product repetition: ClickHouse
    // serves the same query faster or slower from hour to hour (15-25% here), so the ratios use
    // the median of every B0 of the run, and each case also reports the B0 measured beside it.
    const b0s: number[] = [];
    const b1s: number[] = [];
    for (let i = 0; i < reps; i++) {
      b0s.push(b0(CLICKHOUSE_URL, DATABASE, dir).seconds);
      b1s.push(b1(CLICKHOUSE_URL, DATABASE, dir).seconds);
      say(`  rep ${i + 1}/${reps}: B0 ${b0s[i]!.toFixed(2)} s, B1 ${b1s[i]!.toFixed(2)} s`);
    }
    const b1Rate = teamRows / median(b1s);
    say(
      `B0 ${Math.round(teamRows / median(b0s)).toLocaleString('en-US')} rows/s, B1 ${Math.round(b1Rate).toLocaleString('en-US')} rows/s`,
    );

    const measured: Array<{
      name: string;
      r: Awaited<ReturnType<typeof runProductCase>>;
      b0s: number[];
      bPgs: number[];
    }> = [];
    for (const name of args.cases.split(',')) {
      const c = CASES[name];
      if (!c) throw new Error(`unknown case ${name}`);
      // Postgres: into a fresh table each repetition, after B_pg loaded an identical empty one.
      const postgres = name === 'postgres';
      if (postgres) c.destination = { type: 'Postgres', config: preparePostgres() };
      say(`product case ${name} (${reps} reps, each after a B0${postgres ? ' and a B_pg' : ''})`);
      const paired: number[] = [];
      const bPgs: number[] = [];
      const r = await runProductCase(
        c,
        reps,
        { store, queue, workerEnv, s3: s3Config },
        (rep, seconds) =>
          say(
            `  rep ${rep + 1}/${reps}: B0 ${paired[rep]!.toFixed(2)} s, ${postgres ? `B_pg ${bPgs[rep]!.toFixed(2)} s, ` : ''}${name} ${seconds.toFixed(2)} s, ${Math.round(teamRows / seconds).toLocaleString('en-US')} rows/s`,
          ),
        () => {
          paired.push(b0(CLICKHOUSE_URL, DATABASE, dir).seconds);
          if (!postgres) return;
          bPgs.push(bPg(CLICKHOUSE_URL, DATABASE, dir));
          dropProductTable();
        },
      );
      if (r.records !== teamRows) throw new Error(`${name} exported ${r.records} rows, expected ${teamRows}`);
      say(
        `  ${name}: ${Math.round(teamRows / median(r.seconds)).toLocaleString('en-US')} rows/s, peak RSS ${Math.round(r.peakRssMb)} MB`,
      );
      measured.push({ name, r, b0s: paired, bPgs });
    }
    const allB0s = [...b0s, ...measured.flatMap((m) => m.b0s)];
    const b0Rate = teamRows / median(allB0s);
    const cases: Record<string, CaseResult> = {};
    for (const { name, r, b0s: paired, bPgs } of measured) {
      const seconds = median(r.seconds);
      cases[name] = {
        rows_per_s: Math.round(teamRows / seconds),
        rep_seconds: r.seconds.map((x) => round(x, 3)),
        mb_per_s: round(bytes / 1e6 / seconds, 1),
        seconds: round(seconds, 3),
        ratio_b0: round(teamRows / seconds / b0Rate),
        ratio_b1: round(teamRows / seconds / b1Rate),
        b0_paired_rep_seconds: paired.map((x) => round(x, 3)),
        ratio_b0_paired: round(median(paired) / seconds),
        peak_rss_mb: Math.round(r.peakRssMb),
        output_mb: round(r.bytes / 1e6, 1),
        ...(bPgs.length > 0 && {
          /** Against B_pg (`curl FORMAT CSV | psql \copy`) measured before each repetition. */
          ratio_b_pg: round(median(bPgs) / seconds),
          b_pg_rows_per_s: Math.round(teamRows / median(bPgs)),
          b_pg_rep_seconds: bPgs.map((x) => round(x, 3)),
        }),
      };
    }

    if (!args['no-persons']) {
      const deps = { url: CLICKHOUSE_URL, database: DATABASE, reps, dir, store, queue, workerEnv, s3: s3Config, say };
      cases.persons = await benchPersons({ ...deps, persons: Math.floor(rows / 2) });
    }

    // Scheduling and small runs: `reps` repetitions each, every one on fresh keys; medians reported.
    say(`scheduling: 10,000 due hourly exports (and 10,000 not due), ${reps} reps`);
    const ticks: Array<Awaited<ReturnType<typeof schedulerTick>>> = [];
    for (let i = 0; i < reps; i++) {
      const tick = await isolated(`${prefix}t${i}`, (s, q) => schedulerTick(s, q));
      say(
        `  tick ${tick.tick10kSeconds.toFixed(3)} s for ${tick.enqueued} runs; none due: ${tick.tickNoneDueSeconds.toFixed(4)} s`,
      );
      ticks.push(tick);
    }
    const backfills: number[] = [];
    const waits: number[] = [];
    for (let i = 0; i < reps; i++) {
      // A fresh prefix: the probe's run must wait behind the backfill only, not the tick's 10,000 runs.
      const { backfill, wait } = await isolated(`${prefix}b${i}`, async (s, q) => {
        say('scheduling: backfill of 10,000 intervals');
        const accepted = await backfillAccept(s, q);
        say(`  accepted in ${accepted.seconds.toFixed(3)} s (${accepted.runs} runs)`);
        say('scheduling: how long a scheduled run waits behind that backfill');
        return {
          backfill: accepted,
          wait: await scheduledRunWait(s, q, { ...workerEnv, QUEUE_PREFIX: `${prefix}b${i}` }),
        };
      });
      say(`  the scheduled run started after ${wait.toFixed(3)} s`);
      backfills.push(backfill.seconds);
      waits.push(wait);
    }

    const smallCount = args.quick ? 200 : 1000;
    say(`small runs: ${smallCount} exports × ~100 events, ${reps} reps`);
    await generateSmall(CLICKHOUSE_URL, smallCount, 100);
    const smallRates: number[] = [];
    for (let i = 0; i < reps; i++) {
      // Its own prefix each time: the rate is read from the queue's job counts.
      const small = await isolated(`${prefix}s${i}`, (s, q) =>
        smallRuns(smallCount, 16, {
          store: s,
          queue: q,
          workerEnv: { ...workerEnv, QUEUE_PREFIX: `${prefix}s${i}` },
          s3: s3Config,
        }),
      );
      say(`  ${small.runsPerSecond.toFixed(1)} runs/s`);
      smallRates.push(small.runsPerSecond);
    }

    // What the product keeps in Redis: minutes on a busy machine, so a --quick run skips it unless asked.
    let footprint: Record<string, unknown> = {};
    if (!args.quick || args.footprint) {
      const began = Date.now();
      say('Redis footprint: a 5-year catch-up, a backfill of 200,000 intervals, an export-year of history');
      const f = await redisFootprint(REDIS_URL, { quick: args.quick });
      say(
        `  catch-up ${f.redis_mb_catchup_5y} MB, backfill ${f.redis_mb_backfill_200k} MB, ${f.redis_kb_per_export_year.five_minutes} KB per 5-minute export-year (${Math.round((Date.now() - began) / 1000)} s)`,
      );
      footprint = { ...f, footprint_measured_at: new Date().toISOString() };
    }

    const results: BenchResults & Record<string, unknown> = {
      rows: teamRows,
      table_rows: rows,
      interval_mb: round(bytes / 1e6, 1),
      reps,
      baselines: {
        b0: {
          rows_per_s: Math.round(b0Rate),
          seconds: round(median(allB0s), 3),
          /** The run's first B0s, then the ones measured before each product repetition, in order. */
          rep_seconds: allB0s.map((x) => round(x, 3)),
        },
        b1: {
          rows_per_s: Math.round(b1Rate),
          seconds: round(median(b1s), 3),
          rep_seconds: b1s.map((x) => round(x, 3)),
        },
      },
      cases,
      scheduler_tick_10k_s: round(median(ticks.map((t) => t.tick10kSeconds)), 3),
      scheduler_tick_none_due_20k_s: round(median(ticks.map((t) => t.tickNoneDueSeconds)), 4),
      backfill_10k_accept_s: round(median(backfills), 3),
      scheduled_run_wait_behind_backfill_s: round(median(waits), 3),
      small_runs_per_s: round(median(smallRates), 1),
      small_runs_worker_concurrency: 16,
      ...footprint,
      measured_at: new Date().toISOString(),
    };
    // `npm run bench -- --scale` measures apart, and the footprint may have been skipped: their figures stay.
    saveResults(results, ['scale', 'footprint_measured_at', ...FOOTPRINT_KEYS]);
    printTable(results);
  } finally {
    await dropStoreAndQueue(store, queue, prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Start a worker on the backfill, then a scheduled run arrives: seconds until it starts. */
async function scheduledRunWait(
  store: Store,
  queue: BullMqRunQueue,
  workerEnv: Record<string, string>,
): Promise<number> {
  const { schedulerWaitProbe } = await import('./wait-probe');
  const worker = new WorkerProcess({ ...workerEnv, WORKER_CONCURRENCY: '2' });
  await worker.started();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    return await schedulerWaitProbe(store, queue);
  } finally {
    await worker.stop();
  }
}

interface CaseResult {
  rows_per_s: number;
  /** Each repetition's seconds, in order (rows_per_s is from their median). */
  rep_seconds: number[];
  mb_per_s: number;
  seconds: number;
  ratio_b0: number;
  ratio_b1: number;
  /** B0 measured right before each repetition of this case. */
  b0_paired_rep_seconds: number[];
  /** rows/s over the median of this case's own B0s: the ratio without ClickHouse's drift across the run. */
  ratio_b0_paired: number;
  peak_rss_mb: number;
  output_mb: number;
  ratio_b_pg?: number;
  b_pg_rows_per_s?: number;
  b_pg_rep_seconds?: number[];
}

interface BenchResults {
  rows: number;
  interval_mb: number;
  reps: number;
  baselines: Record<'b0' | 'b1', { rows_per_s: number; seconds: number; rep_seconds: number[] }>;
  cases: Record<string, CaseResult>;
  scheduler_tick_10k_s: number;
  scheduler_tick_none_due_20k_s: number;
  backfill_10k_accept_s: number;
  scheduled_run_wait_behind_backfill_s: number;
  small_runs_per_s: number;
  small_runs_worker_concurrency: number;
}

function printTable(r: BenchResults): void {
  const line = (cells: Array<string | number>, widths: number[]) =>
    cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  const widths = [14, 12, 8, 9, 9, 14, 12];
  const out = [
    `interval: ${r.rows.toLocaleString('en-US')} rows, ${r.interval_mb} MB JSONEachRow; median of ${r.reps}`,
    `x B0: against the median of all ${r.baselines.b0.rep_seconds.length} B0s of the run; paired: against the B0s measured right before that case's repetitions`,
    line(['case', 'rows/s', 'MB/s', 'x B0', 'x B1', 'x B0 paired', 'peak RSS MB'], widths),
    line(['B0 read', r.baselines.b0.rows_per_s, '', '1.00', '', '', ''], widths),
    line(
      [
        'B1 curl|gzip',
        r.baselines.b1.rows_per_s,
        '',
        round(r.baselines.b1.rows_per_s / r.baselines.b0.rows_per_s),
        '1.00',
        '',
        '',
      ],
      widths,
    ),
    ...Object.entries(r.cases).map(([name, c]) =>
      line(
        [
          name,
          c.rows_per_s ?? '',
          c.mb_per_s ?? '',
          c.ratio_b0 ?? '',
          c.ratio_b1 ?? '',
          c.ratio_b0_paired ?? '',
          c.peak_rss_mb ?? '',
        ],
        widths,
      ),
    ),
    ...Object.entries(r.cases).flatMap(([name, c]) =>
      c.ratio_b_pg === undefined
        ? []
        : [
            `${name}: ${c.ratio_b_pg} x B_pg (curl FORMAT CSV | psql \\copy into an identical empty table: ${c.b_pg_rows_per_s} rows/s, median of ${c.b_pg_rep_seconds!.length})`,
          ],
    ),
    '',
    `scheduler tick, 10,000 due exports: ${r.scheduler_tick_10k_s} s (none due of 20,000: ${r.scheduler_tick_none_due_20k_s} s)`,
    `backfill of 10,000 intervals accepted: ${r.backfill_10k_accept_s} s; a scheduled run behind it waited ${r.scheduled_run_wait_behind_backfill_s} s`,
    `small runs: ${r.small_runs_per_s} runs/s (one worker process, concurrency ${r.small_runs_worker_concurrency})`,
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
