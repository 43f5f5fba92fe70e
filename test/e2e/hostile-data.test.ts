import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { isoSeconds } from '@bx/core';
import { readParquet } from '../helpers/duckdb';
import { E2eSystem, HOUR } from '../helpers/e2e-system';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { createBucket, getObject, listKeys, readJsonLines, testS3Client } from '../helpers/s3';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';
import fs from 'node:fs';

const DEEP = '['.repeat(1500) + ']'.repeat(1500);

/** A parsed JSON value with each lone surrogate in its strings (keys too) as U+FFFD. */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return (value as unknown as { toWellFormed(): string }).toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormed(v)]));
  return value;
}

/** Properties texts nobody cleaned: not JSON, not objects, escapes JSONB refuses, numbers beyond doubles. */
const PROPERTIES = [
  'not json {',
  '',
  '[1,2,3]',
  '42',
  '"a string"',
  'null',
  '{"n":1e400,"big":123456789012345678901234567890,"neg":-9007199254740993}',
  '{"nul":"x\\u0000y","\\u0000key":1,"lone":"\\ud800","pair":"\\ud83d\\ude00"}',
  '{"k.with.dots":1,"q\\"uote":2,"back\\\\slash":3}',
  '{\n  "multi": "line"\n}',
  DEEP,
];

/** Rows of each hour: its first second, its last, and hostile ones between. */
function hostileEvents(base: number, hours: number): SourceEvent[] {
  const at = (ms: number) => chTime(new Date(ms).toISOString());
  const events: SourceEvent[] = [];
  for (let h = 0; h < hours; h++) {
    const start = base + h * HOUR;
    events.push(makeEvent({ inserted_at: at(start) }), makeEvent({ inserted_at: at(start + HOUR - 1000) }));
    PROPERTIES.forEach((properties, i) =>
      events.push(makeEvent({ inserted_at: at(start + 60_000 + i * 1000), properties, person_properties: properties })),
    );
    events.push(
      makeEvent({ inserted_at: at(start + 120_000), event: 'line\nbreak\t"quoted"\\', distinct_id: 'nul\u0000id' }),
      makeEvent({ inserted_at: at(start + 121_000), event: 'emoji 😀', distinct_id: 'ünïcødé' }),
      makeEvent({ inserted_at: at(start + 122_000), elements_chain: 'a:'.repeat(300_000) }),
    );
  }
  // Outside every interval: exactly the end, NULL, and the far past.
  const end = base + hours * HOUR;
  events.push(
    makeEvent({ inserted_at: at(end) }),
    makeEvent({ inserted_at: null }),
    makeEvent({ inserted_at: '1970-01-01 00:00:01' }),
  );
  return events;
}

/**
 * Hostile data through the whole system (API, scheduler, worker processes,
 * ClickHouse 18.16) to S3 in every codec and Parquet, split by
 * max_file_size_mb, to PostgreSQL and to the Snowflake test bed: every run completes, `npm run verify`
 * matches every interval, and every destination holds the same values.
 */
