import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { randomInt } from 'node:crypto';
import { parseInput } from '@bx/core';
import { s3ConfigSchema, S3Destination, type S3Config } from '@bx/destination-s3';
import { readParquet } from '../helpers/duckdb';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { asRows, chTime, makeEvent } from '../helpers/events';
import { rowBatches } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import { createBucket, getObject, readJsonLines, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const MB = 1024 * 1024;
/** `max_file_size_mb: 1`: no file may pass it by more than a quarter. */
const LIMIT = 1 * MB;
const CEILING = 1.25 * MB;

/** Printable ASCII but `"` and `\`, at random: about 6.5 bits a byte, so no codec gets far below the input. */
function noise(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = 32 + randomInt(93);
    s += String.fromCharCode(c >= 34 ? (c >= 91 ? c + 2 : c + 1) : c);
  }
  return s;
}

/**
 * About 5 MB of rows that do not compress, in batches of about 2 MB (what
 * ClickHouseSource yields): more than a file's limit in every batch.
 */
const events = Array.from({ length: 3600 }, (_, i) =>
  makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z'), properties: JSON.stringify({ i, noise: noise(1300) }) }),
);
const ROWS_PER_BATCH = 1500;

describe('max_file_size_mb with rows that do not compress: no file passes the limit by more than a quarter', function () {
  this.timeout(120_000);
  let client: S3Client;
  let bucket: string;
  const config = (overrides: Partial<S3Config>): S3Config =>
    parseInput(s3ConfigSchema, {
      bucket_name: bucket,
      endpoint_url: testEnv.S3_ENDPOINT_URL,
      ...S3_CREDENTIALS,
      max_file_size_mb: LIMIT / MB,
      ...overrides,
    });

  before(() => {
    client = testS3Client();
  });
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  async function sizes(files: string[]): Promise<number[]> {
    return Promise.all(files.map(async (key) => (await getObject(client, bucket, key)).length));
  }

  /** Every file at most CEILING; every file but the last at least near the limit (files are not cut short). */
  function expectSizes(got: number[]): void {
    expect(got.length, String(got)).to.be.greaterThan(2);
    for (const size of got) expect(size, String(got)).to.be.at.most(CEILING);
    for (const size of got.slice(0, -1)) expect(size, String(got)).to.be.at.least(0.75 * LIMIT);
  }

  for (const compression of ['gzip', 'brotli', 'zstd', null] as const) {
    it(`JSON Lines, ${compression ?? 'uncompressed'}`, async () => {
      const sut = new S3Destination(config({ compression }));
      const result = await sut.write(rowBatches(asRows(events), ROWS_PER_BATCH), runContext(span));
      expectSizes(await sizes(result.files));
      const ids: number[] = [];
      for (const key of result.files) {
        for (const record of await readJsonLines(client, bucket, key)) ids.push((record.properties as { i: number }).i);
      }
      expect(ids).to.deep.equal(events.map((_, i) => i));
    });
  }

  for (const compression of ['zstd', 'snappy', 'gzip', 'brotli', null] as const) {
    it(`Parquet, ${compression ?? 'uncompressed'}`, async () => {
      const sut = new S3Destination(config({ file_format: 'Parquet', compression }));
      const result = await sut.write(rowBatches(asRows(events), ROWS_PER_BATCH), runContext(span));
      expectSizes(await sizes(result.files));
      const ids: number[] = [];
      for (const key of result.files) {
        for (const row of (await readParquet(await getObject(client, bucket, key))).rows) {
          ids.push((JSON.parse(row.properties as string) as { i: number }).i);
        }
      }
      expect(ids).to.deep.equal(events.map((_, i) => i));
    });
  }
});
