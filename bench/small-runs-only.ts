/**
 * `npx tsx bench/small-runs-only.ts [--exports 1000] [--concurrency 16]`: the
 * small-runs figure of the benchmark alone (1,000 exports × ~100 events, one
 * worker process). Its own database, bucket and key prefix, so it can run
 * beside `npm run bench`.
 */
import { parseArgs } from 'node:util';
import { benchBucket } from './bench-bucket';
import { isolated } from './isolated';
import { generateSmall, smallRuns } from './small-runs';

const { values: args } = parseArgs({
  options: { exports: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' } },
});
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const S3_ENDPOINT = process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568';
const DATABASE = 'bx_bench_small_only';
const BUCKET = 'bx-bench-small-only';

async function main(): Promise<void> {
  const exports = Number(args.exports);
  const concurrency = Number(args.concurrency);
  const s3 = await benchBucket(S3_ENDPOINT, BUCKET);
  await generateSmall(CLICKHOUSE_URL, exports, 100, DATABASE);
  const prefix = `bxsmall${Date.now()}`;
  const result = await isolated(prefix, (store, queue) =>
    smallRuns(exports, concurrency, {
      store,
      queue,
      database: DATABASE,
      workerEnv: { REDIS_URL, CLICKHOUSE_URL, QUEUE_PREFIX: prefix },
      s3,
    }),
  );
  console.log('small runs', JSON.stringify({ exports, concurrency, ...result }));
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
