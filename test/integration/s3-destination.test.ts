import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import {
  createLogger,
  parseInput,
  s3ConfigSchema,
  PermanentError,
  type EventRow,
  type RunContext,
  type S3Config,
} from '@bx/core';
import { S3Destination } from '@bx/destination-s3';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, expectedRecord, makeEvent, type SourceEvent } from '../helpers/events';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const KEY_BASE = '2024-01-01T10:00:00+00:00-2024-01-01T11:00:00+00:00';

function ctx(): RunContext {
  return {
    exportId: 'e1',
    runId: 'r1',
    attempt: 1,
    dataIntervalStart: span.start,
    dataIntervalEnd: span.end,
    signal: new AbortController().signal,
    logger: createLogger({}, 'error'),
    onProgress: () => undefined,
  };
}

/** Source events as ClickHouse hands them out (team_id quoted, as 18.16 does). */
function asRows(events: SourceEvent[]): EventRow[] {
  return events.map((e) => ({ ...e, team_id: String(e.team_id) }));
}

async function* batches(rows: EventRow[], size = 500): AsyncGenerator<EventRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

describe('S3 destination on the S3 server', () => {
  let client: S3Client;
  let bucket: string;
  const config = (overrides: Partial<S3Config> = {}): S3Config =>
    parseInput(s3ConfigSchema, {
      bucket_name: bucket,
      endpoint_url: testEnv.S3_ENDPOINT_URL,
      ...S3_CREDENTIALS,
      ...overrides,
    });

  before(async () => {
    client = testS3Client();
  });
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  const events = Array.from({ length: 1200 }, (_, i) =>
    makeEvent({ inserted_at: chTime('2024-01-01T10:20:00Z'), event: i % 2 ? 'it\'s "q"\n' : '$pageview' }),
  );

  for (const compression of ['gzip', null, 'brotli', 'zstd'] as const) {
    it(`writes JSON Lines (${compression ?? 'uncompressed'}) under the contract key with the contract records`, async () => {
      const sut = new S3Destination(config({ prefix: 'events/{year}/{month}/{day}', compression }));
      const result = await sut.write(batches(asRows(events)), ctx());
      const ext = compression ? { gzip: '.gz', brotli: '.br', zstd: '.zst' }[compression] : '';
      const key = `events/2024/01/01/${KEY_BASE}.jsonl${ext}`;
      expect(await listKeys(client, bucket)).to.deep.equal([key]);
      expect(result).to.deep.include({ records: 1200, files: [key] });
      expect(result.bytes).to.equal((await getObject(client, bucket, key)).length);
      expect(await readJsonLines(client, bucket, key)).to.deep.equal(events.map(expectedRecord));
    });
  }

  it('overwrites the same key when an interval is exported again', async () => {
    const sut = new S3Destination(config({ compression: 'gzip' }));
    await sut.write(batches(asRows(events)), ctx());
    await sut.write(batches(asRows(events.slice(0, 10))), ctx());
    const keys = await listKeys(client, bucket);
    expect(keys).to.deep.equal([`${KEY_BASE}.jsonl.gz`]);
    expect(await readJsonLines(client, bucket, keys[0]!)).to.have.length(10);
  });

  it('writes nothing for an interval without rows', async () => {
    const result = await new S3Destination(config()).write(batches([]), ctx());
    expect(result).to.deep.equal({ records: 0, bytes: 0, files: [] });
    expect(await listKeys(client, bucket)).to.deep.equal([]);
  });

  it('splits by max_file_size_mb into -n files and writes the manifest last', async () => {
    const many = Array.from({ length: 6000 }, () =>
      makeEvent({
        inserted_at: chTime('2024-01-01T10:20:00Z'),
        properties: JSON.stringify({ pad: 'x'.repeat(400) + Math.random() }),
      }),
    );
    const sut = new S3Destination(config({ max_file_size_mb: 0.5 }));
    const result = await sut.write(batches(asRows(many), 250), ctx());
    expect(result.files.length).to.be.greaterThan(2);
    expect(result.files).to.deep.equal(result.files.map((_, i) => `${KEY_BASE}-${i}.jsonl`));
    const manifest = JSON.parse((await getObject(client, bucket, `${KEY_BASE}_manifest.json`)).toString());
    expect(manifest).to.deep.equal({ files: result.files });
    const all = [];
    for (const key of result.files) {
      const size = (await getObject(client, bucket, key)).length;
      expect(size, key).to.be.below(0.5 * 1024 * 1024 + 250 * 700);
      all.push(...(await readJsonLines(client, bucket, key)));
    }
    expect(all).to.deep.equal(many.map(expectedRecord));
  });

  it('fails permanently on a missing bucket and on an unknown access key, with S3 message', async () => {
    const missing = new S3Destination(config({ bucket_name: 'no-such-bucket-here' }));
    const err1 = await missing.write(batches(asRows(events)), ctx()).catch((e: unknown) => e);
    expect(err1).to.be.instanceOf(PermanentError);
    expect((err1 as Error).message).to.match(/NoSuchBucket/);
    const badKey = new S3Destination(config({ aws_access_key_id: 'WRONG' }));
    const err2 = await badKey.write(batches(asRows(events)), ctx()).catch((e: unknown) => e);
    expect(err2).to.be.instanceOf(PermanentError);
    expect((err2 as Error).message).to.match(/InvalidAccessKeyId/);
  });

  it('check() writes and deletes a test object, and reports errors', async () => {
    await new S3Destination(config()).check();
    expect(await listKeys(client, bucket)).to.deep.equal([]);
    const err = await new S3Destination(config({ bucket_name: 'no-such-bucket-here' }))
      .check()
      .catch((e: unknown) => e);
    expect((err as Error).message).to.match(/NoSuchBucket/);
  });
});
