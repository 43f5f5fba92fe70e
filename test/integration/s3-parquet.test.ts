import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { parseInput, type EventRow } from '@bx/core';
import { s3ConfigSchema, type S3Config } from '@bx/destination-s3';
import { S3Destination } from '@bx/destination-s3';
import { readParquet } from '../helpers/duckdb';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import { createBucket, getObject, listKeys, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const KEY_BASE = '2024-01-01T10:00:00+00:00-2024-01-01T11:00:00+00:00';
const micros = (t: string | null) => (t === null ? null : String(Date.parse(t.replace(' ', 'T') + 'Z') * 1000));

const batches = (rows: EventRow[], size = 700) => rowBatches(rows, size);

/** What DuckDB reads back for a source event, column by column. */
function expected(e: SourceEvent): Record<string, unknown> {
  return {
    uuid: e.uuid,
    event: e.event,
    properties: e.properties === '' ? null : JSON.stringify(JSON.parse(e.properties)),
    distinct_id: e.distinct_id,
    team_id: String(e.team_id),
    timestamp: micros(e.timestamp),
    created_at: micros(e.created_at),
    inserted_at: micros(e.inserted_at),
    elements_chain: e.elements_chain,
    person_id: e.person_id,
    person_properties: e.person_properties === '' ? null : JSON.stringify(JSON.parse(e.person_properties)),
  };
}

describe('S3 destination, Parquet, read back with DuckDB', function () {
  this.timeout(60_000);
  let client: S3Client;
  let bucket: string;
  const config = (overrides: Partial<S3Config>): S3Config =>
    parseInput(s3ConfigSchema, {
      bucket_name: bucket,
      endpoint_url: testEnv.S3_ENDPOINT_URL,
      ...S3_CREDENTIALS,
      file_format: 'Parquet',
      ...overrides,
    });
  const source = Array.from({ length: 3000 }, (_, i) =>
    makeEvent({
      inserted_at: chTime(new Date(span.start + i * 1000).toISOString()),
      event: i % 3 ? '$pageview' : 'it\'s "quoted" 🎉\n',
      person_properties: i % 4 ? JSON.stringify({ email: `p${i}@x.io` }) : '',
      properties: JSON.stringify({ i, nested: { deep: [1, 'two', null] }, s: 'ü'.repeat(i % 50) }),
      elements_chain: i % 5 ? '' : 'a:nth-child="1"',
    }),
  );
  source[7]!.inserted_at = null;
  const rows: EventRow[] = source.map((e) => ({ ...e, team_id: String(e.team_id) }));

  before(async () => {
    client = testS3Client();
  });
  beforeEach(async () => {
    bucket = await createBucket(client);
  });

  for (const compression of ['zstd', 'snappy', 'gzip', 'brotli', null] as const) {
    it(`Parquet with ${compression ?? 'no'} compression: contract key, typed columns, every row`, async () => {
      const result = await new S3Destination(config({ compression })).write(batches(rows), runContext(span));
      const key = `${KEY_BASE}.parquet`;
      expect(await listKeys(client, bucket)).to.deep.equal([key]);
      expect(result.records).to.equal(rows.length);
      const data = await getObject(client, bucket, key);
      expect(result.bytes).to.equal(data.length);
      const { rows: read, schema } = await readParquet(data);
      expect(schema.team_id).to.match(/^INT64/);
      expect(schema.timestamp).to.match(/^INT64\/TIMESTAMP_MICROS\/TimestampType\(isAdjustedToUTC=1/);
      expect(schema.inserted_at).to.match(/TIMESTAMP_MICROS/);
      expect(schema.properties).to.match(/JSON/);
      const byUuid = (a: Record<string, unknown>, b: Record<string, unknown>) =>
        String(a.uuid).localeCompare(String(b.uuid));
      expect(read.sort(byUuid)).to.deep.equal(source.map(expected).sort(byUuid));
    });
  }

  it('splits Parquet by max_file_size_mb into valid files with a manifest', async () => {
    const big = Array.from({ length: 120_000 }, (_, i) =>
      makeEvent({
        inserted_at: chTime('2024-01-01T10:30:00Z'),
        properties: JSON.stringify({ i, pad: Math.random().toString(36).repeat(8) }),
      }),
    );
    const result = await new S3Destination(config({ compression: 'zstd', max_file_size_mb: 4 })).write(
      batches(
        big.map((e) => ({ ...e, team_id: String(e.team_id) })),
        2000,
      ),
      runContext(span),
    );
    expect(result.files.length).to.be.greaterThan(1);
    let total = 0;
    for (const key of result.files) {
      const data = await getObject(client, bucket, key);
      expect(data.length, key).to.be.below(4 * 1024 * 1024 * 2.5);
      total += (await readParquet(data)).rows.length;
    }
    expect(total).to.equal(big.length);
    const manifest = JSON.parse((await getObject(client, bucket, `${KEY_BASE}_manifest.json`)).toString());
    expect(manifest.files).to.deep.equal(result.files);
  });
});
