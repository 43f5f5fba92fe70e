import { expect } from 'chai';
import type { BatchFormat, DestinationWriter, RecordBatch, RunContext } from '@bx/batch';
import { FieldBatch, ReceiptTally, tallied } from '@bx/batch';
import { ClickHouseSource } from '@bx/clickhouse';
import { ReceiptChecksum, modelSchema } from '@bx/core';
import { PostgresDestination, checkPostgres } from '@bx/destination-postgres';
import { personsModel } from '@bx/model-persons';
import { EXPECTED, I0, I1, I2, merged, MERGED, scenarioSource, type PersonRecord } from '../helpers/person-scenarios';
import { TestPersons } from '../helpers/persons';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext, sourceConfig } from '../helpers/run-context';

type Span = { start: number; end: number };
const MODEL = modelSchema(personsModel);
const format = personsModel.format() as BatchFormat;

/**
 * The scenarios run through the persons query on the real
 * ClickHouse 18.16 server into the real PostgreSQL, checked against what
 * the table holds afterwards.
 */
describe('persons model into Postgres (the real server)', function () {
  this.timeout(60_000);
  let ch: TestPersons;
  let source: ClickHouseSource;
  let pg: TestPostgres;
  let table: string;
  let runs = 0;

  before(async () => {
    ({ ch, source } = await scenarioSource(16 * 1024));
    pg = await new TestPostgres().setup();
  });
  after(async () => {
    await source.close();
    await ch.drop();
    await pg.drop();
  });
  beforeEach(() => {
    table = `persons_${++runs}`;
  });

  const sut = (): DestinationWriter => new PostgresDestination(pg.config({ table_name: table }));
  const ctx = (span: Span): RunContext => ({ ...runContext(span, new MemoryRunState(), MODEL), runId: `r${++runs}` });
  /** Runs the interval `span` of team 1 into the table, as the worker does (reused batch buffers). */
  const load = (span: Span, writer = sut()) => {
    const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...span });
    return writer.write(source.batches(query, undefined, { format, reuseBuffers: true }), ctx(span));
  };
  const stored = async (): Promise<PersonRecord[]> => {
    const { rows } = await pg.admin.query<Record<string, unknown>>(
      `SELECT * FROM "${pg.schema}"."${table}" ORDER BY "distinct_id" COLLATE "C"`,
    );
    const iso = (d: unknown) => (d === null ? null : (d as Date).toISOString().replace('.000Z', '+00:00'));
    return rows.map((r) => ({
      ...(r as unknown as PersonRecord),
      team_id: Number(r.team_id),
      person_version: Number(r.person_version),
      person_distinct_id_version: Number(r.person_distinct_id_version),
      created_at: iso(r.created_at),
      _inserted_at: iso(r._inserted_at)!,
    }));
  };

  it('creates the table (the record columns, the key as primary key) and merges each interval', async () => {
    await load(I0);
    const first = await load(I1);
    expect(first.records).to.equal(EXPECTED.I1.length);
    await load(I2);
    expect(await stored()).to.deep.equal(MERGED);
    const { rows: columns } = await pg.admin.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [pg.schema, table],
    );
    expect(columns.map((c) => `${c.column_name} ${c.data_type}`)).to.deep.equal([
      'team_id bigint',
      'distinct_id text',
      'person_id text',
      'properties jsonb',
      'person_version numeric',
      'person_distinct_id_version bigint',
      'created_at timestamp with time zone',
      'is_deleted boolean',
      '_inserted_at timestamp with time zone',
    ]);
    const { rows: key } = await pg.admin.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`,
      [`"${pg.schema}"."${table}"`],
    );
    expect(key.map((k) => k.def)).to.deep.equal(['PRIMARY KEY (team_id, distinct_id)']);
  });

  it("a run's receipt (its records, the sum of sipHash64 of their distinct_ids) commits with the upsert", async () => {
    /** A run of `span` as the worker makes it: its batches tallied into the receipt it hands the writer. */
    const receipted = (span: Span, version: number, fail = false) => {
      const tally = new ReceiptTally(MODEL.receipt);
      const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...span });
      async function* batches(): AsyncGenerator<RecordBatch> {
        yield* source.batches(query, undefined, { format, reuseBuffers: true });
        if (fail) throw new Error('source broke');
      }
      return sut().write(tallied(batches(), tally), {
        ...ctx(span),
        exportId: 'persons-export',
        receipt: { version, build: (files) => tally.receipt(files, version) },
      });
    };
    const receipts = async () =>
      (
        await pg.admin.query<{ start: Date; records: string; checksum: string; version: number }>(
          `SELECT "data_interval_start" AS start, "records", "checksum", "version"
             FROM "${pg.schema}"."batch_export_receipts" WHERE "export_id" = 'persons-export' ORDER BY 1`,
        )
      ).rows.map((r) => [r.start.getTime(), Number(r.records), r.checksum, r.version]);
    const checksum = (records: readonly PersonRecord[]) => {
      const sum = new ReceiptChecksum();
      for (const r of records) sum.add(r.distinct_id);
      return sum.toString();
    };
    const result = await receipted(I1, 1);
    const times = EXPECTED.I1.map((r) => r._inserted_at).sort();
    expect(result.receipt).to.deep.equal({
      records: EXPECTED.I1.length,
      checksum: checksum(EXPECTED.I1),
      min_inserted_at: times[0],
      max_inserted_at: times[times.length - 1],
      files: [],
      version: 1,
    });
    expect(await receipts()).to.deep.equal([[I1.start, EXPECTED.I1.length, checksum(EXPECTED.I1), 1]]);
    // A failed run: neither its rows nor its receipt; the retry writes both.
    expect(await receipted(I2, 1, true).catch((e: unknown) => e)).to.be.instanceOf(Error);
    expect(await receipts()).to.have.length(1);
    expect(await stored()).to.deep.equal([...EXPECTED.I1]);
    await receipted(I2, 2);
    expect(await receipts()).to.deep.equal([
      [I1.start, EXPECTED.I1.length, checksum(EXPECTED.I1), 1],
      [I2.start, EXPECTED.I2.length, checksum(EXPECTED.I2), 2],
    ]);
  });

  it('a backfill of earlier intervals after the later ones changes nothing; the same interval twice adds no row', async () => {
    for (const span of [I0, I1, I2]) await load(span);
    // I0 still has `b` with its old person, whose version (7) is above the new one's (3): the mapping's decides.
    await load(I0);
    await load(I1);
    expect(await stored()).to.deep.equal(MERGED);
    await load(I2);
    expect(await stored()).to.deep.equal(MERGED);
  });

  it('runs landing out of order leave the same table', async () => {
    for (const span of [I2, I0, I1]) await load(span);
    expect(await stored()).to.deep.equal(MERGED);
  });

  it('two runs upserting the same keys at once both land, the higher versions kept', async () => {
    await Promise.all([load(I1), load(I2), load(I0)]);
    expect(await stored()).to.deep.equal(MERGED);
  });

  it('a run whose source fails mid-stream leaves the table as it was, and the retry merges', async () => {
    await load(I1);
    const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...I2 });
    async function* failing(): AsyncGenerator<RecordBatch> {
      yield* source.batches(query, undefined, { format });
      throw new Error('source broke');
    }
    const err = await sut()
      .write(failing(), ctx(I2))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(await stored()).to.deep.equal([...EXPECTED.I1]);
    await load(I2);
    expect(await stored()).to.deep.equal(merged(EXPECTED.I1, EXPECTED.I2));
  });

  it('stores values PostgreSQL refuses as they are elsewhere, and every UInt64 version exactly', async () => {
    const row = {
      team_id: 1,
      distinct_id: 'nul \0 and bad \xff',
      person_id: 'p',
      properties: '{"k":"\\u0000 and \\ud800","multi":\n1}',
      person_version: 18_446_744_073_709_551_615n,
      person_distinct_id_version: -1,
      created_at: '0000-00-00 00:00:00',
      is_deleted: 1,
      _inserted_at: '2024-03-01 10:00:00.123456',
    };
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    const batch = FieldBatch.fromValues(format, [
      { ...row, distinct_id: Buffer.from([0x6e, 0x00, 0xff]) },
      { ...row, distinct_id: 'plain', properties: '{"a":[1,{"b":null}]}', person_version: 10_000n },
      // Deeper than JSONB's parser goes (54001): the text as a JSON string.
      { ...row, distinct_id: 'ydeep', properties: deep, person_version: 1n },
    ]);
    async function* batches() {
      yield batch;
    }
    await sut().write(batches(), ctx(I1));
    const { rows } = await pg.admin.query<Record<string, unknown>>(
      `SELECT distinct_id, properties, person_version::text AS v, created_at, is_deleted,
              to_char(_inserted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS at
         FROM "${pg.schema}"."${table}" ORDER BY distinct_id COLLATE "C"`,
    );
    expect(rows).to.deep.equal([
      {
        distinct_id: 'n\ufffd\ufffd',
        properties: { k: '\ufffd and \ufffd', multi: 1 },
        v: '18446744073709551615',
        created_at: new Date(0),
        is_deleted: true,
        at: '2024-03-01 10:00:00.123456',
      },
      {
        distinct_id: 'plain',
        properties: { a: [1, { b: null }] },
        v: '10000',
        created_at: new Date(0),
        is_deleted: true,
        at: '2024-03-01 10:00:00.123456',
      },
      {
        distinct_id: 'ydeep',
        properties: deep,
        v: '1',
        created_at: new Date(0),
        is_deleted: true,
        at: '2024-03-01 10:00:00.123456',
      },
    ]);
  });

  it('an existing table of fewer fractional digits: times cut to them, not rounded into the next interval', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."${table}" (
      team_id bigint, distinct_id text, person_id text, properties jsonb, person_version numeric,
      person_distinct_id_version bigint, created_at timestamp(3), is_deleted boolean,
      _inserted_at timestamptz(0), PRIMARY KEY (team_id, distinct_id))`);
    const row = {
      team_id: 1,
      person_id: 'p',
      properties: '{}',
      person_version: 1n,
      person_distinct_id_version: 1,
      is_deleted: 0,
    };
    const batch = FieldBatch.fromValues(format, [
      { ...row, distinct_id: 'a', created_at: '2024-01-01 10:59:59.9996', _inserted_at: '2024-01-01 10:59:59.6' },
      { ...row, distinct_id: 'b', created_at: '2024-01-01 10:00:00.1234', _inserted_at: '2024-01-01 10:59:59.999999' },
      { ...row, distinct_id: 'c', created_at: '2024-01-01 10:00:00', _inserted_at: '2024-01-01 10:30:00.4' },
    ]);
    async function* batches() {
      yield batch;
    }
    await sut().write(batches(), ctx(I1));
    const { rows } = await pg.admin.query<{ distinct_id: string; created: string; inserted: string }>(
      `SELECT distinct_id, to_char(created_at, 'HH24:MI:SS.US') AS created,
              to_char(_inserted_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS inserted
         FROM "${pg.schema}"."${table}" ORDER BY distinct_id`,
    );
    expect(rows.map((r) => [r.distinct_id, r.created, r.inserted])).to.deep.equal([
      ['a', '10:59:59.999000', '10:59:59.000000'],
      ['b', '10:00:00.123000', '10:59:59.000000'],
      ['c', '10:00:00.000000', '10:30:00.000000'],
    ]);
  });

  it('fails permanently on an existing table without a model column, naming it', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."${table}" (team_id bigint, distinct_id text)`);
    const err = await load(I1).catch((e: unknown) => e);
    expect(err).to.include({ retryable: false, code: 'IncompatibleTable' });
    expect((err as Error).message).to.contain('column "person_id" is missing');
  });

  it('the destination test of a persons export: the table is creatable, or takes the upsert', async () => {
    const check = () => checkPostgres(pg.config({ table_name: table }), { model: MODEL });
    const exists = async () =>
      (await pg.admin.query('SELECT to_regclass($1) AS t', [`"${pg.schema}"."${table}"`])).rows[0].t !== null;
    await check();
    expect(await exists(), 'the creation is rolled back').to.equal(false);
    await load(I1);
    await check();
    expect(await stored()).to.deep.equal([...EXPECTED.I1]);
    // The columns, but no unique index on the key: ON CONFLICT cannot run.
    await pg.admin.query(`ALTER TABLE "${pg.schema}"."${table}" DROP CONSTRAINT "${table}_pkey"`);
    const unkeyed = await check().catch((e: unknown) => e);
    expect(unkeyed).to.include({ retryable: false });
    expect((unkeyed as Error).message).to.contain('ON CONFLICT');
    await pg.admin.query(`ALTER TABLE "${pg.schema}"."${table}" DROP COLUMN "is_deleted"`);
    const missing = await check().catch((e: unknown) => e);
    expect(missing).to.include({ retryable: false, code: 'IncompatibleTable' });
    expect((missing as Error).message)
      .to.contain('cannot hold the persons')
      .and.contain('"is_deleted" is missing');
  });
});
