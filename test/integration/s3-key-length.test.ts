import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { BatchExport } from '@bx/core';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
/**
 * What a key adds to the rendered prefix: `/`, `<start>-<end>` (25 + 1 + 25
 * bytes) and the longest suffix, `_receipt.json` (13) for one file a run.
 */
const ONE_FILE_OVERHEAD = 1 + 51 + 13;
/** Split runs: `-<n>.jsonl` with up to 7 digits of n (18) is longer than `_manifest.json` (14). */
const SPLIT_OVERHEAD = 1 + 51 + 18;
/** Path segments under s3rver's file-name limit (255), so the server itself accepts what S3 refuses. */
const longPrefix = (bytes: number) => 'p'.repeat(bytes).replace(/(.{99})./g, '$1/');

describe('S3 object keys stay within 1,024 bytes', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let sut: InProcessSystem;
  let bucket: string;
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(Array.from({ length: 5 }, (_, i) => makeEvent({ inserted_at: chTime(iso(hour + i * 60_000)) })));
    s3 = testS3Client();
    bucket = await createBucket(s3);
    sut = await new InProcessSystem(ch.database).start();
  });
  after(async () => {
    await sut.stop();
    await ch.drop();
  });

  const body = (prefix: string, config: Record<string, unknown> = {}) => ({
    name: 'long keys',
    team_id: 1,
    interval: 'hour',
    // Ended before now: never scheduled.
    end_at: new Date(Math.floor(Date.now() / HOUR) * HOUR).toISOString(),
    destination: {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix, ...S3_CREDENTIALS, ...config },
    },
  });
  const expectRefused = (res: { status: number; json: any }, what: string) => {
    expect(res.status, `${what}: ${JSON.stringify(res.json)}`).to.equal(400);
    const detail = res.json.error.details.find((d: { field: string }) => d.field === 'destination.config.prefix');
    expect(detail, what).to.not.equal(undefined);
    expect(detail.message).to.match(/1,?024/);
  };

  it('refuses at create a prefix whose longest key is over the limit, counting each variable at its longest', async () => {
    const fits = 1024 - ONE_FILE_OVERHEAD;
    expect((await sut.call('POST', '/api/exports', body(longPrefix(fits)))).status).to.equal(201);
    expectRefused(await sut.call('POST', '/api/exports', body(longPrefix(fits + 1))), 'one byte over');
    // {data_interval_start} is 21 characters and renders 25 (2024-01-01T00:00:00+00:00).
    const variable = `${'v'.repeat(fits - 26)}/{data_interval_start}`;
    expect((await sut.call('POST', '/api/exports', body(variable))).status).to.equal(201);
    expectRefused(await sut.call('POST', '/api/exports', body(`v${variable}`)), 'a variable at its longest');
    // Bytes, not characters: é is two.
    expectRefused(await sut.call('POST', '/api/exports', body('é'.repeat(Math.ceil((fits + 1) / 2)))), 'UTF-8');
    // Split files add `-<n>` to every data key.
    const split = { max_file_size_mb: 5 };
    expect((await sut.call('POST', '/api/exports', body(longPrefix(1024 - SPLIT_OVERHEAD), split))).status).to.equal(
      201,
    );
    expectRefused(await sut.call('POST', '/api/exports', body(longPrefix(fits), split)), 'split');
  });

  it('refuses a PATCH that makes a key too long, by the prefix or by splitting files', async () => {
    const created = await sut.call('POST', '/api/exports', body(longPrefix(1024 - ONE_FILE_OVERHEAD)));
    const id = created.json.id as string;
    const prefix = await sut.call('PATCH', `/api/exports/${id}`, {
      destination: { config: { prefix: longPrefix(1024) } },
    });
    expectRefused(prefix, 'PATCH prefix');
    expectRefused(
      await sut.call('PATCH', `/api/exports/${id}`, { destination: { config: { max_file_size_mb: 5 } } }),
      'PATCH max_file_size_mb',
    );
    expect((await sut.call('GET', `/api/exports/${id}`)).json.destination.config.max_file_size_mb).to.equal(undefined);
  });

  it('a run of an export stored with such a prefix fails at once, with the reason, and writes nothing', async () => {
    const created = await sut.call('POST', '/api/exports', body('events'));
    const exp = created.json as BatchExport;
    // As an export saved before key lengths were checked.
    await sut.store.exports.modify(exp.id, (stored) => {
      if (stored.destination.type !== 'S3') throw new Error('an S3 export');
      stored.destination.config.prefix = longPrefix(1000);
      return stored;
    });
    sut.startWorker(1);
    const run = await sut.backfillToEnd(exp.id, hour, hour + HOUR);
    expect(run.status).to.equal('Failed');
    expect(run.attempts, 'a permanent failure is not retried').to.equal(1);
    expect(run.error)
      .to.contain('destination.config.prefix')
      .and.to.match(/1,?024/);
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
  });
});
