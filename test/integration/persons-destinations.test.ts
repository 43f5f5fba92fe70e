import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ReceiptTally, tallied, type BatchFormat, type DestinationWriter, type RunContext } from '@bx/batch';
import { ClickHouseSource } from '@bx/clickhouse';
import { ReceiptChecksum, isoSeconds, modelSchema } from '@bx/core';
import { S3Destination, type S3Config } from '@bx/destination-s3';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { personsModel } from '@bx/model-persons';
import { queryParquet } from '../helpers/duckdb';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import {
  byDistinctId,
  EXPECTED,
  I0,
  I1,
  I2,
  merged,
  MERGED,
  scenarioSource,
  type PersonRecord,
} from '../helpers/person-scenarios';
import { TestPersons, type MappingRow, type PersonRow } from '../helpers/persons';
import { MemoryRunState, runContext, sourceConfig } from '../helpers/run-context';
import { createBucket, getObject, listKeys, readJsonLines, s3WriterConfig, testS3Client } from '../helpers/s3';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';

type Span = { start: number; end: number };
const MODEL = modelSchema(personsModel);
const format = personsModel.format() as BatchFormat;
const stem = (span: Span) => `${isoSeconds(span.start)}-${isoSeconds(span.end)}`;

/**
 * The scenarios run through the persons query on the real
 * ClickHouse 18.16 server into each destination, checked against what the
 * destination holds afterwards.
 */
