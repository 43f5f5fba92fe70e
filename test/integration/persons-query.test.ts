import { expect } from 'chai';
import { ClickHouseSource, decodeRowBinary } from '@bx/clickhouse';
import type { SourceQuery } from '@bx/core';
import { personsModel } from '@bx/model-persons';
import type { BatchFormat } from '@bx/batch';
import type { ChdbSession } from '../modern-engine/chdb';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  byDistinctId,
  EXPECTED,
  I0,
  I1,
  I2,
  scenarioChdb,
  scenarioSource,
  type PersonRecord,
} from '../helpers/person-scenarios';
import { TestPersons, type MappingRow, type PersonRow } from '../helpers/persons';
import { queryLogEntry, testClickHouseSource } from '../helpers/clickhouse';
import { sourceConfig } from '../helpers/run-context';

const format = personsModel.format() as BatchFormat;
const query = (database: string, span: { start: number; end: number }, teamId = 1): SourceQuery =>
  personsModel.query({ config: sourceConfig(database), teamId, start: span.start, end: span.end });

/** Records of a batch's JSON Lines, parsed. */
const parse = (lines: Buffer): PersonRecord[] =>
  lines
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as PersonRecord);

describe('persons query on the real ClickHouse 18.16 server', function () {
  this.timeout(60_000);
  let ch: TestPersons;
  let sut: ClickHouseSource;

  async function exported(span: { start: number; end: number }, teamId = 1): Promise<PersonRecord[]> {
    const records: PersonRecord[] = [];
    for await (const batch of sut.batches(query(ch.database, span, teamId), undefined, { format })) {
      records.push(...parse(batch.records()));
    }
    return records.sort(byDistinctId);
  }

  before(async () => {
    ({ ch, source: sut } = await scenarioSource());
  });
  after(async () => {
    await sut.close();
    await ch.drop();
  });

  it('exports each distinct_id whose mapping or current person changed, once, with the latest of both', async () => {
    expect(await exported(I0)).to.deep.equal(EXPECTED.I0);
    expect(await exported(I1)).to.deep.equal(EXPECTED.I1);
  });

  it('exports a distinct_id again when its person arrives, and ignores rows after the interval', async () => {
    expect(await exported(I2)).to.deep.equal(EXPECTED.I2);
  });

  it('finds the latest versions in merged parts as in unmerged ones (no FINAL)', async () => {
    const id = '30000000-0000-4000-8000-000000000001';
    const row = (version: number, ts: string): PersonRow => ({
      id,
      team_id: 5,
      properties: JSON.stringify({ v: version }),
      is_identified: 0,
      is_deleted: 0,
      version,
      created_at: '2024-03-01 09:00:00',
      _timestamp: `2024-03-01 ${ts}`,
    });
    const pdi: MappingRow = {
      team_id: 5,
      distinct_id: 'z',
      person_id: id,
      is_deleted: 0,
      version: 0,
      _timestamp: '2024-03-01 09:00:00',
    };
    await ch.insert({ persons: [row(2, '10:20:00')], mappings: [pdi] });
    await ch.insert({ persons: [row(1, '10:30:00')] });
    await ch.insert({ persons: [row(3, '10:10:00')] });
    const unmerged = await exported(I1, 5);
    expect(unmerged.map((r) => [r.distinct_id, r.person_version, r.properties])).to.deep.equal([['z', 3, { v: 3 }]]);
    await ch.optimize();
    expect(await exported(I1, 5)).to.deep.equal(unmerged);
  });

  it('of rows with equal versions takes the one written last (latest _timestamp), merged or not', async () => {
    // ReplacingMergeTree keeps the last row written of equal versions; argMax by version alone kept
    // whichever it read first, the earlier row of a part: before the merge the run exported the old
    // mapping and properties, after it the new ones.
    const [p1, p2] = ['31000000-0000-4000-8000-000000000001', '31000000-0000-4000-8000-000000000002'];
    const person = (id: string, name: string, ts: string): PersonRow => ({
      id,
      team_id: 6,
      properties: JSON.stringify({ name }),
      is_identified: 0,
      is_deleted: 0,
      version: 4,
      created_at: '2024-03-01 09:00:00',
      _timestamp: `2024-03-01 ${ts}`,
    });
    const mapping = (person_id: string, ts: string): MappingRow => ({
      team_id: 6,
      distinct_id: 'tie',
      person_id,
      is_deleted: 0,
      version: 7,
      _timestamp: `2024-03-01 ${ts}`,
    });
    // In one insert (one part) and across parts: the later row second.
    await ch.insert({
      persons: [person(p1, 'old', '10:05:00'), person(p1, 'new', '10:06:00')],
      mappings: [mapping(p2, '10:05:00')],
    });
    await ch.insert({ persons: [person(p2, 'old', '10:05:00')], mappings: [mapping(p1, '10:07:00')] });
    await ch.insert({ persons: [person(p2, 'newer', '10:08:00')] });
    const unmerged = await exported(I1, 6);
    expect(unmerged.map((r) => [r.distinct_id, r.person_id, r.properties, r._inserted_at])).to.deep.equal([
      ['tie', p1, { name: 'new' }, '2024-03-01T10:07:00+00:00'],
    ]);
    await ch.optimize();
    expect(await exported(I1, 6)).to.deep.equal(unmerged);
  });

  it("keeps to the team's own rows", async () => {
    const team2 = await exported(I1, 2);
    expect(team2.map((r) => [r.distinct_id, r.properties])).to.deep.equal([['a', { name: 'team 2' }]]);
    expect(await exported({ start: I1.start - 3_600_000, end: I1.start }, 3)).to.deep.equal([]);
  });
});

