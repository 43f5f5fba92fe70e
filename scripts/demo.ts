/**
 * Runs real exports against the local services: sample events in ClickHouse,
 * the product started as `npm start` does, hourly exports to S3 and to
 * PostgreSQL created through the admin API, then the objects, the table's rows
 * per interval and the run records printed, and the next steps: commands to paste that run the product on the demo's data
 * (test/e2e/demo-next-steps.test.ts runs them as printed).
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { BatchExport, Run } from '@bx/core';
import { clickHouseUnreachable } from '@bx/clickhouse/ping';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  DEMO_PG_TABLE_NAME,
  demoPostgresDestination,
  demoPsqlCommand,
  resetDemoTable,
  rowsPerInterval,
} from './demo-postgres';
import { demoSecretsKey } from './demo-secrets';

const HOUR = 3_600_000;
// BX_DEMO_DATABASE and BX_DEMO_BUCKET let tests run the demo beside a user's.
const DATABASE = process.env.BX_DEMO_DATABASE ?? 'batch_exports_demo';
const BUCKET = process.env.BX_DEMO_BUCKET ?? 'batch-exports-demo';
const PORT = Number(process.env.PORT ?? 8080);
const TOKEN = process.env.ADMIN_API_TOKEN || randomBytes(24).toString('hex');
const S3_ENDPOINT = process.env.S3_ENDPOINT_URL ?? 'http://127.0.0.1:4568';
const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
/** Destination secrets are encrypted in Redis with this key (yours if you set one). */
const SECRETS_KEY = demoSecretsKey(process.env, process.env.BX_SERVICES_DIR);
/** The local S3 server and PostgreSQL listen on loopback, which destinations may not reach by default. */
const ALLOWED_PRIVATE =
  process.env.ALLOWED_PRIVATE_DESTINATIONS ?? [...new Set([new URL(S3_ENDPOINT).hostname, '127.0.0.1'])].join(',');
const say = (msg: string) => console.log(`[demo] ${msg}`);
/** Around the commands to paste, so a test can find them. */
const NEXT_STEPS_BEGIN = '# ---- next steps ----';
const NEXT_STEPS_END = '# ---- end ----';
// The SDK's 9-line notice that its 2027 releases need Node 22 (this project runs on 20).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';

/** Seeds the events; a ClickHouse that does not answer is one line naming CLICKHOUSE_URL. */
async function seedEvents(base: number): Promise<number> {
  try {
    return await insertEvents(base);
  } catch (err) {
    throw clickHouseUnreachable(CLICKHOUSE_URL, err) ?? err;
  }
}

async function insertEvents(base: number): Promise<number> {
  const ch = createClient({ url: CLICKHOUSE_URL, log: { level: ClickHouseLogLevel.OFF } });
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${DATABASE}` });
  await ch.command({ query: `DROP TABLE IF EXISTS ${DATABASE}.events` });
  await ch.command({
    query: `CREATE TABLE ${DATABASE}.events (
      uuid UUID, event String, properties String, timestamp DateTime('UTC'), team_id Int64,
      distinct_id String, elements_chain String, created_at DateTime('UTC'), person_id UUID,
      person_properties String, inserted_at Nullable(DateTime('UTC'))
    ) ENGINE = MergeTree() ORDER BY (team_id, uuid)`,
  });
  const names = ['$pageview', '$autocapture', 'signed up', 'purchase'];
  const rows = [];
  for (let i = 0; i < 3000; i++) {
    const at = new Date(base + Math.floor((i / 3000) * 3 * HOUR)).toISOString().slice(0, 19).replace('T', ' ');
    rows.push({
      uuid: randomUUID(),
      event: names[i % names.length],
      properties: JSON.stringify({
        $current_url: `https://shop.example/p/${i % 50}`,
        $browser: 'Firefox',
        price: i % 7,
      }),
      timestamp: at,
      team_id: 1 + (i % 2),
      distinct_id: `user-${i % 120}`,
      elements_chain: '',
      created_at: at,
      person_id: randomUUID(),
      person_properties: JSON.stringify({ email: `user-${i % 120}@example.com` }),
      inserted_at: at,
    });
  }
  await ch.insert({ table: `${DATABASE}.events`, values: rows, format: 'JSONEachRow' });
  await ch.close();
  return rows.length;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** An error that ends a wait at once (a failed run, the product gone), where others mean "not yet". */
