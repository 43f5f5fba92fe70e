/**
/**
 * `npm run bench [-- --rows N --reps R --quick --row-bytes B --cases a,b]`:
 * the product against the read limits (B0: the SELECT as JSON; B0_rb: the
 * rows as stored, in RowBinary) and the cron one-liner (B1), measured in one
 * run on the same interval, on two row profiles (the default, and rows of
 * about `--row-bytes` bytes, default 400; 0 skips it); the Postgres case
 * against `curl | psql \copy` (B_pg); scheduling and small-run throughput.
 * Prints a table and writes bench/results.json.
 */
import { BullMqRunQueue, type RunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { b0, b0RowBinary, b1, responseBytes } from './baselines';
import { benchBucket } from './bench-bucket';
import { countTeamRows, generateEvents, rowsDatabase } from './generate';
import { BENCH_CASES, runProductCase, type BenchSnowflakeTarget } from './product';
import { startBenchS3 } from './s3-server';
import { backfillAccept, schedulerTick } from './scheduling';
import { generateSmall, smallRuns } from './small-runs';
import { isolated } from './isolated';
import { benchPersons } from './persons';
import { benchSnowflake } from './snowflake-target';
import { bPg, dropProductTable, preparePostgres } from './postgres-bench';
import { reconcilePass1k } from './reconcile';
import { FOOTPRINT_KEYS, redisFootprint } from './redis-footprint';
import { saveResults } from './results-file';
import { scaleBench } from './scale-hook';
import { parseBenchArgs, USAGE } from './options';
import { dropStoreAndQueue } from '../test/helpers/redis-prefix';
import { WorkerProcess } from './worker-process';

const parsed = parseBenchArgs(process.argv.slice(2));
if ('help' in parsed) {
  process.stdout.write(parsed.help + '\n');
  process.exit(0);
}
if ('error' in parsed) {
  process.stderr.write(`bench: ${parsed.error}\n${USAGE}\n`);
  process.exit(2);
}
const { args, rows, rowBytes, reps } = parsed;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
/** BENCH_DATABASE: another ClickHouse database, so as not to reload one another run is reading. */
const DATABASE = process.env.BENCH_DATABASE ?? 'bx_bench';
const BUCKET = 'bx-bench';

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  if (args.scale) return scaleBench(args, CLICKHOUSE_URL);
  for (const name of args.cases.split(',')) if (!BENCH_CASES[name]) throw new Error(`unknown case ${name}`);
  execFileSync('bash', [join(__dirname, '..', 'scripts', 'local-services.sh'), 'start'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-'));
  const prefix = `bxbench${Date.now()}`;
  const store = Store.connect(REDIS_URL, prefix);
  const queue = new BullMqRunQueue({ redis: { url: REDIS_URL }, prefix, attempts: 1, backoffMs: 1000 });
  // S3_ENDPOINT_URL: an S3 server already running; by default the benchmark's own (bench/s3-server.ts).
  const ownS3 = process.env.S3_ENDPOINT_URL ? null : await startBenchS3();
  const s3Config = await benchBucket(process.env.S3_ENDPOINT_URL ?? ownS3!.endpoint, BUCKET);
  const snowflake = await benchSnowflake();
  const workerEnv = { REDIS_URL, CLICKHOUSE_URL, CLICKHOUSE_DATABASE: DATABASE, QUEUE_PREFIX: prefix };
  try {
    const deps = {
      dir,
      store,
      queue,
      s3: s3Config,
      snowflake,
      s3ServerCpu: ownS3 ? () => ownS3.cpuSeconds() : undefined,
    };
    const main = await measureProfile({ ...deps, database: DATABASE, workerEnv });
    const small =
      rowBytes > 0
        ? await measureProfile({
            ...deps,
            database: rowsDatabase(rowBytes, DATABASE),
            rowBytes,
            workerEnv: { ...workerEnv, CLICKHOUSE_DATABASE: rowsDatabase(rowBytes, DATABASE) },
          })
        : null;

    if (!args['no-persons']) {
      const deps = { url: CLICKHOUSE_URL, database: DATABASE, reps, dir, store, queue, workerEnv, s3: s3Config, say };
      main.cases.persons = await benchPersons({ ...deps, persons: Math.floor(rows / 2) });
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

    say('reconciliation: one pass over 1,000 hourly exports with a 72 h window');
    const reconcile = await isolated(`${prefix}r`, (s, q) => reconcilePass1k(s, q, CLICKHOUSE_URL));
    say(
      `  ${reconcile.seconds.toFixed(2)} s (ClickHouse ${reconcile.source_seconds.toFixed(2)} s; load ${reconcile.load_average})`,
    );
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
      rows: main.rows,
      table_rows: rows,
      interval_mb: main.interval_mb,
      reps,
      baselines: main.baselines,
      cases: main.cases,
      ...(small
        ? {
            small_profile: {
              row_bytes: rowBytes,
              rows: small.rows,
              table_rows: rows,
              interval_mb: small.interval_mb,
              baselines: small.baselines,
            },
            cases_small: small.cases,
          }
        : {}),
      scheduler_tick_10k_s: round(median(ticks.map((t) => t.tick10kSeconds)), 3),
      scheduler_tick_none_due_20k_s: round(median(ticks.map((t) => t.tickNoneDueSeconds)), 4),
      backfill_10k_accept_s: round(median(backfills), 3),
      scheduled_run_wait_behind_backfill_s: round(median(waits), 3),
      small_runs_per_s: round(median(smallRates), 1),
      small_runs_worker_concurrency: 16,
      reconcile_pass_1k_s: round(reconcile.seconds, 3),
      reconcile_pass_1k: reconcile,
      ...footprint,
      measured_at: new Date().toISOString(),
    };
    // `npm run bench -- --scale` measures apart, and the footprint may have been skipped: their figures stay.
    saveResults(results, ['scale', 'footprint_measured_at', ...FOOTPRINT_KEYS]);
    printTable(results);
  } finally {
    await dropStoreAndQueue(store, queue, prefix);
    await snowflake.close();
    await ownS3?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One row profile: loads the interval into `database`, measures the
 * baselines `reps` times, then each case `reps` times, each repetition
 * right after a B0 and a B0_rb of its own (ClickHouse serves the same query
 * faster or slower from hour to hour, 15-25% here: the ratios use the median
 * of every B0 of the profile, and each case also reports the ones measured
 * beside it).
 */
async function measureProfile(p: {
  database: string;
  rowBytes?: number;
  dir: string;
  store: Store;
  queue: RunQueue;
  s3: Record<string, string>;
  snowflake: BenchSnowflakeTarget;
  s3ServerCpu?: () => number;
  workerEnv: Record<string, string>;
}): Promise<Pick<BenchResults, 'rows' | 'interval_mb' | 'baselines' | 'cases'>> {
  const { database, dir } = p;
  const profile = p.rowBytes ? `${p.rowBytes}-byte rows` : 'default rows';
  say(`loading ${rows.toLocaleString('en-US')} events (${profile}) into ${database}.events`);
  await generateEvents(CLICKHOUSE_URL, database, rows, { rowBytes: p.rowBytes });
  const teamRows = await countTeamRows(CLICKHOUSE_URL, database);
  const bytes = responseBytes(CLICKHOUSE_URL, database, dir);
  say(
    `interval: ${teamRows.toLocaleString('en-US')} rows of the exported team, ${(bytes / 1e6).toFixed(0)} MB as JSONEachRow (${Math.round(bytes / teamRows)} bytes a row)`,
  );
  const rate = (seconds: number) => Math.round(teamRows / seconds).toLocaleString('en-US');
  const b0s: number[] = [];
  const rbs: number[] = [];
  const b1s: number[] = [];
  for (let i = 0; i < reps; i++) {
    b0s.push(b0(CLICKHOUSE_URL, database, dir).seconds);
    rbs.push(b0RowBinary(CLICKHOUSE_URL, database, dir).seconds);
    b1s.push(b1(CLICKHOUSE_URL, database, dir).seconds);
    say(
      `  rep ${i + 1}/${reps}: B0 ${b0s[i]!.toFixed(2)} s, B0_rb ${rbs[i]!.toFixed(2)} s, B1 ${b1s[i]!.toFixed(2)} s`,
    );
  }
  say(`B0 ${rate(median(b0s))} rows/s, B0_rb ${rate(median(rbs))} rows/s, B1 ${rate(median(b1s))} rows/s`);

  const measured: Array<{
    name: string;
    r: Awaited<ReturnType<typeof runProductCase>>;
    b0s: number[];
    rbs: number[];
    bPgs: number[];
  }> = [];
  for (const name of args.cases.split(',')) {
    const c = { ...BENCH_CASES[name]! };
    // Postgres: into a fresh table each repetition, after B_pg loaded an identical empty one.
    const postgres = name === 'postgres';
    if (postgres) c.destination = { type: 'Postgres', config: preparePostgres() };
    say(`product case ${name} (${reps} reps, each after a B0 and a B0_rb${postgres ? ' and a B_pg' : ''})`);
    const paired: number[] = [];
    const pairedRb: number[] = [];
    const bPgs: number[] = [];
    const r = await runProductCase(
      c,
      reps,
      {
        store: p.store,
        queue: p.queue,
        workerEnv: p.workerEnv,
        s3: p.s3,
        snowflake: p.snowflake,
        s3ServerCpu: p.s3ServerCpu,
      },
      (rep, seconds) =>
        say(
          `  rep ${rep + 1}/${reps}: B0 ${paired[rep]!.toFixed(2)} s, B0_rb ${pairedRb[rep]!.toFixed(2)} s, ${postgres ? `B_pg ${bPgs[rep]!.toFixed(2)} s, ` : ''}${name} ${seconds.toFixed(2)} s, ${rate(seconds)} rows/s`,
        ),
      () => {
        paired.push(b0(CLICKHOUSE_URL, database, dir).seconds);
        pairedRb.push(b0RowBinary(CLICKHOUSE_URL, database, dir).seconds);
        if (!postgres) return;
        bPgs.push(bPg(CLICKHOUSE_URL, database, dir));
        dropProductTable();
      },
    );
    if (r.records !== teamRows) throw new Error(`${name} exported ${r.records} rows, expected ${teamRows}`);
    say(`  ${name}: ${rate(median(r.seconds))} rows/s, peak RSS ${Math.round(r.peakRssMb)} MB`);
    measured.push({ name, r, b0s: paired, rbs: pairedRb, bPgs });
  }
  const allB0s = [...b0s, ...measured.flatMap((m) => m.b0s)];
  const allRbs = [...rbs, ...measured.flatMap((m) => m.rbs)];
  const b0Rate = teamRows / median(allB0s);
  const rbRate = teamRows / median(allRbs);
  const b1Rate = teamRows / median(b1s);
  const cases: Record<string, CaseResult> = {};
  for (const { name, r, b0s: paired, rbs: pairedRb, bPgs } of measured) {
    const seconds = median(r.seconds);
    cases[name] = {
      rows_per_s: Math.round(teamRows / seconds),
      rep_seconds: r.seconds.map((x) => round(x, 3)),
      mb_per_s: round(bytes / 1e6 / seconds, 1),
      seconds: round(seconds, 3),
      ratio_b0: round(teamRows / seconds / b0Rate),
      ratio_b0_rb: round(teamRows / seconds / rbRate),
      ratio_b1: round(teamRows / seconds / b1Rate),
      b0_paired_rep_seconds: paired.map((x) => round(x, 3)),
      ratio_b0_paired: round(median(paired) / seconds),
      b0_rb_paired_rep_seconds: pairedRb.map((x) => round(x, 3)),
      ratio_b0_rb_paired: round(median(pairedRb) / seconds),
      peak_rss_mb: Math.round(r.peakRssMb),
      output_mb: round(r.bytes / 1e6, 1),
      worker_cpu_s: r.cpu,
      ...(r.s3ServerCpu.length > 0 && { s3_server_cpu_s: r.s3ServerCpu }),
      ...(bPgs.length > 0 && {
        /** Against B_pg (`curl FORMAT CSV | psql \copy`) measured before each repetition. */
        ratio_b_pg: round(median(bPgs) / seconds),
        b_pg_rows_per_s: Math.round(teamRows / median(bPgs)),
        b_pg_rep_seconds: bPgs.map((x) => round(x, 3)),
      }),
    };
  }
  const baseline = (all: number[], perRep: number[]) => ({
    rows_per_s: Math.round(teamRows / median(all)),
    seconds: round(median(all), 3),
    /** The profile's first B0s (B0_rbs), then the ones measured before each product repetition, in order. */
    rep_seconds: perRep.map((x) => round(x, 3)),
  });
  return {
    rows: teamRows,
    interval_mb: round(bytes / 1e6, 1),
    baselines: {
      b0: baseline(allB0s, allB0s),
      b0_rowbinary: baseline(allRbs, allRbs),
      b1: baseline(b1s, b1s),
    },
    cases,
  };
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
  /** Against the median of the profile's B0_rbs: the true read limit (not in the persons case). */
  ratio_b0_rb?: number;
  ratio_b1: number;
  /** B0 measured right before each repetition of this case. */
  b0_paired_rep_seconds: number[];
  /** rows/s over the median of this case's own B0s: the ratio without ClickHouse's drift across the run. */
  ratio_b0_paired: number;
  /** B0_rb measured right after each of those B0s, and the ratio to their median. */
  b0_rb_paired_rep_seconds?: number[];
  ratio_b0_rb_paired?: number;
  peak_rss_mb: number;
  output_mb: number;
  ratio_b_pg?: number;
  b_pg_rows_per_s?: number;
  b_pg_rep_seconds?: number[];
  /** The worker's CPU seconds per repetition, by thread (ProductResult.cpu). */
  worker_cpu_s?: Array<{ main: number; others: number[]; total: number; minor_faults: number }>;
  /** The benchmark's own S3 server's CPU seconds per repetition (bench/s3-server.ts). */
  s3_server_cpu_s?: number[];
}

type Baseline = { rows_per_s: number; seconds: number; rep_seconds: number[] };

interface BenchResults {
  rows: number;
  interval_mb: number;
  reps: number;
  baselines: Record<'b0' | 'b0_rowbinary' | 'b1', Baseline>;
  cases: Record<string, CaseResult>;
  /** The second row profile (`--row-bytes`), measured the same way. */
  small_profile?: {
    row_bytes: number;
    rows: number;
    table_rows: number;
    interval_mb: number;
    baselines: Record<'b0' | 'b0_rowbinary' | 'b1', Baseline>;
  };
  cases_small?: Record<string, CaseResult>;
  scheduler_tick_10k_s: number;
  scheduler_tick_none_due_20k_s: number;
  backfill_10k_accept_s: number;
  scheduled_run_wait_behind_backfill_s: number;
  small_runs_per_s: number;
  small_runs_worker_concurrency: number;
  reconcile_pass_1k_s: number;
}

function profileTable(
  title: string,
  p: { rows: number; interval_mb: number; baselines: BenchResults['baselines'] },
  cases: Record<string, CaseResult>,
): string[] {
  const line = (cells: Array<string | number>) =>
    cells.map((c, i) => String(c).padStart(i === 0 ? 14 : i < 3 ? 10 : 8)).join('  ');
  const { b0, b0_rowbinary: rb, b1 } = p.baselines;
  return [
    `${title}: ${p.rows.toLocaleString('en-US')} rows, ${p.interval_mb} MB as the product's SELECT in JSONEachRow (${Math.round((p.interval_mb * 1e6) / p.rows)} bytes a row)`,
    line(['case', 'rows/s', 'MB/s', 'x B0', 'x B0_rb', 'x B1', 'paired B0', 'B0_rb', 'RSS MB']),
    line(['B0 read', b0.rows_per_s, '', '1.00', round(b0.rows_per_s / rb.rows_per_s), '', '', '', '']),
    line(['B0_rb read', rb.rows_per_s, '', round(rb.rows_per_s / b0.rows_per_s), '1.00', '', '', '', '']),
    line(['B1 curl|gzip', b1.rows_per_s, '', round(b1.rows_per_s / b0.rows_per_s), '', '1.00', '', '', '']),
    ...Object.entries(cases).map(([name, c]) =>
      line([
        name,
        c.rows_per_s,
        c.mb_per_s,
        c.ratio_b0,
        c.ratio_b0_rb ?? '',
        c.ratio_b1,
        c.ratio_b0_paired,
        c.ratio_b0_rb_paired ?? '',
        c.peak_rss_mb,
      ]),
    ),
  ];
}

function printTable(r: BenchResults): void {
  const out = [
    `median of ${r.reps}; x B0 and x B0_rb: against the median of all the profile's B0s (B0_rbs);`,
    `paired: against the B0s (B0_rbs) measured right before that case's repetitions`,
    ...profileTable('default rows', r, r.cases),
    ...(r.small_profile && r.cases_small
      ? ['', ...profileTable(`rows of ${r.small_profile.row_bytes} bytes as stored`, r.small_profile, r.cases_small)]
      : []),
    ...[
      ...Object.entries(r.cases),
      ...Object.entries(r.cases_small ?? {}).map(([name, c]) => [`${name} (small rows)`, c] as const),
    ].flatMap(([name, c]) =>
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
    `reconciler pass, 1,000 hourly exports, 72 h window: ${r.reconcile_pass_1k_s} s`,
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
