import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import { ClickHouseSource } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';
import { parseInput } from '@bx/core';
import { S3Destination, s3ConfigSchema } from '@bx/destination-s3';
import { PostgresDestination } from '@bx/destination-postgres';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { readParquet } from '../helpers/duckdb';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { runContext } from '../helpers/run-context';
import { createBucket, getObject, listKeys, testS3Client } from '../helpers/s3';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };

/**
 * JSON columns that span lines (pretty-printed by the sender) must be put on
 * one line without changing their value: JSON.parse then JSON.stringify
 * rounded integers beyond 2^53, turned 1e400 into null, cut long decimals,
 * and threw (call stack) on deep nesting, failing the interval on every retry.
 */
const DEEP = 20_000;
const CASES = [
  {
    name: 'big integers, out-of-double exponents and long decimals, over several lines',
    properties:
      '{\n  "big": 12345678901234567891,\n  "neg": -98765432109876543210987,\n  "huge": 1e400,\n' +
      '  "tiny": -1E-400,\n  "dec": 0.1000000000000000055511151231257827,\n  "s": "a\\nb \\" {"\r\n}',
    oneLine:
      '{"big":12345678901234567891,"neg":-98765432109876543210987,"huge":1e400,' +
      '"tiny":-1E-400,"dec":0.1000000000000000055511151231257827,"s":"a\\nb \\" {"}',
  },
  {
    name: 'nesting 20,000 deep with a line break',
    properties: '['.repeat(DEEP) + '\n' + ']'.repeat(DEEP),
    oneLine: '['.repeat(DEEP) + ']'.repeat(DEEP),
  },
  {
    name: 'an escape PostgreSQL refuses beside a big integer',
    properties: '{"nul":"a\\u0000b","big":12345678901234567891,"huge":1e400}',
    oneLine: '{"nul":"a\\u0000b","big":12345678901234567891,"huge":1e400}',
  },
];
const events = CASES.map((c, i) =>
  makeEvent({ inserted_at: chTime(`2024-01-01T10:0${i}:00Z`), properties: c.properties }),
);

describe('JSON columns over several lines keep their values exactly, ClickHouse 18.16 to S3 and Postgres', function () {
  this.timeout(120_000);
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  let client: S3Client;
  let bucket: string;
  let pg: TestPostgres;
  const sql = () =>
    buildEventsQuery({ database: ch.database, table: ch.table, intervalColumn: 'inserted_at', teamId: 1, ...span });

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(events);
    source = testClickHouseSource();
    client = testS3Client();
    bucket = await createBucket(client);
    pg = await new TestPostgres().setup();
  });
  after(async () => {
    await source.close();
    await ch.drop();
    client.destroy();
    await pg.drop();
  });

  const s3 = (file_format: string, compression: string | null) =>
    new S3Destination(
      parseInput(s3ConfigSchema, {
        bucket_name: bucket,
        endpoint_url: testEnv.S3_ENDPOINT_URL,
        ...S3_CREDENTIALS,
        prefix: `${file_format}-${compression}`,
        file_format,
        compression,
      }),
    );

  it('JSON Lines: each record holds the value on one line, every number as written', async () => {
    const result = await s3('JSONLines', 'gzip').write(source.batches(sql()), runContext(span));
    expect(result.records).to.equal(CASES.length);
    const [key] = await listKeys(client, bucket, 'JSONLines-gzip');
    const lines = gunzipSync(await getObject(client, bucket, key!))
      .toString()
      .split('\n')
      .filter(Boolean);
    expect(lines).to.have.length(CASES.length);
    for (const [i, c] of CASES.entries()) {
      const line = lines.find((l) => l.includes(events[i]!.uuid))!;
      expect(line.includes(`"properties":${c.oneLine},`), c.name).to.equal(true);
    }
  });

  it('Parquet: the properties column holds the same one-line text', async () => {
    const result = await s3('Parquet', 'zstd').write(source.batches(sql()), runContext(span));
    expect(result.records).to.equal(CASES.length);
    const [key] = await listKeys(client, bucket, 'Parquet-zstd');
    const { rows } = await readParquet(await getObject(client, bucket, key!));
    for (const [i, c] of CASES.entries()) {
      expect(rows.find((r) => r.uuid === events[i]!.uuid)!.properties, c.name).to.equal(c.oneLine);
    }
  });

  it('Postgres: JSONB holds every number as written', async () => {
    const result = await new PostgresDestination(pg.config()).write(source.batches(sql()), runContext(span));
    expect(result.records).to.equal(CASES.length);
    const { rows } = await pg.admin.query(
      `SELECT properties->>'big' AS big, properties->>'neg' AS neg, properties->>'huge' AS huge,
              properties->>'tiny' AS tiny, properties->>'dec' AS dec
         FROM "${pg.schema}"."events" WHERE uuid = $1`,
      [events[0]!.uuid],
    );
    expect(rows[0]).to.deep.equal({
      big: '12345678901234567891',
      neg: '-98765432109876543210987',
      huge: `1${'0'.repeat(400)}`,
      tiny: `-0.${'0'.repeat(399)}1`,
      dec: '0.1000000000000000055511151231257827',
    });
    const refused = await pg.admin.query(
      `SELECT properties->>'nul' AS nul, properties->>'big' AS big, properties->>'huge' AS huge
         FROM "${pg.schema}"."events" WHERE uuid = $1`,
      [events[2]!.uuid],
    );
    expect(refused.rows[0]).to.deep.equal({
      nul: 'a\uFFFDb',
      big: '12345678901234567891',
      huge: `1${'0'.repeat(400)}`,
    });
  });
});