class DemoFailure extends Error {}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch((err: unknown) => {
      if (err instanceof DemoFailure) throw err;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until each export (by label: id) has 3 completed runs, saying their statuses as they change; the runs, oldest first. */
async function waitForRuns<L extends string>(exports: Record<L, string>): Promise<Record<L, Run[]>> {
  const labels = Object.keys(exports) as L[];
  const oldestFirst = (a: Run, b: Run) => a.data_interval_start.localeCompare(b.data_interval_start);
  let shown = '';
  return waitFor(
    '3 completed runs of each export',
    async () => {
      const all = await Promise.all(
        labels.map((label) =>
          api<{ results: Run[] }>('GET', `/api/exports/${exports[label]}/runs`).then((r) =>
            r.results.sort(oldestFirst),
          ),
        ),
      );
      const line = labels.map((label, i) => `${label} ${all[i]!.map((r) => r.status).join(', ') || 'none yet'}`);
      if (line.join('; ') !== shown) say(`runs: ${line.join('; ')}`);
      shown = line.join('; ');
      const failed = all.flat().find((r) => r.status === 'Failed');
      if (failed) throw new DemoFailure(`a run failed: ${failed.error ?? JSON.stringify(failed)}`);
      const done = all.every((runs) => runs.length >= 3 && runs.every((r) => r.status === 'Completed'));
      return done ? (Object.fromEntries(labels.map((label, i) => [label, all[i]!])) as Record<L, Run[]>) : undefined;
    },
    180_000,
  );
}

/** Fails when something already listens on `port`: the demo would talk to it instead of its own API. */
async function checkPortFree(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} is already in use (another npm start or demo?); stop it, or run with PORT=<free port>`
            : `cannot listen on port ${port}: ${err.message}`,
        ),
      ),
    );
    server.listen(port, '0.0.0.0', () => server.close(() => resolve()));
  });
}

/** Where the local S3 server (scripts/s3-server.js, s3rver) keeps an object's bytes, when it is the one in BX_SERVICES_DIR. */
function s3File(key: string): string | null {
  const dir = process.env.BX_SERVICES_DIR;
  const file = dir && join(dir, 's3', BUCKET, `${key}._S3rver_object`);
  return file && existsSync(file) ? file : null;
}

/** Lines to paste into the shell: the product on the demo's data, and an export of it to the local S3 server. */
function nextSteps(base: number): string {
  const host = `localhost:${PORT}`;
  const env = [
    // The services the demo used, when they are not the defaults npm start would use.
    process.env.REDIS_URL && process.env.REDIS_URL !== 'redis://127.0.0.1:6379'
      ? `REDIS_URL=${process.env.REDIS_URL}`
      : '',
    CLICKHOUSE_URL !== 'http://127.0.0.1:8123' ? `CLICKHOUSE_URL=${CLICKHOUSE_URL}` : '',
    `ALLOWED_PRIVATE_DESTINATIONS=${ALLOWED_PRIVATE}`,
    DATABASE !== 'default' ? `CLICKHOUSE_DATABASE=${DATABASE}` : '',
    PORT !== 8080 ? `PORT=${PORT}` : '',
  ].filter(Boolean);
  const config = {
    bucket_name: BUCKET,
    prefix: 'mine/{year}/{month}/{day}',
    endpoint_url: S3_ENDPOINT,
    aws_access_key_id: 'S3RVER',
    aws_secret_access_key: 'S3RVER',
    compression: 'gzip',
  };
  const body = {
    name: 'my first export',
    team_id: 1,
    interval: 'hour',
    start_at: new Date(base).toISOString(),
    destination: { type: 'S3', config },
  };
  return [
    `export ADMIN_API_TOKEN=${TOKEN}`,
    `export SECRETS_ENCRYPTION_KEYS='${SECRETS_KEY}'`,
    `${[...env, 'npm start'].join(' ')} > batch-exports.log 2>&1 &`,
    `until curl -s -o /dev/null ${host}/healthz; do sleep 1; done`,
    `id=$(curl -s -X POST ${host}/api/exports \\`,
    `  -H "Authorization: Bearer $ADMIN_API_TOKEN" -H 'content-type: application/json' \\`,
    `  -d '${JSON.stringify(body)}' \\`,
    `  | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).id')`,
    `curl -s -H "Authorization: Bearer $ADMIN_API_TOKEN" ${host}/api/exports/$id/runs; echo`,
  ].join('\n');
}

