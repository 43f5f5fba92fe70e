import { parseArgs } from 'node:util';
import { SCALE_OPTIONS } from './scale-hook';

export const USAGE = `usage: npm run bench [-- --rows N --reps R --quick --row-bytes B --cases a,b --footprint --no-persons]
       npm run bench -- --scale [--exports N] [--quick] [--scale-window S] [--scale-simulate-s S]
                        [--scale-concurrency C] [--scale-workers 1,2,4] [--scale-warmup-runs N]
                        [--scale-warmup-s S] [--scale-runs-only]

Loads events into one interval and measures the product against the read limits
(B0, B0_rb) and the cron one-liner (B1), on the default rows and on rows of about
--row-bytes bytes; the Postgres case against curl | psql \\copy; persons; one
scheduler tick, a backfill, small runs, a reconciler pass and Redis's footprint.
Prints a table and writes bench/results.json (docs/performance.md).
  --rows N         events in the interval (default 2000000, at least 1000)
  --reps R         repetitions per case (default 3; 1 with --quick)
  --quick          one repetition, a smaller small-runs case, no Redis footprint
  --row-bytes B    the second row profile's row size in bytes (default 400; 0 skips it)
  --cases a,b      export cases (default jsonl_gzip,jsonl_zstd,parquet_zstd,snowflake,postgres)
  --footprint      measure Redis's footprint in a --quick run too
  --no-persons     skip the persons case
  --scale          how far one deployment goes instead (docs/scaling.md): --exports N
                   (default 100000; 2000 with --quick) on 5-minute intervals
Environment: REDIS_URL, CLICKHOUSE_URL, BENCH_DATABASE (default bx_bench),
S3_ENDPOINT_URL (default: the benchmark's own S3 server), BENCH_S3_DIR.
Exit codes: 0 measured, 1 the benchmark failed, 2 bad arguments.`;

/** The export cases of `--cases`. */
export const CASE_NAMES: readonly string[] = ['jsonl_gzip', 'jsonl_zstd', 'parquet_zstd', 'snowflake', 'postgres'];

export const BENCH_OPTIONS = {
  rows: { type: 'string', default: '2000000' },
  reps: { type: 'string' },
  quick: { type: 'boolean', default: false },
  cases: { type: 'string', default: 'jsonl_gzip,jsonl_zstd,parquet_zstd,snowflake,postgres' },
  /** The second row profile's average row size as JSONEachRow (bytes); 0 skips it. */
  'row-bytes': { type: 'string', default: '400' },
  /** Measure Redis's footprint (about a minute and a half) in a --quick run too. */
  footprint: { type: 'boolean', default: false },
  ...SCALE_OPTIONS,
  /** Skip the persons model's case (bench/persons.ts). */
  'no-persons': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export type BenchArgs = ReturnType<typeof parseArgs<{ args: string[]; options: typeof BENCH_OPTIONS }>>['values'];

/**
 * The benchmark's options, or what to say: `--help` (exit 0), or a bad
 * option or value (exit 2) before anything starts, loads or connects.
 */
export function parseBenchArgs(
  argv: string[],
): { args: BenchArgs; rows: number; rowBytes: number; reps: number } | { help: string } | { error: string } {
  let args: BenchArgs;
  try {
    args = parseArgs({ args: argv, options: BENCH_OPTIONS, strict: true }).values;
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  if (args.help) return { help: USAGE };
  const whole = (flag: string, value: string, min: number): number | string => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    return n >= min ? n : `--${flag}: '${value}' is not a whole number of at least ${min}`;
  };
  const rows = whole('rows', args.rows, 1000);
  const rowBytes = whole('row-bytes', args['row-bytes'], 0);
  const reps = whole('reps', args.reps ?? (args.quick ? '1' : '3'), 1);
  for (const v of [rows, rowBytes, reps]) if (typeof v === 'string') return { error: v };
  // --scale's numbers (bench/scale-hook.ts): checked here too, so a typo is exit 2, not a stack trace.
  const scaleMinimums: Array<[keyof BenchArgs, number]> = [
    ['exports', 100],
    ['scale-window', 1],
    ['scale-concurrency', 1],
    ['scale-simulate-s', 1],
    ['scale-warmup-runs', 0],
    ['scale-warmup-s', 0],
  ];
  for (const [flag, min] of scaleMinimums) {
    const value = args[flag];
    if (typeof value !== 'string') continue;
    const checked = whole(flag, value, min);
    if (typeof checked === 'string') return { error: checked };
  }
  // The names bench/product.ts's BENCH_CASES knows (a test holds the two lists together).
  const unknown = args.cases.split(',').filter((name) => !CASE_NAMES.includes(name));
  if (unknown.length) return { error: `--cases: unknown case ${unknown.join(', ')} (cases: ${CASE_NAMES.join(', ')})` };
  const workers = args['scale-workers'];
  if (workers !== undefined && !/^[1-9]\d*(,[1-9]\d*)*$/.test(workers))
    return { error: `--scale-workers: '${workers}' is not worker counts of at least 1, e.g. 1,2,4` };
  return { args, rows: rows as number, rowBytes: rowBytes as number, reps: reps as number };
}
