import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ExportSecrets, SecretBox, isoSeconds } from '@bx/core';
import { secretFieldsOf } from '@bx/destinations';
import { Store } from '@bx/store';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { S3_CREDENTIALS, TEST_SECRETS_KEY, testEnv } from '../helpers/env';
import { HOUR, ReconcileBed, hours } from '../helpers/reconcile-bed';
import { TestPostgres } from '../helpers/postgres';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';
import { CaptureServer } from '../helpers/capture-server';
import { verifyCommand } from '../helpers/verify-command';
import {
  connect,
  destroy,
  exec,
  snowflakeConfig,
  startSnowflakeServer,
  type SnowflakeServer,
} from '../helpers/snowflake';

const T0 = Date.parse('2024-05-01T00:00:00Z');
const SPANS = hours(T0, 2);
const RANGE = ['--start', '2024-05-01T00:00:00Z', '--end', '2024-05-01T02:00:00Z'];
const CLI = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'verify.js');

/** `npm run verify` against exports the real worker wrote, with the source and destination changed by hand. */
describe('npm run verify', function () {
  this.timeout(180_000);
  let bed: ReconcileBed;
  let s3: S3Client;
  let bucket: string;
  const { env, verify } = verifyCommand(() => bed);
  const s3Export = (prefix: string, format: Record<string, unknown>) =>
    bed.createExport(1, T0, T0 + 2 * HOUR, {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix, ...S3_CREDENTIALS, ...format },
    });

  before(async () => {
    bed = await new ReconcileBed(T0 + 3 * HOUR).start();
    s3 = testS3Client();
    bucket = await createBucket(s3);
    await bed.seed(1, SPANS, 25);
    await bed.seed(3, SPANS, 5);
    bed.startWorker();
  });
  after(() => bed.stop());

  const FORMATS = [
    { file_format: 'JSONLines', compression: null },
    { file_format: 'JSONLines', compression: 'gzip' },
    { file_format: 'JSONLines', compression: 'brotli' },
    { file_format: 'JSONLines', compression: 'zstd' },
    { file_format: 'Parquet', compression: null },
    { file_format: 'Parquet', compression: 'zstd' },
    { file_format: 'Parquet', compression: 'snappy' },
    { file_format: 'Parquet', compression: 'gzip' },
    { file_format: 'Parquet', compression: 'brotli' },
  ];

  it('reads S3 back in every format and codec: every interval matches, exit 0', async () => {
    const ids: string[] = [];
    for (const [i, format] of FORMATS.entries()) ids.push(await s3Export(`f${i}`, format));
    for (const id of ids) await bed.completed(id, 2);
    for (const [i, id] of ids.entries()) {
      const { code, stdout, stderr } = await verify(['--export-id', id, ...RANGE]);
      const what = `${JSON.stringify(FORMATS[i])}: ${stdout}${stderr}`;
      expect(code, what).to.equal(0);
      const lines = stdout.trim().split('\n');
      expect(lines, what).to.have.length(4);
      expect(lines[1], what).to.match(/^2024-05-01T00:00:00Z - 2024-05-01T01:00:00Z\s+25\s+25\s+equal\s+v1\s+ok$/);
      expect(lines[3], what).to.equal('2 intervals: 2 match, 0 mismatch; source 50 rows, destination 50 rows (S3)');
    }
  });

  it('an object deleted by hand: that interval is a mismatch (text and --json), exit 1', async () => {
    const id = await s3Export('gone', { compression: 'gzip' });
    await bed.completed(id, 2);
    const key = `gone/${isoSeconds(SPANS[1]!.start)}-${isoSeconds(SPANS[1]!.end)}.jsonl.gz`;
    expect(await listKeys(s3, bucket, 'gone/')).to.include(key);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));

    const text = await verify(['--export-id', id, ...RANGE]);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.match(/2024-05-01T01:00:00Z - 2024-05-01T02:00:00Z\s+25\s+0\s+DIFFERENT\s+v1\s+MISMATCH/);
    expect(text.stdout).to.contain('2 intervals: 1 match, 1 mismatch; source 50 rows, destination 25 rows (S3)');

    const json = await verify(['--export-id', id, ...RANGE, '--json']);
    expect(json.code).to.equal(1);
    const report = JSON.parse(json.stdout);
    expect(report.summary).to.deep.equal({
      intervals: 2,
      matching: 1,
      mismatched: 1,
      source_records: 50,
      destination_records: 25,
    });
    expect(report.intervals[1]).to.deep.include({
      data_interval_start: '2024-05-01T01:00:00.000Z',
      source_records: 25,
      destination_records: 0,
      destination_checksum: '0',
      checksums_equal: false,
      receipt_version: 1,
      match: false,
    });
  });

  it('a Snowflake row removed by hand: a mismatch, exit 1; as npm run verify in its own process too', async () => {
    const server: SnowflakeServer = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    try {
      const id = await bed.createExport(1, T0, T0 + 2 * HOUR, { type: 'Snowflake', config: snowflakeConfig(server) });
      await bed.completed(id, 2);
      expect((await verify(['--export-id', id, ...RANGE])).code).to.equal(0);

      const uuid = (await bed.sourceOf(1, SPANS[0]!)).uuids[0]!;
      const conn = await connect(server, { username: 'loader', password: 'loader-password' });
      await exec(conn, `DELETE FROM "ANALYTICS"."PUBLIC"."events" WHERE "uuid" = ?`, [uuid]);
      await destroy(conn);

      const run = await promisify(execFile)(process.execPath, [CLI, '--export-id', id, ...RANGE], { env: env() }).then(
        () => ({ code: 0, stdout: '' }),
        (e: { code: number; stdout: string }) => e,
      );
      expect(run.code).to.equal(1);
      expect(run.stdout).to.match(/2024-05-01T00:00:00Z - 2024-05-01T01:00:00Z\s+25\s+24\s+DIFFERENT\s+v1\s+MISMATCH/);
      expect(run.stdout).to.match(/2024-05-01T01:00:00Z - 2024-05-01T02:00:00Z\s+25\s+25\s+equal\s+v1\s+ok/);
    } finally {
      await server.close();
    }
  });

  it("a Postgres row removed by hand, another's uuid changed: mismatches, exit 1", async () => {
    const pg = await new TestPostgres().setup();
    try {
      const id = await bed.createExport(1, T0, T0 + 2 * HOUR, { type: 'Postgres', config: pg.config() });
      await bed.completed(id, 2);
      const ok = await verify(['--export-id', id, ...RANGE, '--json']);
      expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
      expect(
        JSON.parse(ok.stdout).intervals.map((i: Record<string, unknown>) => [i.destination_records, i.receipt_version]),
      ).to.deep.equal([
        [25, 1],
        [25, 1],
      ]);

      const [gone, moved] = (await bed.sourceOf(1, SPANS[0]!)).uuids;
      await pg.admin.query(`DELETE FROM "${pg.schema}"."events" WHERE "uuid" = $1`, [gone]);
      // Same count in the second interval, other rows: only the checksum tells.
      const other = (await bed.sourceOf(1, SPANS[1]!)).uuids[0]!;
      await pg.admin.query(`UPDATE "${pg.schema}"."events" SET "uuid" = $1 WHERE "uuid" = $2`, [moved, other]);

      const run = await verify(['--export-id', id, ...RANGE]);
      expect(run.code).to.equal(1);
      expect(run.stdout).to.match(/2024-05-01T00:00:00Z - 2024-05-01T01:00:00Z\s+25\s+24\s+DIFFERENT\s+v1\s+MISMATCH/);
      expect(run.stdout).to.match(/2024-05-01T01:00:00Z - 2024-05-01T02:00:00Z\s+25\s+25\s+DIFFERENT\s+v1\s+MISMATCH/);
    } finally {
      await pg.drop();
    }
  });

  it('reads back a destination whose secrets are stored encrypted, as every deployment stores them', async () => {
    // It logged in with the sealed text as the password (28P01) and exited 3: the command
    // never opened the secrets with SECRETS_ENCRYPTION_KEYS.
    const pg = await new TestPostgres().setup();
    const sealing = Store.connect(testEnv.REDIS_URL, bed.prefix, {
      secrets: new ExportSecrets(SecretBox.parse(TEST_SECRETS_KEY), secretFieldsOf),
    });
    try {
      const id = await bed.createExport(1, T0, T0 + 2 * HOUR, { type: 'Postgres', config: pg.config() });
      await bed.completed(id, 2);
      await sealing.exports.modify(id, (exp) => exp);
      const stored = JSON.parse((await bed.store.redis.get(`${bed.prefix}:export:${id}`))!);
      expect(stored.destination.config.password).to.match(/^bxenc:/);

      const run = await verify(['--export-id', id, ...RANGE], { ...env(), SECRETS_ENCRYPTION_KEYS: TEST_SECRETS_KEY });
      expect(run.code, run.stdout + run.stderr).to.equal(0);
      expect(run.stdout).to.contain('2 intervals: 2 match');
      const keyless = await verify(['--export-id', id, ...RANGE]);
      expect(keyless.code).to.equal(3);
      expect(keyless.stderr).to.contain('SECRETS_ENCRYPTION_KEYS');
    } finally {
      await sealing.close();
      await pg.drop();
    }
  });

  // An export's host was checked when it was created; by now it may resolve to loopback, the private
  // network or the metadata service. verify logs in with the export's secrets as a run does: same policy.
  it('reads a destination back only where ALLOWED_PRIVATE_DESTINATIONS lets it, as runs do', async () => {
    const listener = await new CaptureServer().start();
    try {
      const destinations = [
        {
          type: 'S3',
          config: { bucket_name: bucket, endpoint_url: `http://localhost:${listener.port}`, ...S3_CREDENTIALS },
        },
        {
          type: 'Postgres',
          config: { host: '127.0.0.1', port: listener.port, database: 'bx', user: 'bx', password: 'verify-pw-0123' },
        },
        { type: 'Snowflake', config: snowflakeConfig({ url: `http://localhost:${listener.port}` } as SnowflakeServer) },
      ];
      for (const destination of destinations) {
        if (destination.type === 'Postgres') Object.assign(destination.config, { table_name: 't', sslmode: 'disable' });
        const id = await bed.createExport(1, T0, T0 + 2 * HOUR, destination, { paused: true });
        const sut = await verify(['--export-id', id, ...RANGE], { ...env(), ALLOWED_PRIVATE_DESTINATIONS: '' });
        expect(sut.code, destination.type).to.equal(3);
        expect(sut.stderr, destination.type).to.match(
          /^verify: could not read the \w+ destination back: destination address 127\.0\.0\.1 .*loopback.*ALLOWED_PRIVATE_DESTINATIONS/,
        );
      }
      expect(listener.connections, 'connections the read-backs opened').to.equal(0);
    } finally {
      await listener.stop();
    }
  });

  it('a long range says how far it is on stderr, 500 intervals at a time; the report stays whole on stdout', async () => {
    // 600 five-minute intervals before T0, none with rows: each matches with 0 records on both sides.
    const id = await bed.createExport(
      1,
      T0,
      T0 + HOUR,
      {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: 'long', ...S3_CREDENTIALS },
      },
      { interval: 'every 5 minutes', paused: true },
    );
    const start = new Date(T0 - 600 * 5 * 60_000).toISOString();
    const { code, stdout, stderr } = await verify(['--export-id', id, '--start', start, '--end', RANGE[1]!]);
    expect(code, stderr).to.equal(0);
    expect(
      stderr
        .trim()
        .split('\n')
        .map((line) => line.replace(/, \d+ s$/, '')),
    ).to.deep.equal(['verify: 500/600 intervals read', 'verify: 600/600 intervals read']);
    const intervalLines = stdout.split('\n').filter((line) => / 0 +0 +equal /.test(line));
    expect(intervalLines).to.have.length(600);
  });

  it('bad arguments exit 2; an unknown export or an unreachable ClickHouse or Redis exit 3 with one line naming it', async () => {
    expect((await verify(['--export-id', 'x'])).code).to.equal(2);
    expect(
      (await verify(['--export-id', 'x', '--start', 'yesterday', '--end', '2024-05-01T00:00:00Z'])).stderr,
    ).to.equal("verify: --start: 'yesterday' is not an ISO 8601 date-time\n");
    // Intervals before the epoch cannot bound a query (18.16 read toDateTime(-3600) as 2106).
    expect(
      (await verify(['--export-id', 'x', '--start', '1969-12-31T00:00:00Z', '--end', '2024-05-01T00:00:00Z'])).stderr,
    ).to.equal("verify: --start: '1969-12-31T00:00:00Z' is outside 1970-01-01 to 2100-01-01\n");
    expect((await verify(['--export-id', 'x', ...RANGE.slice(0, 2), '--end', '2024-04-01T00:00:00Z'])).code).to.equal(
      2,
    );
    expect((await verify(['--export-id', 'x', ...RANGE, '--end', '2024-06-01T00:00:00Z'])).stderr).to.match(
      /^verify: option --end is given more than once\n/,
    );
    const unknown = await verify(['--export-id', 'no-such-export', ...RANGE]);
    expect([unknown.code, unknown.stderr]).to.deep.equal([3, 'verify: export no-such-export not found\n']);
    // Persons exports: verify-persons.test.ts.
    const id = await s3Export('away', {});
    await bed.completed(id, 2);
    const clickhouse = await verify(['--export-id', id, ...RANGE], { ...env(), CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(clickhouse.code).to.equal(3);
    expect(clickhouse.stderr).to.match(
      /^verify: ClickHouse is not reachable at http:\/\/127\.0\.0\.1:1 \(CLICKHOUSE_URL\): .+\n$/,
    );
    // Credentials in the URL are refused as configuration (they belong in CLICKHOUSE_USER/PASSWORD),
    // and the deployment's ClickHouse password is never printed.
    const secret = await verify(['--export-id', id, ...RANGE], {
      ...env(),
      CLICKHOUSE_URL: 'http://bx:ch-url-password@127.0.0.1:1/',
    });
    expect(secret.code).to.equal(2);
    expect(secret.stderr).to.match(/^verify: Invalid configuration: CLICKHOUSE_URL: .*CLICKHOUSE_PASSWORD/);
    expect(secret.stdout + secret.stderr).not.to.contain('ch-url-password');
    const redis = await verify(['--export-id', id, ...RANGE], { ...env(), REDIS_URL: 'redis://127.0.0.1:1' });
    expect(redis.code).to.equal(3);
    expect(redis.stderr).to.match(/^verify: Redis is not reachable at .*127\.0\.0\.1:1 \(REDIS_URL\): .+\n$/);
  });

  it('a ClickHouse that answers with an error (no such table) exits 3 with its error, not as unreachable', async () => {
    const id = await s3Export('no-table', {});
    await bed.completed(id, 2);
    // ClickHouse 18.16 answers a query of a missing table with `Code: 60` in its text: it was read as
    // no answer at all, and printed "ClickHouse is not reachable at http://...: ... doesn't exist".
    const missing = await verify(['--export-id', id, ...RANGE], { ...env(), EVENTS_TABLE: 'no_such_events' });
    expect(missing.code, missing.stderr).to.equal(3);
    expect(missing.stderr).not.to.contain('not reachable');
    expect(missing.stderr).to.match(/^verify: failed: ClickHouse: Code: 60, .*no_such_events doesn't exist.*\n$/);
  });
});