describe('persons model into the destinations', function () {
  this.timeout(60_000);
  let ch: TestPersons;
  let source: ClickHouseSource;

  before(async () => {
    ({ ch, source } = await scenarioSource(16 * 1024));
  });
  after(async () => {
    await source.close();
    await ch.drop();
  });

  /** Runs the interval `span` of team `teamId` into `writer`, as the worker does (reused batch buffers). */
  function exportInterval(writer: DestinationWriter, span: Span, ctx: Partial<RunContext> = {}, teamId = 1) {
    const query = personsModel.query({ config: sourceConfig(ch.database), teamId, ...span });
    const batches = source.batches(query, undefined, { format, reuseBuffers: true });
    return writer.write(batches, { ...runContext(span, new MemoryRunState(), MODEL), teamId, ...ctx });
  }

  describe('S3', () => {
    let client: S3Client;
    let bucket: string;
    const config = (overrides: Partial<S3Config> = {}): S3Config =>
      s3WriterConfig({
        bucket_name: bucket,
        endpoint_url: testEnv.S3_ENDPOINT_URL,
        prefix: 'exports/{table}/{year}',
        ...S3_CREDENTIALS,
        ...overrides,
      });

    before(() => {
      client = testS3Client();
    });
    beforeEach(async () => {
      bucket = await createBucket(client);
    });

    for (const compression of [null, 'gzip', 'brotli', 'zstd'] as const) {
      it(`JSON Lines (${compression ?? 'uncompressed'}): each interval's records under {table} = persons`, async () => {
        const sut = new S3Destination(config({ compression }));
        const ext = compression ? { gzip: '.gz', brotli: '.br', zstd: '.zst' }[compression] : '';
        for (const [span, expected] of [
          [I1, EXPECTED.I1],
          [I2, EXPECTED.I2],
        ] as const) {
          const result = await exportInterval(sut, span);
          const key = `exports/persons/2024/${stem(span)}.jsonl${ext}`;
          expect(result).to.deep.include({ records: expected.length, files: [key] });
          expect((await readJsonLines(client, bucket, key)).sort(byDistinctId)).to.deep.equal(expected);
        }
        expect(await listKeys(client, bucket)).to.have.length(2);
      });
    }

    it('Parquet: typed columns (booleans, integers, timestamps, JSON), the same records', async () => {
      await exportInterval(new S3Destination(config({ file_format: 'Parquet', compression: 'zstd' })), I1);
      const data = await getObject(client, bucket, `exports/persons/2024/${stem(I1)}.parquet`);
      const { rows, schema } = await queryParquet(
        data,
        (file) => `SELECT team_id::INTEGER AS team_id, distinct_id, person_id, properties::VARCHAR AS properties,
                  person_version::INTEGER AS person_version,
                  person_distinct_id_version::INTEGER AS person_distinct_id_version,
                  strftime(created_at, '%Y-%m-%dT%H:%M:%S+00:00') AS created_at, is_deleted,
                  strftime(_inserted_at, '%Y-%m-%dT%H:%M:%S+00:00') AS _inserted_at
                  FROM read_parquet('${file}') ORDER BY distinct_id`,
      );
      expect(schema).to.deep.include({
        is_deleted: 'BOOLEAN//',
        // DuckDB writes the bit width 64 as the character '@'.
        person_version: 'INT64/UINT_64/IntType(bitWidth=@, isSigned=0)',
        person_distinct_id_version: 'INT64/INT_64/IntType(bitWidth=@, isSigned=1)',
        properties: 'BYTE_ARRAY/JSON/JsonType()',
      });
      expect(rows.map((r) => ({ ...r, properties: JSON.parse(String(r.properties)) }))).to.deep.equal(EXPECTED.I1);
    });

    it('splits a large interval by max_file_size_mb, with a manifest', async () => {
      // Team 9: 3,000 distinct_ids mapped in the first interval, properties that do not compress.
      const persons: PersonRow[] = [];
      const mappings: MappingRow[] = [];
      for (let i = 0; i < 1500; i++) {
        const id = `90000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
        const properties = JSON.stringify({ pad: randomBytes(150).toString('base64') });
        persons.push({
          id,
          team_id: 9,
          properties,
          is_identified: 1,
          is_deleted: 0,
          version: 0,
          created_at: '2024-03-01 09:00:00',
          _timestamp: '2024-03-01 09:00:00',
        });
        for (const n of [0, 1]) {
          mappings.push({
            team_id: 9,
            distinct_id: `d${i}-${n}`,
            person_id: id,
            is_deleted: 0,
            version: 0,
            _timestamp: '2024-03-01 10:15:00',
          });
        }
      }
      await ch.insert({ persons, mappings });
      const result = await exportInterval(
        new S3Destination(config({ compression: null, max_file_size_mb: 0.1 })),
        I1,
        {},
        9,
      );
      expect(result.records).to.equal(3000);
      expect(result.files.length).to.be.within(5, 15);
      const manifest = `exports/persons/2024/${stem(I1)}_manifest.json`;
      expect(JSON.parse((await getObject(client, bucket, manifest)).toString())).to.deep.equal({ files: result.files });
      const records = (await Promise.all(result.files.map((key) => readJsonLines(client, bucket, key)))).flat();
      expect(records.map((r) => r.distinct_id).sort()).to.deep.equal(mappings.map((m) => m.distinct_id).sort());
    });
  });

  describe('Snowflake (test bed)', () => {
    const TABLE = 'ANALYTICS.PUBLIC.persons';
    const local = tmpDir();
    let server: SnowflakeServer;
    let runs = 0;

    const sut = () =>
      new SnowflakeDestination(snowflakeConfig(server, { table_name: 'persons' }), {
        tmpDir: local,
      });
    /** Each export is a run of its own (a new run id and stage folder). */
    const load = (span: Span) => exportInterval(sut(), span, { runId: `r${++runs}` });
    const stored = () => server.rows(TABLE).sort(byDistinctId);

    beforeEach(async () => {
      server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    });
    afterEach(async () => {
      await server.close();
      expect(fs.readdirSync(local), 'local files are removed').to.deep.equal([]);
    });
    after(() => fs.rmSync(local, { recursive: true, force: true }));

    it('creates the table and merges each interval: the last properties, the merge, deletions, a late person', async () => {
      await load(I0);
      const first = await load(I1);
      expect(first.records).to.equal(EXPECTED.I1.length);
      await load(I2);
      expect(stored()).to.deep.equal(MERGED.map(storedPerson));
      expect(server.columns(TABLE).map((c) => `${c.name} ${c.type}`)).to.deep.equal([
        'team_id FIXED',
        'distinct_id TEXT',
        'person_id TEXT',
        'properties VARIANT',
        'person_version FIXED',
        'person_distinct_id_version FIXED',
        'created_at TIMESTAMP_NTZ',
        'is_deleted BOOLEAN',
        '_inserted_at TIMESTAMP_NTZ',
      ]);
      const merges = server.queries.filter((q) => q.startsWith('MERGE INTO'));
      expect(merges).to.have.length(3);
      // One transaction around the merge; the staging table is made before it (DDL commits) and dropped after.
      const at = server.queries.indexOf(merges[2]!);
      expect(server.queries.slice(at - 1, at + 3)).to.deep.equal([
        'BEGIN',
        merges[2],
        'COMMIT',
        server.queries[at + 2]!,
      ]);
      expect(server.queries[at + 2]).to.match(/^DROP TABLE IF EXISTS "bx_stage_[0-9a-f]+"$/);
      expect(server.tables().filter((t) => t.includes('bx_stage'))).to.deep.equal([]);
    });

    it('a backfill of earlier intervals after the later ones changes nothing; neither does a run landing twice', async () => {
      for (const span of [I0, I1, I2]) await load(span);
      // I0 still has `b` with its old person, whose version (7) is above the new one's (3): the mapping's decides.
      await load(I0);
      await load(I1);
      expect(stored()).to.deep.equal(MERGED.map(storedPerson));
      await load(I2);
      expect(stored()).to.deep.equal(MERGED.map(storedPerson));
    });

    it('runs landing out of order leave the same table', async () => {
      for (const span of [I2, I0, I1]) await load(span);
      expect(stored()).to.deep.equal(MERGED.map(storedPerson));
    });

    it('a failed MERGE leaves the table as it was, and the retry merges', async () => {
      await load(I1);
      server.faults.crashAfter({ sql: /^MERGE INTO/, mode: 'error' });
      const err = await load(I2).catch((e: unknown) => e);
      expect(err).to.include({ retryable: true });
      expect(stored()).to.deep.equal(EXPECTED.I1.map(storedPerson));
      await load(I2);
      expect(stored()).to.deep.equal(merged(EXPECTED.I1, EXPECTED.I2).map(storedPerson));
    });

    it("a run's receipt row (records, sum of sipHash64 of the distinct_ids) commits with the MERGE", async () => {
      const receipted = (span: Span, version: number) => {
        const tally = new ReceiptTally(MODEL.receipt);
        const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...span });
        const batches = tallied(source.batches(query, undefined, { format, reuseBuffers: true }), tally);
        return sut().write(batches, {
          ...runContext(span, new MemoryRunState(), MODEL),
          runId: `r${++runs}`,
          exportId: 'persons-export',
          receipt: { version, build: (files) => tally.receipt(files, version) },
        });
      };
      const receipts = () =>
        server
          .rows('ANALYTICS.PUBLIC.batch_export_receipts')
          .map((r) => [Date.parse(r.data_interval_start as string), Number(r.records), r.checksum, Number(r.version)]);
      const checksum = (records: readonly PersonRecord[]) => {
        const sum = new ReceiptChecksum();
        for (const r of records) sum.add(r.distinct_id);
        return sum.toString();
      };
      const result = await receipted(I1, 1);
      expect(result.receipt).to.deep.include({ records: EXPECTED.I1.length, checksum: checksum(EXPECTED.I1) });
      expect(receipts()).to.deep.equal([[I1.start, 8, checksum(EXPECTED.I1), 1]]);
      // The receipt row is written between the MERGE and its COMMIT; a failed MERGE writes none.
      const merge = server.queries.findIndex((q) => q.startsWith('MERGE INTO'));
      expect(server.queries.slice(merge + 1, merge + 4).map((q) => q.split(' ')[0])).to.deep.equal([
        'DELETE',
        'INSERT',
        'COMMIT',
      ]);
      server.faults.crashAfter({ sql: /^MERGE INTO/, mode: 'error' });
      expect(await receipted(I2, 1).catch((e: unknown) => e)).to.include({ retryable: true });
      expect(receipts()).to.have.length(1);
      await receipted(I2, 2);
      expect(receipts()).to.have.deep.members([
        [I1.start, 8, checksum(EXPECTED.I1), 1],
        [I2.start, 4, checksum(EXPECTED.I2), 2],
      ]);
    });

    it('an empty interval does not connect', async () => {
      const result = await load({ start: I1.start - 7_200_000, end: I1.start - 3_600_000 });
      expect(result).to.deep.equal({ records: 0, bytes: 0, files: [] });
      expect(server.queries).to.deep.equal([]);
    });
  });
});

/** What the Snowflake table holds for a record: VARIANT parsed, TIMESTAMP_NTZ as UTC ISO. */
function storedPerson(r: PersonRecord): Record<string, unknown> {
  const ts = (t: string | null) => (t === null ? null : t.replace('+00:00', 'Z'));
  return { ...r, created_at: ts(r.created_at), _inserted_at: ts(r._inserted_at) };
}