describe('end to end: hostile rows to S3 (every codec, Parquet, split), PostgreSQL and Snowflake', function () {
  this.timeout(240_000);
  const sut = new E2eSystem({ prefix: 'bxhostile', hours: 2 });
  const events = hostileEvents(sut.base, sut.hours);
  let s3: S3Client;
  let bucket: string;
  let pg: TestPostgres;
  let sf: SnowflakeServer;
  const localFiles = tmpDir();

  before(async () => {
    s3 = testS3Client();
    bucket = await createBucket(s3);
    pg = await new TestPostgres().setup();
    sf = await startSnowflakeServer({ account: 'testacct', users: { loader: 'loader-password' } });
    await sut.start(events, { TMPDIR: localFiles });
  });
  after(async () => {
    await sut.stop();
    await pg.drop();
    await sf.close();
    fs.rmSync(localFiles, { recursive: true, force: true });
  });

  const verify = (id: string) => sut.verify(id);

  const s3Config = (prefix: string, extra: Record<string, unknown>) => ({
    type: 'S3' as const,
    config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix, ...S3_CREDENTIALS, ...extra },
  });
  const FORMATS: Record<string, Record<string, unknown>> = {
    plain: { file_format: 'JSONLines' },
    gzip: { file_format: 'JSONLines', compression: 'gzip', max_file_size_mb: 1 },
    brotli: { file_format: 'JSONLines', compression: 'brotli' },
    zstd: { file_format: 'JSONLines', compression: 'zstd', max_file_size_mb: 1 },
    parquet: { file_format: 'Parquet', compression: 'zstd', max_file_size_mb: 1 },
  };

  it('every run completes; verify matches every interval; every S3 format holds the same records', async () => {
    const ids: Record<string, string> = {};
    for (const [name, format] of Object.entries(FORMATS))
      ids[name] = (await sut.createExport(name, s3Config(name, format))).id;
    ids.pg = (await sut.createExport('pg', { type: 'Postgres', config: pg.config({ table_name: 'hostile' }) })).id;
    const snowflake = { ...snowflakeConfig(sf), table_name: 'hostile' };
    ids.snowflake = (await sut.createExport('sf', { type: 'Snowflake', config: snowflake })).id;
    const expectedCount = events.filter((e) => {
      const t = e.inserted_at === null ? NaN : Date.parse(e.inserted_at.replace(' ', 'T') + 'Z');
      return t >= sut.base && t < sut.end;
    }).length;
    for (const [name, id] of Object.entries(ids)) {
      const runs = await sut.runs(id, sut.hours);
      const total = runs.reduce((n, r) => n + (r as unknown as { records_completed: number }).records_completed, 0);
      expect(total, name).to.equal(expectedCount);
      const v = await verify(id);
      expect(v.code, `${name}\n${v.stdout}`).to.equal(0);
    }

    // The plain JSON Lines records are the reference; each other format must hold the same.
    const records = async (name: string) => {
      const keys = (await listKeys(s3, bucket, `${name}/`)).filter((k) => /\.(jsonl(\.\w+)?|parquet)$/.test(k));
      const out: Array<Record<string, unknown>> = [];
      for (const key of keys) {
        if (key.endsWith('.parquet')) out.push(...(await readParquet(await getObject(s3, bucket, key))).rows);
        else out.push(...(await readJsonLines(s3, bucket, key)));
      }
      return out.sort((a, b) => String(a.uuid).localeCompare(String(b.uuid)));
    };
    const reference = await records('plain');
    expect(reference).to.have.length(expectedCount);
    for (const name of ['gzip', 'brotli', 'zstd']) expect(await records(name), name).to.deep.equal(reference);
    const parquet = await records('parquet');
    expect(parquet.map((r) => [r.uuid, r.event, r.distinct_id, r.elements_chain])).to.deep.equal(
      reference.map((r) => [r.uuid, r.event, r.distinct_id, r.elements_chain]),
    );
    // A lone surrogate escape is U+FFFD in every format (DuckDB refused the whole file over one).
    for (const column of ['properties', 'person_properties']) {
      expect(
        parquet.map((r) => (r[column] === null ? null : JSON.parse(r[column] as string))),
        column,
      ).to.deep.equal(reference.map((r) => r[column]));
      expect(reference.map((r) => r[column])).to.deep.equal(reference.map((r) => wellFormed(r[column])));
    }

    // PostgreSQL: each value PostgreSQL refuses replaced as the README says, nothing else changed.
    const pgText = (v: unknown) => (typeof v === 'string' ? (wellFormed(v) as string).replaceAll('\0', '\ufffd') : v);
    const pgJson = (v: unknown): unknown =>
      typeof v === 'string'
        ? pgText(v)
        : Array.isArray(v)
          ? v.map(pgJson)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [pgText(k), pgJson(x)]))
            : v;
    const stored = (await pg.rows('hostile')).sort((a, b) => a.uuid.localeCompare(b.uuid));
    expect(stored.map((r) => [r.uuid, r.event, r.distinct_id, r.elements_chain])).to.deep.equal(
      reference.map((r) => [r.uuid, pgText(r.event), pgText(r.distinct_id), r.elements_chain]),
    );
    const deep = (r: Record<string, unknown>, column: 'properties' | 'person_properties') =>
      events.find((e) => e.uuid === r.uuid)![column] === DEEP;
    for (const column of ['properties', 'person_properties'] as const) {
      expect(
        stored.map((r) => r[column]),
        column,
      ).to.deep.equal(reference.map((r) => (deep(r, column) ? DEEP : pgJson(r[column]))));
    }

    // Snowflake (the test bed keeps VARIANT as parsed JSON): the records' values, text as it is.
    const loaded = sf.rows('ANALYTICS.PUBLIC.hostile').sort((a, b) => String(a.uuid).localeCompare(String(b.uuid)));
    expect(loaded.map((r) => [r.uuid, r.event, r.distinct_id, r.elements_chain, r.properties])).to.deep.equal(
      reference.map((r) => [r.uuid, r.event, r.distinct_id, r.elements_chain, r.properties]),
    );

    const keys = await listKeys(s3, bucket, 'gzip/');
    expect(
      keys.filter((k) => k.endsWith(`${isoSeconds(sut.base)}-${isoSeconds(sut.base + HOUR)}_receipt.json`)),
    ).to.have.length(1);
  });
});
