import { expect } from 'chai';
import { EVENT_COLUMNS } from '@bx/core';
import {
  attemptStageFolder,
  createTableSql,
  incompatibleColumns,
  mergeSql,
  newerCondition,
  objectIdentifier,
  putSource,
  quoteIdentifier,
  runStageFolder,
  tableStage,
  verifyCopy,
} from '@bx/destination-snowflake';
import { modelSchema } from '@bx/core';
import { personsModel } from '@bx/model-persons';
import { EVENTS_MODEL } from '../helpers/run-context';

const PERSONS_MODEL = modelSchema(personsModel);

describe('Snowflake SQL text', () => {
  it('quotes the table name exactly; keeps plain object names as Snowflake users write them', () => {
    expect(quoteIdentifier('events')).to.equal('"events"');
    expect(quoteIdentifier('we"ird')).to.equal('"we""ird"');
    expect(objectIdentifier('analytics')).to.equal('analytics');
    expect(objectIdentifier('MY_DB$1')).to.equal('MY_DB$1');
    expect(objectIdentifier('"Mixed Case"')).to.equal('"Mixed Case"');
    expect(objectIdentifier('my-db')).to.equal('"my-db"');
    expect(objectIdentifier('x; DROP TABLE t')).to.equal('"x; DROP TABLE t"');
    expect(objectIdentifier('"a"b"')).to.equal('"""a""b"""');
  });

  it('stages each attempt in its own folder under the run folder', () => {
    expect(runStageFolder('exp-1-20240101T100000Z')).to.equal('bx/exp-1-20240101T100000Z/');
    expect(runStageFolder('a/../b c')).to.equal('bx/a_.._b_c/');
    expect(attemptStageFolder('r1', 2, 'a1b2')).to.equal('bx/r1/2-a1b2/');
    expect(() => attemptStageFolder('r1', 2, '../x')).to.throw(RangeError);
    expect(tableStage('events', 'bx/r1/')).to.equal('@%"events"/bx/r1/');
    expect(putSource('/tmp/bx-1/part-0.jsonl.gz')).to.equal("'file:///tmp/bx-1/part-0.jsonl.gz'");
    expect(() => putSource("/tmp/it's")).to.throw(/cannot be used in PUT/);
  });

  it('creates the contract columns, JSON as VARIANT', () => {
    const sql = createTableSql('events', EVENTS_MODEL);
    expect(sql).to.match(/^CREATE TABLE IF NOT EXISTS "events" \(/);
    for (const column of EVENT_COLUMNS) expect(sql).to.contain(`"${column}" `);
    expect(sql).to.contain('"properties" VARIANT').and.contain('"person_properties" VARIANT');
  });

  it('accepts a table that can hold the records, with extra columns; names what cannot', () => {
    const fits = EVENT_COLUMNS.map((name) => ({
      name,
      type: name.endsWith('properties')
        ? 'variant'
        : name === 'team_id'
          ? 'fixed'
          : name.endsWith('at') || name === 'timestamp'
            ? 'timestamp_ntz'
            : 'text',
    }));
    expect(incompatibleColumns([...fits, { name: 'extra', type: 'boolean' }], EVENTS_MODEL)).to.deep.equal([]);
    const text = fits.map((c) => (c.name === 'timestamp' ? { ...c, type: 'text' } : c));
    expect(incompatibleColumns(text, EVENTS_MODEL), 'timestamp as text is fine').to.deep.equal([]);
    const bad = fits
      .filter((c) => c.name !== 'event')
      .map((c) => (c.name === 'inserted_at' ? { ...c, type: 'text' } : c));
    expect(incompatibleColumns(bad, EVENTS_MODEL)).to.deep.equal([
      'column "event" is missing (names are matched case-sensitively)',
      'column "inserted_at" is TEXT, which cannot hold it (expected TIMESTAMP_NTZ)',
    ]);
  });

  it('creates the persons columns: versions as integers, is_deleted as BOOLEAN, properties as VARIANT', () => {
    expect(createTableSql('persons', PERSONS_MODEL)).to.equal(
      'CREATE TABLE IF NOT EXISTS "persons" ("team_id" INTEGER, "distinct_id" STRING, "person_id" STRING,' +
        ' "properties" VARIANT, "person_version" INTEGER, "person_distinct_id_version" INTEGER,' +
        ' "created_at" TIMESTAMP_NTZ, "is_deleted" BOOLEAN, "_inserted_at" TIMESTAMP_NTZ)' +
        " COMMENT = 'Batch export persons table'",
    );
  });

  it('refuses a persons table whose versions are text: the merge would compare them as text', () => {
    const columns = PERSONS_MODEL.columns.map((c) => ({
      name: c.name,
      type:
        { json: 'variant', boolean: 'boolean', timestamp: 'timestamp_ntz', int64: 'fixed', uint64: 'fixed' }[
          c.type as string
        ] ?? 'text',
    }));
    expect(incompatibleColumns(columns, PERSONS_MODEL)).to.deep.equal([]);
    const textVersion = columns.map((c) => (c.name === 'person_version' ? { ...c, type: 'text' } : c));
    expect(incompatibleColumns(textVersion, PERSONS_MODEL)).to.deep.equal([
      'column "person_version" is TEXT, which cannot hold it (expected INTEGER)',
    ]);
  });

  it('merges persons by key where the versions are higher (mapping, then person), or over a placeholder', () => {
    expect(newerCondition(['a', 'b'])).to.equal('s."a" > t."a" OR (s."a" = t."a" AND (s."b" > t."b"))');
    const sql = mergeSql('persons', 'bx_stage_1', PERSONS_MODEL as Parameters<typeof mergeSql>[2]);
    expect(sql).to.contain(
      'MERGE INTO "persons" AS t USING "bx_stage_1" AS s ON t."team_id" = s."team_id" AND t."distinct_id" = s."distinct_id"',
    );
    expect(sql).to.contain(
      'WHEN MATCHED AND (s."person_distinct_id_version" > t."person_distinct_id_version" OR' +
        ' (s."person_distinct_id_version" = t."person_distinct_id_version" AND (s."person_version" > t."person_version"))' +
        ' OR (s."person_distinct_id_version" = t."person_distinct_id_version" AND s."person_version" = t."person_version"' +
        ' AND t."created_at" IS NULL AND s."created_at" IS NOT NULL))' +
        ' THEN UPDATE SET "person_id" = s."person_id",',
    );
    expect(sql).to.not.contain('"team_id" = s."team_id",');
    expect(sql).to.contain('WHEN NOT MATCHED THEN INSERT ("team_id", "distinct_id", "person_id",');
  });

  it('a COPY must report every staged file LOADED with all the rows written', () => {
    const load = { folder: 'bx/r1/1-ab/', files: ['part-0.jsonl.gz', 'part-1.jsonl.gz'], records: 5 };
    const loaded = (file: string, rows: number) => ({ file, status: 'LOADED', rows_loaded: rows });
    expect(() =>
      verifyCopy([loaded('bx/r1/1-ab/part-0.jsonl.gz', 3), loaded('bx/r1/1-ab/part-1.jsonl.gz', 2)], load),
    ).to.not.throw();
    expect(() => verifyCopy([{ status: 'Copy executed with 0 files processed.' }], load)).to.throw(
      'part-0.jsonl.gz was not loaded; part-1.jsonl.gz was not loaded',
    );
    expect(() =>
      verifyCopy([loaded('bx/r1/1-ab/part-0.jsonl.gz', 3), loaded('bx/r1/1-ab/part-1.jsonl.gz', 1)], load),
    ).to.throw('4 rows loaded, 5 written');
    expect(() =>
      verifyCopy(
        [
          loaded('bx/r1/1-ab/part-0.jsonl.gz', 3),
          { file: 'bx/r1/1-ab/part-1.jsonl.gz', status: 'PARTIALLY_LOADED', first_error: 'bad' },
        ],
        load,
      ),
    ).to.throw('part-1.jsonl.gz is PARTIALLY_LOADED: bad');
  });
});
