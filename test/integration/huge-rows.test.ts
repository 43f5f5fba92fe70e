import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';
import { parseInput } from '@bx/core';
import { s3ConfigSchema, type S3Config } from '@bx/destination-s3';
import { S3Destination } from '@bx/destination-s3';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { readParquet } from '../helpers/duckdb';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, expectedRecord, makeEvent } from '../helpers/events';
import { runContext } from '../helpers/run-context';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };
const MiB = 1024 * 1024;

/**
 * One event far larger than anything the pipeline buffers at a time: its
 * properties (about 40 MiB of JSON) are bigger than a ClickHouse read batch,
 * a zstd slot (4 MiB), an upload part (8 MiB) and a Parquet page (1 MiB).
 * Between small events, from the real ClickHouse to the real S3 server.
 */
describe('a row of 40 MiB, from ClickHouse to S3 in every format', function () {
  this.timeout(180_000);
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  let client: S3Client;
  let bucket: string;
  // Escapes, multi-byte characters and plain text, so that every path of the JSON writer is long.
  const unit = 'line "one"\n\ttab \\ back 日本語 🎉 ü ';
  const huge = makeEvent({
    inserted_at: chTime('2024-01-01T10:30:00Z'),
    properties: JSON.stringify({ text: unit.repeat(Math.ceil((36 * MiB) / Buffer.byteLength(unit))), n: 1 }),
    person_properties: JSON.stringify({ big: 'p'.repeat(3 * MiB) }),
  });
  const events = [
    makeEvent({ inserted_at: chTime('2024-01-01T10:00:00Z') }),
    huge,
    makeEvent({ inserted_at: chTime('2024-01-01T10:59:59Z') }),
  ];
  const byUuid = new Map(events.map((e) => [e.uuid, e]));

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(events);
    source = testClickHouseSource();
    client = testS3Client();
    bucket = await createBucket(client);
  });
  after(async () => {
    await source.close();
    await ch.drop();
    client.destroy();
  });

  const cases: Array<[S3Config['file_format'], string | null]> = [
    ['JSONLines', null],
    ['JSONLines', 'gzip'],
    ['JSONLines', 'zstd'],
    ['Parquet', 'zstd'],
  ];
  for (const [file_format, compression] of cases) {
    it(`${file_format} with ${compression ?? 'no'} compression: every row, the huge one byte for byte`, async () => {
      const prefix = `${file_format}-${compression ?? 'none'}`;
      const config = parseInput(s3ConfigSchema, {
        bucket_name: bucket,
        endpoint_url: testEnv.S3_ENDPOINT_URL,
        ...S3_CREDENTIALS,
        prefix,
        file_format,
        compression,
      });
      const sql = buildEventsQuery({
        database: ch.database,
        table: ch.table,
        intervalColumn: 'inserted_at',
        teamId: 1,
        start: span.start,
        end: span.end,
      });
      const result = await new S3Destination(config).write(
        source.batches(sql, undefined, { reuseBuffers: true }),
        runContext(span),
      );
      expect(result.records).to.equal(3);
      const keys = await listKeys(client, bucket, prefix);
      expect(keys).to.have.length(1);
      if (file_format === 'JSONLines') {
        const records = await readJsonLines(client, bucket, keys[0]!);
        expect(records.map((r) => r.uuid).sort()).to.deep.equal([...byUuid.keys()].sort());
        for (const record of records) expect(record).to.deep.equal(expectedRecord(byUuid.get(record.uuid as string)!));
      } else {
        const { rows } = await readParquet(await getObject(client, bucket, keys[0]!));
        expect(rows.map((r) => r.uuid).sort()).to.deep.equal([...byUuid.keys()].sort());
        const read = rows.find((r) => r.uuid === huge.uuid)!;
        expect(read.properties).to.equal(JSON.stringify(JSON.parse(huge.properties)));
        expect(read.person_properties).to.equal(huge.person_properties);
      }
    });
  }
});