describe('persons query reads only the persons in question (18.16, query_log)', function () {
  this.timeout(120_000);
  const TEAM = 7;
  const PERSONS = 4000;
  const PROPERTIES = { blob: 'x'.repeat(2000) };
  let ch: TestPersons;
  let source: ClickHouseSource;

  before(async () => {
    // 64 rows a mark: few persons of a large team in a granule each, as 8192 rows a mark on millions of persons.
    ch = await new TestPersons().setup(64);
    const id = (i: number) => `20000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const persons: PersonRow[] = [];
    const mappings: MappingRow[] = [];
    for (let i = 0; i < PERSONS; i++) {
      persons.push(personRow(id(i), 0, '2024-03-01 09:00:00'));
      for (const n of [0, 1]) mappings.push(mappingRow(`user-${i}-${n}`, id(i), 0, '2024-03-01 09:00:00'));
    }
    // In the interval: three persons change, three distinct_ids move.
    for (const i of [10, 2000, 3999]) persons.push(personRow(id(i), 1, '2024-03-01 10:30:00'));
    for (const i of [20, 1500, 3000]) mappings.push(mappingRow(`user-${i}-0`, id(i + 1), 1, '2024-03-01 10:30:00'));
    await ch.insert({ persons, mappings });
    source = testClickHouseSource();
  });
  after(async () => {
    await source.close();
    await ch.drop();
  });

  function personRow(id: string, version: number, ts: string): PersonRow {
    const properties = JSON.stringify(PROPERTIES);
    return { id, team_id: TEAM, properties, is_identified: 0, is_deleted: 0, version, created_at: ts, _timestamp: ts };
  }
  function mappingRow(distinctId: string, personId: string, version: number, ts: string): MappingRow {
    return { team_id: TEAM, distinct_id: distinctId, person_id: personId, is_deleted: 0, version, _timestamp: ts };
  }

  /** Bytes the query read, from system.query_log. */
  async function readBytes(sql: SourceQuery): Promise<{ records: number; bytes: number }> {
    const queryId = randomUUID();
    let records = 0;
    const settings = { ...sql.settings, log_queries: 1, query_id: queryId };
    for await (const batch of source.batches({ ...sql, settings }, undefined, { format })) records += batch.count;
    return { records, bytes: (await queryLogEntry(ch.client, queryId)).readBytes };
  }

  it('reads a fraction of the bytes of the team person table', async () => {
    const sut = await readBytes(query(ch.database, I1, TEAM));
    // Three changed persons × two distinct_ids, and three moved distinct_ids.
    expect(sut.records).to.equal(9);
    const propertiesBytes = PERSONS * JSON.stringify(PROPERTIES).length;
    expect(sut.bytes).to.be.below(propertiesBytes / 10);
    // What reading the team's history (latest version of every person) costs, for scale.
    const whole = await readBytes({
      sql:
        `SELECT toInt64(team_id), '', toString(id), argMax(properties, version), toUInt64(0), toInt64(0), NULL,` +
        ` toInt64(0), toString(max(_timestamp)) FROM ${ch.database}.person WHERE team_id = ${TEAM} GROUP BY team_id, id`,
    });
    expect(whole.records).to.equal(PERSONS);
    expect(whole.bytes).to.be.above(propertiesBytes);
  });
});

describe('persons query on a modern engine (chdb, DateTime64(6) created_at)', () => {
  let dir: string;
  let session: ChdbSession;

  before(() => {
    ({ session, dir } = scenarioChdb('bx-chdb-persons-'));
  });
  after(() => {
    session.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  async function exported(span: { start: number; end: number }): Promise<PersonRecord[]> {
    const { sql, settings } = query('posthog', span);
    const clause = Object.entries(settings ?? {})
      .map(([name, value]) => `${name} = ${value}`)
      .join(', ');
    const out = await session.queryAsync(`${sql}\nSETTINGS ${clause}\nFORMAT RowBinary`, { format: 'RowBinary' });
    return parse(decodeRowBinary(Buffer.from(out.bytes()), format).records()).sort(byDistinctId);
  }

  it('selects the same records, created_at with microseconds', async () => {
    const micros = (records: readonly PersonRecord[]) =>
      records.map((r) => (r.created_at ? { ...r, created_at: r.created_at.replace('+', '.000000+') } : r));
    expect(await exported(I0)).to.deep.equal(micros(EXPECTED.I0));
    expect(await exported(I1)).to.deep.equal(micros(EXPECTED.I1));
    expect(await exported(I2)).to.deep.equal(micros(EXPECTED.I2));
  });

  it('writes created_at and _inserted_at in UTC when the columns are in another zone (Asia/Kolkata, +05:30)', async () => {
    // They were written as Kolkata's wall clock labelled +00:00: 5 h 30 min late.
    session.query('CREATE DATABASE IF NOT EXISTS kolkata');
    session.query(`CREATE TABLE kolkata.person (id UUID, team_id Int64, properties String, is_identified Int8,
      is_deleted Int8, version UInt64, created_at DateTime64(6, 'Asia/Kolkata'), _timestamp DateTime('Asia/Kolkata'))
      ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, id)`);
    session.query(`CREATE TABLE kolkata.person_distinct_id2 (team_id Int64, distinct_id String, person_id UUID,
      is_deleted Int8, version Int64, _timestamp DateTime('Asia/Kolkata'))
      ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, distinct_id)`);
    const id = '20000000-0000-4000-8000-000000000001';
    const at = (iso: string) => Date.parse(iso) / 1000;
    session.query(`INSERT INTO kolkata.person VALUES ('${id}', 1, '{}', 0, 0, 3,
      toDateTime64('2024-02-29 23:59:59.123456', 6, 'UTC'), toDateTime(${at('2024-03-01T09:59:59Z')}))`);
    session.query(
      `INSERT INTO kolkata.person_distinct_id2 VALUES (1, 'k', '${id}', 0, 1, toDateTime(${at('2024-03-01T09:00:00Z')}))`,
    );
    const { sql, settings } = query('kolkata', I0);
    const clause = Object.entries(settings ?? {})
      .map(([name, value]) => `${name} = ${value}`)
      .join(', ');
    const out = await session.queryAsync(`${sql}\nSETTINGS ${clause}\nFORMAT RowBinary`, { format: 'RowBinary' });
    const [record] = parse(decodeRowBinary(Buffer.from(out.bytes()), format).records());
    expect([record!.distinct_id, record!.created_at, record!._inserted_at]).to.deep.equal([
      'k',
      '2024-02-29T23:59:59.123456+00:00',
      '2024-03-01T09:59:59+00:00',
    ]);
  });
});
