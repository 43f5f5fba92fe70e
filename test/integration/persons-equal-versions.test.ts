import { expect } from 'chai';
import fs from 'node:fs';
import type { BatchFormat, DestinationWriter } from '@bx/batch';
import { ClickHouseSource } from '@bx/clickhouse';
import { modelSchema } from '@bx/core';
import { PostgresDestination } from '@bx/destination-postgres';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { personsModel } from '@bx/model-persons';
import { testEnv } from '../helpers/env';
import { I0, I1 } from '../helpers/person-scenarios';
import { TestPersons, type MappingRow, type PersonRow } from '../helpers/persons';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext, sourceConfig } from '../helpers/run-context';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';

type Span = { start: number; end: number };
const MODEL = modelSchema(personsModel);
const format = personsModel.format() as BatchFormat;

const KNOWN = '30000000-0000-4000-8000-000000000001';
const LATE = '30000000-0000-4000-8000-000000000002';
const at = (hhmm: string) => `2024-03-01 ${hhmm}:00`;
const person = (id: string, ts: string, name: string): PersonRow => ({
  id,
  team_id: 1,
  properties: JSON.stringify({ name }),
  is_identified: 0,
  is_deleted: 0,
  version: 0,
  created_at: '2024-02-01 00:00:00',
  _timestamp: at(ts),
});
const mapping = (distinctId: string, personId: string, ts: string): MappingRow => ({
  team_id: 1,
  distinct_id: distinctId,
  person_id: personId,
  is_deleted: 0,
  version: 0,
  _timestamp: at(ts),
});

/**
 * The contract's rule for table destinations: a stored person row changes
 * only where person_version or person_distinct_id_version is higher. Two
 * records of the same versions arrive in I0 and I1:
 * - `known`: its person's row at version 0 is written again in I1 with
 *   other properties (a replay): the stored row stays as it is;
 * - `late`: mapped in I0 before its person has a row (the placeholder `{}`,
 *   version 0, created_at null); the person's first row (version 0 too)
 *   arrives in I1 and replaces the placeholder, which a re-run of I0 never
 *   brings back.
 */
describe('persons into table destinations: equal versions change nothing but a placeholder', function () {
  this.timeout(60_000);
  let ch: TestPersons;
  let source: ClickHouseSource;

  before(async () => {
    ch = await new TestPersons().setup();
    await ch.insert({ persons: [person(KNOWN, '09:00', 'first')], mappings: [mapping('known', KNOWN, '09:00')] });
    await ch.insert({ mappings: [mapping('late', LATE, '09:30')] });
    await ch.insert({ persons: [person(KNOWN, '10:30', 'replayed'), person(LATE, '10:20', 'arrived')] });
    source = new ClickHouseSource({
      url: testEnv.CLICKHOUSE_URL,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
    });
  });
  after(async () => {
    await source.close();
    await ch.drop();
  });

  let runs = 0;
  const load = (writer: DestinationWriter, span: Span) => {
    const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...span });
    const batches = source.batches(query, undefined, { format, reuseBuffers: true });
    return writer.write(batches, { ...runContext(span, new MemoryRunState(), MODEL), runId: `r${++runs}` });
  };

  /** What each distinct_id's row holds: its name, whether it has a person, when it was ingested. */
  const EXPECTED = [
    { distinct_id: 'known', name: 'first', created: true, inserted_at: '2024-03-01T09:00:00.000Z' },
    { distinct_id: 'late', name: 'arrived', created: true, inserted_at: '2024-03-01T10:20:00.000Z' },
  ];
  const summary = (rows: Array<Record<string, unknown>>) =>
    rows
      .map((r) => ({
        distinct_id: r.distinct_id,
        name: (r.properties as { name?: string }).name,
        created: r.created_at !== null,
        inserted_at: new Date(r._inserted_at as string | Date).toISOString(),
      }))
      .sort((a, b) => String(a.distinct_id).localeCompare(String(b.distinct_id)));

  it('the source does export both records again in I1, at the same versions', async () => {
    const query = personsModel.query({ config: sourceConfig(ch.database), teamId: 1, ...I1 });
    const rows = await ch.client.query({
      query: query.sql,
      format: 'TabSeparated',
      clickhouse_settings: query.settings,
    });
    const lines = (await rows.text()).trim().split('\n').sort();
    expect(lines.map((l) => l.split('\t').slice(1, 6))).to.deep.equal([
      ['known', KNOWN, '{"name":"replayed"}', '0', '0'],
      ['late', LATE, '{"name":"arrived"}', '0', '0'],
    ]);
  });

  describe('Postgres', () => {
    let pg: TestPostgres;
    before(async () => {
      pg = await new TestPostgres().setup();
    });
    after(() => pg.drop());
    const stored = async (table: string) =>
      summary((await pg.admin.query(`SELECT * FROM "${pg.schema}"."${table}"`)).rows);

    it('I0 then I1, then I0 again: the replay changes nothing, the placeholder is replaced once', async () => {
      const sut = () => new PostgresDestination(pg.config({ table_name: 'in_order' }));
      await load(sut(), I0);
      expect((await stored('in_order')).map((r) => [r.distinct_id, r.created])).to.deep.equal([
        ['known', true],
        ['late', false],
      ]);
      await load(sut(), I1);
      expect(await stored('in_order')).to.deep.equal(EXPECTED);
      await load(sut(), I0);
      expect(await stored('in_order')).to.deep.equal(EXPECTED);
    });
  });

  describe('Snowflake (test bed)', () => {
    const local = tmpDir();
    let server: SnowflakeServer;
    before(async () => {
      server = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    });
    after(async () => {
      await server.close();
      fs.rmSync(local, { recursive: true, force: true });
    });
    const stored = () => summary(server.rows('ANALYTICS.PUBLIC.persons'));

    it('I0 then I1, then I0 again: the replay changes nothing, the placeholder is replaced once', async () => {
      const sut = () => new SnowflakeDestination(snowflakeConfig(server, { table_name: 'persons' }), { tmpDir: local });
      await load(sut(), I0);
      expect(stored().map((r) => [r.distinct_id, r.created])).to.deep.equal([
        ['known', true],
        ['late', false],
      ]);
      await load(sut(), I1);
      expect(stored()).to.deep.equal(EXPECTED);
      await load(sut(), I0);
      expect(stored()).to.deep.equal(EXPECTED);
    });
  });
});
