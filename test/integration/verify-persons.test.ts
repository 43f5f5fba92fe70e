import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds, type DestinationConfig, type Span } from '@bx/core';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { EXPECTED, I0, I1, I2, LATE_MAPPING, P } from '../helpers/person-scenarios';
import { destinationConfig } from '../helpers/postgres';
import { HOUR, ReconcileBed } from '../helpers/reconcile-bed';
import { createBucket, getObject, listKeys, testS3Client } from '../helpers/s3';
import { verifyCommand } from '../helpers/verify-command';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const RANGE = ['--start', iso(I0.start), '--end', iso(I2.end)];
const line = (span: Span, source: number, held: number, ok: boolean) =>
  new RegExp(
    `^${iso(span.start)} - ${iso(span.end)}\\s+${source}\\s+${held}\\s+` +
      `${ok ? 'equal' : 'DIFFERENT'}\\s+v1\\s+${ok ? 'ok' : 'MISMATCH'}$`,
    'm',
  );

/**
 * `npm run verify` on persons exports: S3 objects read back, each record
 * hashed by its distinct_id, against PostHog's person tables on ClickHouse
 * 18.16 (the persons checksums query); exports to tables refused.
 */
describe('npm run verify, persons', function () {
  this.timeout(120_000);
  let bed: ReconcileBed;
  let s3: S3Client;
  let bucket: string;
  const { env, verify } = verifyCommand(() => bed);
  const sut = async (argv: string[], environment = env()) => {
    const run = await verify(argv, environment);
    return { ...run, all: run.stdout + run.stderr };
  };
  const personsExport = (destination: DestinationConfig) =>
    bed.createExport(1, I0.start, I2.end, destination, { model: 'persons' });
  const s3Persons = (prefix: string, format: Record<string, unknown> = {}) =>
    personsExport({
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix, ...S3_CREDENTIALS, ...format },
    });
  const stem = (prefix: string, span: Span) => `${prefix}/${isoSeconds(span.start)}-${isoSeconds(span.end)}`;

  beforeEach(async () => {
    bed = await new ReconcileBed(I2.end + HOUR).start();
    await bed.seedPersons();
    s3 = testS3Client();
    bucket = await createBucket(s3);
  });
  afterEach(() => bed.stop());

  it('reads S3 persons objects back by distinct_id, JSON Lines and Parquet: every interval matches, exit 0', async () => {
    bed.startWorker();
    const formats = [
      { file_format: 'JSONLines', compression: 'gzip' },
      { file_format: 'Parquet', compression: 'zstd' },
    ];
    const ids = [];
    for (const [i, format] of formats.entries()) ids.push(await s3Persons(`p${i}`, format));
    for (const id of ids) await bed.completed(id, 3);
    for (const id of ids) {
      const run = await sut(['--export-id', id, ...RANGE]);
      expect(run.code, run.all).to.equal(0);
      for (const [span, records] of [
        [I0, EXPECTED.I0.length],
        [I1, EXPECTED.I1.length],
        [I2, EXPECTED.I2.length],
      ] as const)
        expect(run.stdout, run.all).to.match(line(span, records, records, true));
    }
  });

  it('a record gone from an object, a mapping arriving late at the source: those intervals mismatch, exit 1', async () => {
    bed.startWorker();
    const id = await s3Persons('p');
    await bed.completed(id, 3);
    // One record removed by hand from the first interval's object.
    const key = `${stem('p', I0)}.jsonl`;
    expect(await listKeys(s3, bucket, 'p/')).to.include(key);
    const lines = (await getObject(s3, bucket, key)).toString().trim().split('\n');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: lines.slice(1).join('\n') + '\n' }));
    // A mapping row with a _timestamp in the second interval, inserted after its run.
    await bed.insertPersons({ mappings: [LATE_MAPPING] });

    const run = await sut(['--export-id', id, ...RANGE]);
    expect(run.code, run.all).to.equal(1);
    expect(run.stdout).to.match(line(I0, EXPECTED.I0.length, EXPECTED.I0.length - 1, false));
    expect(run.stdout).to.match(line(I1, EXPECTED.I1.length + 1, EXPECTED.I1.length, false));
    expect(run.stdout).to.match(line(I2, EXPECTED.I2.length, EXPECTED.I2.length, true));
  });

  it('distinct_ids of invalid UTF-8 (written as U+FFFD): the source is counted as the objects hold them, exit 0', async () => {
    // The receipt and the reconciler hash the bytes; the objects hold each bad sequence as U+FFFD,
    // so verify reported a mismatch for an interval that was exported exactly as documented.
    const ids = ['61ff62', 'eda080', 'c0af', 'f09f98', '4e554c00', 'f09f9880'];
    await bed.ch.client.command({
      query: `INSERT INTO ${bed.ch.database}.person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version, _timestamp)
        SELECT 1, unhex(arrayJoin(['${ids.join("', '")}'])), toUUID('${P.quiet}'), 0, 0, toDateTime('2024-03-01 10:50:00', 'UTC')`,
    });
    bed.startWorker();
    const formats = [{ file_format: 'JSONLines', compression: 'zstd' }, { file_format: 'Parquet' }];
    const exports = [];
    for (const [i, format] of formats.entries()) exports.push(await s3Persons(`u${i}`, format));
    for (const id of exports) await bed.completed(id, 3);
    for (const id of exports) {
      const run = await sut(['--export-id', id, ...RANGE]);
      expect(run.code, run.all).to.equal(0);
      const records = EXPECTED.I1.length + ids.length;
      expect(run.stdout, run.all).to.match(line(I1, records, records, true));
    }
  });

  it('persons exports to Postgres or Snowflake are refused, exit 2, saying why, before anything is read', async () => {
    const destinations: DestinationConfig[] = [
      { type: 'Postgres', config: destinationConfig('public', 'persons') },
      {
        type: 'Snowflake',
        config: {
          account: 'testacct',
          user: 'loader',
          password: 'loader-password',
          database: 'ANALYTICS',
          schema: 'PUBLIC',
          warehouse: 'WH',
          table_name: 'persons',
        },
      },
    ];
    for (const destination of destinations) {
      const id = await personsExport(destination);
      // Nothing is reached: a ClickHouse that is not there changes nothing.
      const run = await sut(['--export-id', id, ...RANGE], { ...env(), CLICKHOUSE_URL: 'http://127.0.0.1:1' });
      expect([run.code, run.stderr]).to.deep.equal([
        2,
        `verify: export ${id} exports persons to ${destination.type}: ${destination.type} upserts persons records ` +
          "by key across intervals, so no interval's records can be read back; the reconciler checks its " +
          'receipts against the source\n',
      ]);
    }
  });
});