async function main(): Promise<void> {
  await checkPortFree(PORT);
  const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  say(`seeding ${await seedEvents(base)} events for teams 1 and 2 into ${DATABASE}.events (last 3 hours)`);

  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((err: Error & { $metadata?: object }) => {
    if (err.name === 'BucketAlreadyOwnedByYou' || err.name === 'BucketAlreadyExists') return;
    const what = err.$metadata && 'httpStatusCode' in err.$metadata ? 'refused the bucket' : 'is not reachable';
    throw new Error(`the S3 server ${what} at ${S3_ENDPOINT} (S3_ENDPOINT_URL): ${err.message || err.name}`);
  });
  await resetDemoTable();

  say('starting the product (api + scheduler + worker in one process, as `npm start`)');
  const product = spawn(process.execPath, [join(__dirname, '..', 'services', 'all-in-one', 'dist', 'main.js')], {
    env: {
      ...process.env,
      ADMIN_API_TOKEN: TOKEN,
      SECRETS_ENCRYPTION_KEYS: SECRETS_KEY,
      ALLOWED_PRIVATE_DESTINATIONS: ALLOWED_PRIVATE,
      PORT: String(PORT),
      CLICKHOUSE_DATABASE: DATABASE,
      SCHEDULER_SETTLE_SECONDS: '5',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stopProduct = () => product.exitCode === null && product.kill('SIGTERM');
  process.on('exit', stopProduct);
  try {
    await waitFor('the API', () => {
      if (product.exitCode !== null) throw new DemoFailure(`the product exited (${product.exitCode}); see above`);
      return api<unknown>('GET', '/api/exports').then(() => true);
    });
    // An earlier demo's exports would run again beside these (the reconciler re-exports their reseeded hours).
    const earlier = (await api<{ results: BatchExport[] }>('GET', '/api/exports?limit=1000')).results.filter((e) =>
      e.name.startsWith('Demo: '),
    );
    for (const e of earlier) await api('DELETE', `/api/exports/${e.id}`);
    if (earlier.length > 0) say(`removed the ${earlier.length} exports of an earlier demo`);
    const prefix = `demo-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '')}/{year}/{month}/{day}`;
    const hourly = { team_id: 1, interval: 'hour', start_at: new Date(base).toISOString() };
    const exp = await api<BatchExport>('POST', '/api/exports', {
      name: 'Demo: hourly events to S3',
      ...hourly,
      destination: {
        type: 'S3',
        config: {
          bucket_name: BUCKET,
          endpoint_url: S3_ENDPOINT,
          prefix,
          compression: 'gzip',
          aws_access_key_id: 'S3RVER',
          aws_secret_access_key: 'S3RVER',
        },
      },
    });
    const pgExp = await api<BatchExport>('POST', '/api/exports', {
      name: 'Demo: hourly events to PostgreSQL',
      ...hourly,
      destination: demoPostgresDestination(),
    });
    say(`created exports ${exp.id} (S3) and ${pgExp.id} (PostgreSQL, table ${DEMO_PG_TABLE_NAME})`);
    say(`both hourly, team 1, from ${exp.start_at}; waiting for their 3 runs each`);
    const { S3: runs, PostgreSQL: pgRuns } = await waitForRuns({ S3: exp.id, PostgreSQL: pgExp.id });

    console.log('\nObjects written to s3://' + BUCKET);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix.split('/')[0] }));
    // Each interval's _receipt.json (rows, checksum) sits beside its object: the objects are listed here.
    const objects = (listed.Contents ?? []).filter((o) => !o.Key!.endsWith('_receipt.json'));
    for (const obj of objects) {
      const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: obj.Key }));
      const lines = gunzipSync(Buffer.from(await body.Body!.transformToByteArray()))
        .toString()
        .trim()
        .split('\n');
      console.log(`  ${obj.Key}  ${obj.Size} bytes, ${lines.length} records`);
      if (obj === objects[0]) console.log(`    first record: ${lines[0]}`);
    }
    const onDisk = objects[0] && s3File(objects[0].Key!);
    if (onDisk) console.log(`  the S3 server keeps each as a file; to read one: zcat '${onDisk}' | head -3`);
    console.log('\nRun records of the S3 export (GET /api/exports/:id/runs)');
    console.table(
      runs.map((r) => ({
        interval: `${r.data_interval_start} → ${r.data_interval_end}`,
        status: r.status,
        attempts: r.attempts,
        records: r.records_completed,
        bytes: r.bytes_exported,
      })),
    );
    console.log(`\nRows in PostgreSQL ${DEMO_PG_TABLE_NAME}, team 1, per run interval (count(*) via pg)`);
    const intervals = pgRuns.map((r) => [r.data_interval_start, r.data_interval_end] as [string, string]);
    const counts = await rowsPerInterval(intervals, 1);
    pgRuns.forEach((r, i) =>
      console.log(
        `  ${r.data_interval_start} → ${r.data_interval_end}  ${counts[i]} rows (run: ${r.records_completed} records)`,
      ),
    );
  } finally {
    // Stopped and gone before the next steps start another on the same port.
    const exited = new Promise((resolve) => (product.exitCode === null ? product.once('exit', resolve) : resolve(0)));
    stopProduct();
    await exited;
  }
  say(`done. The PostgreSQL export wrote to the table ${DEMO_PG_TABLE_NAME}; to look: ${demoPsqlCommand()}`);
  say('Redis, ClickHouse, the S3 server and PostgreSQL keep running (bash scripts/local-services.sh stop stops them);');
  say(`the product the demo started has stopped. Next: run it yourself on the demo's data (${DATABASE}.events)`);
  say('and export it to the local S3 server (access key and secret S3RVER). SECRETS_ENCRYPTION_KEYS below');
  say("seals destination secrets in Redis (the demo's too): keep it. ALLOWED_PRIVATE_DESTINATIONS lets exports");
  say('reach the S3 server on this machine (private addresses are refused otherwise). Paste into this shell:');
  console.log(`\n${NEXT_STEPS_BEGIN}\n${nextSteps(base)}\n${NEXT_STEPS_END}\n`);
  say(`runs move from Scheduled to Completed within a minute; run the last curl again to see them.`);
  // Not `pgrep -f all-in-one/...`: on a shared machine that matches every checkout's product.
  say('npm start logs to batch-exports.log; stop it with: kill %1 (npm hands the signal on; it stops in order).');
}

main().catch((err) => {
  console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
