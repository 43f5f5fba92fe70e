/**
 * `npx tsx bench/product-only.ts [--rows N] [--reps R] [--cases a,b] [--row-bytes B]`:
 * the export cases of the benchmark alone, against B0, B0_rb and B1 measured
 * in the same run (fast to iterate on). Reuses <database>.events
 * (`--database`, default bx_bench; with `--row-bytes B`, bx_bench_rB.events)
 * when it already holds N rows; prints
 * one JSON line per case, with the ratios to the B0s (B0_rbs) measured right
 * before its repetitions too. `--no-baselines` for memory runs, `--no-b1` to
 * skip the slow gzip one-liner.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { createClient } from '@clickhouse/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { b0, b0RowBinary, b1, responseBytes } from './baselines';
import { countTeamRows, generateEvents, rowsDatabase } from './generate';
import { BENCH_CASES, runProductCase } from './product';
import { startBenchS3 } from './s3-server';
import { benchSnowflake } from './snowflake-target';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    reps: { type: 'string', default: '1' },
    cases: { type: 'string', default: 'jsonl_gzip,jsonl_zstd,parquet_zstd,snowflake' },
    /** The small row profile's row size (bx_bench_rB); default: the default profile (bx_bench). */
    'row-bytes': { type: 'string' },
    /** Skip B0/B1 (memory runs at 10M rows, where B1 alone takes minutes). */
    'no-baselines': { type: 'boolean', default: false },
    /** The database of the events (another than bx_bench keeps out of a benchmark running beside). */
    database: { type: 'string', default: 'bx_bench' },
    /** Measure B0 only (the zstd and Parquet targets are ratios to B0; B1 takes minutes). */
    'no-b1': { type: 'boolean', default: false },
  },
});
const URLS = { redis: 'redis://127.0.0.1:6379', ch: 'http://127.0.0.1:8123' };
const rowBytes = args['row-bytes'] === undefined ? undefined : Number(args['row-bytes']);
const DATABASE = rowBytes === undefined ? args.database : rowsDatabase(rowBytes, args.database);
if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(DATABASE)) throw new Error('--database must be a plain identifier');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function tableRows(): Promise<number> {
  const ch = createClient({ url: URLS.ch });
  try {
    const rs = await ch.query({ query: `SELECT count() AS n FROM ${DATABASE}.events`, format: 'JSONEachRow' });
    return Number(((await rs.json()) as Array<{ n: string }>)[0]!.n);
  } catch {
    return 0;
  } finally {
    await ch.close();
  }
}

async function main(): Promise<void> {
  const rows = Number(args.rows);
  const reps = Number(args.reps);
  if ((await tableRows()) !== rows) await generateEvents(URLS.ch, DATABASE, rows, { rowBytes });
  const teamRows = await countTeamRows(URLS.ch, DATABASE);
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-'));
  const prefix = `bxprod${Date.now()}`;
  const store = Store.connect(URLS.redis, prefix);
  const queue = new BullMqRunQueue({ redis: { url: URLS.redis }, prefix, attempts: 1, backoffMs: 1000 });
  // S3_ENDPOINT_URL: an S3 server already running; by default one of this run's own (bench/s3-server.ts).
  const ownS3 = process.env.S3_ENDPOINT_URL ? null : await startBenchS3();
  const s3Endpoint = process.env.S3_ENDPOINT_URL ?? ownS3!.endpoint;
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'bx-bench' })).catch(() => undefined);
  const snowflake = await benchSnowflake();
  try {
    const bytes = responseBytes(URLS.ch, DATABASE, dir);
    const baseline = (f: typeof b0) =>
      args['no-baselines']
        ? NaN
        : teamRows /
          median(
            Array.from({ length: reps }, () => {
              const { seconds } = f(URLS.ch, DATABASE, dir);
              console.log(`  ${f.name} ${seconds.toFixed(2)} s`);
              return seconds;
            }),
          );
    const b0Rate = baseline(b0);
    const rbRate = baseline(b0RowBinary);
    const b1Rate = args['no-b1'] ? NaN : baseline(b1);
    console.log(
      JSON.stringify({
        rows: teamRows,
        mb: Math.round(bytes / 1e6),
        b0: Math.round(b0Rate),
        b0_rb: Math.round(rbRate),
        b1: Math.round(b1Rate),
      }),
    );
    for (const name of args.cases.split(',')) {
      const paired: number[] = [];
      const pairedRb: number[] = [];
      const r = await runProductCase(
        BENCH_CASES[name]!,
        reps,
        {
          store,
          queue,
          workerEnv: {
            REDIS_URL: URLS.redis,
            CLICKHOUSE_URL: URLS.ch,
            CLICKHOUSE_DATABASE: DATABASE,
            QUEUE_PREFIX: prefix,
          },
          s3: {
            bucket_name: 'bx-bench',
            endpoint_url: s3Endpoint,
            aws_access_key_id: 'S3RVER',
            aws_secret_access_key: 'S3RVER',
          },
          snowflake,
          ...(ownS3 && { s3ServerCpu: () => ownS3.cpuSeconds() }),
        },
        (rep, seconds) =>
          console.log(
            `  ${name} ${seconds.toFixed(2)} s${paired.length ? ` after B0 ${paired[rep]!.toFixed(2)} s, B0_rb ${pairedRb[rep]!.toFixed(2)} s` : ''}`,
          ),
        () => {
          if (args['no-baselines']) return;
          paired.push(b0(URLS.ch, DATABASE, dir).seconds);
          pairedRb.push(b0RowBinary(URLS.ch, DATABASE, dir).seconds);
        },
      );
      const rate = teamRows / median(r.seconds);
      console.log(
        JSON.stringify({
          case: name,
          rows_per_s: Math.round(rate),
          ratio_b0: +(rate / b0Rate).toFixed(2),
          ratio_b0_rb: +(rate / rbRate).toFixed(2),
          ratio_b1: +(rate / b1Rate).toFixed(2),
          ratio_b0_paired: paired.length ? +(median(paired) / median(r.seconds)).toFixed(2) : null,
          ratio_b0_rb_paired: pairedRb.length ? +(median(pairedRb) / median(r.seconds)).toFixed(2) : null,
          peak_rss_mb: Math.round(r.peakRssMb),
          records: r.records,
          rep_seconds: r.seconds.map((x) => +x.toFixed(2)),
          worker_cpu_s: r.cpu,
          ...(r.s3ServerCpu.length && { s3_server_cpu_s: r.s3ServerCpu }),
        }),
      );
    }
  } finally {
    await queue.obliterate().catch(() => undefined);
    await queue.close();
    await store.close();
    await snowflake.close();
    await ownS3?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
