import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { modelSchema, PermanentError, type ModelSourceConfig } from '@bx/core';
import type { DestinationWriter } from '@bx/batch';
import { readBackDestination } from '@bx/destinations';
import { eventsModel } from '@bx/model-events';
import { PostgresDestination } from '@bx/destination-postgres';
import { SnowflakeDestination } from '@bx/destination-snowflake';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { chTime, makeEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext, sourceConfig } from '../helpers/run-context';
import { byUuid, snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';

const HOUR = 3_600_000;
const ten = Date.parse('2024-01-01T10:00:00Z');
const at = (iso: string) => chTime(`2024-01-01T${iso}Z`);

/**
 * EVENTS_INTERVAL_COLUMN=timestamp: runs select by `timestamp`, so table
 * destinations must replace an interval's rows by `timestamp` too. They cut
 * on `inserted_at`: a re-run left a second copy of rows ingested after their
 * interval (or with no inserted_at), and a run deleted rows of other
 * intervals whose inserted_at fell in its own.
 */
const events = [
  makeEvent({ timestamp: at('10:10:00'), inserted_at: at('12:30:00') }), // late: in 10:00 by timestamp
  makeEvent({ timestamp: at('10:20:00'), inserted_at: null }), // no inserted_at: in 10:00 by timestamp
  makeEvent({ timestamp: at('09:30:00'), inserted_at: at('10:15:00') }), // in 09:00 by timestamp
  makeEvent({ timestamp: at('10:59:59'), inserted_at: at('10:59:59') }),
];
const inTen = [events[0]!, events[1]!, events[3]!].map((e) => e.uuid);

describe('EVENTS_INTERVAL_COLUMN=timestamp: table destinations replace intervals by that column', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  let pg: TestPostgres;
  let sf: SnowflakeServer;
  const local = tmpDir();
  let config: ModelSourceConfig;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(events);
    source = testClickHouseSource();
    pg = await new TestPostgres().setup();
    sf = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    config = { ...sourceConfig(ch.database, ch.table), EVENTS_INTERVAL_COLUMN: 'timestamp' };
  });
  after(async () => {
    await source.close();
    await ch.drop();
    await pg.drop();
    await sf.close();
  });

  /** The run of the hour from `start`, as the worker makes it: query and model from the configuration. */
  async function run(sut: DestinationWriter, start: number, cfg = config, runId = `r${start}`) {
    const input = { config: cfg, teamId: 1, start, end: start + HOUR };
    const ctx = {
      ...runContext({ start, end: start + HOUR }, new MemoryRunState(), modelSchema(eventsModel, cfg)),
      runId,
    };
    return sut.write(source.modelBatches(eventsModel, input), ctx);
  }

  const destinations: Array<[string, () => DestinationWriter, () => Promise<string[]>, () => unknown]> = [
    [
      'Postgres',
      () => new PostgresDestination(pg.config()),
      async () => (await pg.admin.query(`SELECT uuid FROM "${pg.schema}"."events"`)).rows.map((r) => r.uuid as string),
      () => ({ type: 'Postgres', config: pg.config() }),
    ],
    [
      'Snowflake',
      () => new SnowflakeDestination(snowflakeConfig(sf), { tmpDir: local }),
      async () =>
        sf
          .rows('ANALYTICS.PUBLIC.events')
          .sort(byUuid)
          .map((r) => r.uuid as string),
      () => ({ type: 'Snowflake', config: snowflakeConfig(sf) }),
    ],
  ];
  for (const [name, sut, stored, destination] of destinations) {
    it(`${name}: the 09:00 run, then the 10:00 run twice, leave each event once; verify reads them so`, async () => {
      expect((await run(sut(), ten - HOUR)).records).to.equal(1);
      expect((await run(sut(), ten)).records).to.equal(3);
      expect((await run(sut(), ten)).records).to.equal(3);
      const uuids = await stored();
      expect([...uuids].sort()).to.deep.equal([...inTen, events[2]!.uuid].sort());
      const read = await readBackDestination(destination() as Parameters<typeof readBackDestination>[0], {
        exportId: 'e1',
        teamId: 1,
        spans: [
          { start: ten - HOUR, end: ten },
          { start: ten, end: ten + HOUR },
        ],
        model: modelSchema(eventsModel, config),
      });
      expect([read.get(ten - HOUR)?.records, read.get(ten)?.records]).to.deep.equal([1, 3]);
    });
  }

  it('a column the record lacks fails the run permanently, naming it', async () => {
    const cfg = { ...config, EVENTS_INTERVAL_COLUMN: '_timestamp' };
    for (const [, sut] of destinations) {
      const err = await run(sut(), ten, cfg, 'bad').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(PermanentError);
      expect((err as Error).message)
        .to.contain('_timestamp')
        .and.contain('EVENTS_INTERVAL_COLUMN');
    }
  });
});
