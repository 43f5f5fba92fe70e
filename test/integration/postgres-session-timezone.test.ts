import { expect } from 'chai';
import type { BatchFormat, RunContext } from '@bx/batch';
import { FieldBatch } from '@bx/batch';
import { modelSchema } from '@bx/core';
import { PostgresDestination, readBackPostgres } from '@bx/destination-postgres';
import { personsModel } from '@bx/model-persons';
import { asRows, makeEvent, rowBatches } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext } from '../helpers/run-context';

const MODEL = modelSchema(personsModel);
const format = personsModel.format() as BatchFormat;
const span = { start: Date.parse('2024-03-01T10:00:00Z'), end: Date.parse('2024-03-01T11:00:00Z') };

/**
 * The login's own settings are the session's: a role (or database) whose
 * TimeZone is America/New_York, as `ALTER ROLE ... SET timezone` or the
 * server's postgresql.conf may have it. A `timestamp` column (without time
 * zone) of an existing table holds the UTC wall clock, whatever the
 * session's zone (README: the events table), for every model: the persons
 * upsert's INSERT from its timestamptz staging table converted in the
 * session's zone, 10:20 UTC stored as 05:20. And `npm run verify` read each
 * row's instant as a float8, which such a login gets printed to 12
 * significant digits: 10:59:59.999 counted in the next interval.
 */
describe('Postgres destination: a login whose session settings are not the defaults', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  let login: { user: string; password: string };

  before(async () => {
    pg = await new TestPostgres().setup();
    login = await pg.role((name) => [
      `GRANT ALL ON SCHEMA "${pg.schema}" TO "${name}"`,
      `ALTER ROLE "${name}" SET timezone = 'America/New_York'`,
      // Floats printed to 12 significant digits: an epoch in ms has 13.
      `ALTER ROLE "${name}" SET extra_float_digits = -3`,
    ]);
  });
  after(async () => {
    await pg.drop();
  });

  const ctx = (model?: RunContext['model']): RunContext => runContext(span, new MemoryRunState(), model);
  const wallClock = async (table: string, columns: string[]) => {
    const list = columns.map((c) => `to_char("${c}", 'YYYY-MM-DD HH24:MI:SS') AS "${c}"`).join(', ');
    return (await pg.admin.query(`SELECT ${list} FROM "${pg.schema}"."${table}"`)).rows;
  };

  it('persons: the timestamp columns of an existing table hold the UTC wall clock', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."persons" (
      team_id bigint, distinct_id text, person_id text, properties jsonb, person_version numeric,
      person_distinct_id_version bigint, created_at timestamp, is_deleted boolean, _inserted_at timestamp,
      PRIMARY KEY (team_id, distinct_id))`);
    await pg.admin.query(`GRANT ALL ON "${pg.schema}"."persons" TO "${login.user}"`);
    const batch = FieldBatch.fromValues(format, [
      {
        team_id: 1,
        distinct_id: 'd1',
        person_id: 'p1',
        properties: '{}',
        person_version: 1n,
        person_distinct_id_version: 1,
        created_at: '2024-02-29 23:30:00',
        is_deleted: 0,
        _inserted_at: '2024-03-01 10:20:00',
      },
    ]);
    async function* batches() {
      yield batch;
    }
    await new PostgresDestination(pg.config({ table_name: 'persons', ...login })).write(batches(), ctx(MODEL));
    expect(await wallClock('persons', ['created_at', '_inserted_at'])).to.deep.equal([
      { created_at: '2024-02-29 23:30:00', _inserted_at: '2024-03-01 10:20:00' },
    ]);
  });

  it('events: the same (the binary COPY sends instants; the interval is cut in UTC)', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."events" (
      "uuid" text, "event" text, "properties" jsonb, "distinct_id" text, "team_id" bigint,
      "timestamp" timestamp, "created_at" timestamp, "inserted_at" timestamp,
      "elements_chain" text, "person_id" text, "person_properties" jsonb)`);
    await pg.admin.query(`GRANT ALL ON "${pg.schema}"."events" TO "${login.user}"`);
    const event = makeEvent({ inserted_at: '2024-03-01 10:59:59', timestamp: '2024-02-29 23:30:00' });
    const write = () =>
      new PostgresDestination(pg.config({ table_name: 'events', ...login })).write(
        rowBatches(asRows([event]), 1),
        ctx(),
      );
    await write();
    await write();
    expect(await wallClock('events', ['timestamp', 'inserted_at'])).to.deep.equal([
      { timestamp: '2024-02-29 23:30:00', inserted_at: '2024-03-01 10:59:59' },
    ]);
  });

  it('verify: each row read back in its own interval, whatever extra_float_digits', async () => {
    const config = pg.config({ table_name: 'events_floats', ...login });
    const next = { start: span.end, end: span.end + 3_600_000 };
    const rows = (at: string) => rowBatches(asRows([makeEvent({ inserted_at: at })]), 1);
    await new PostgresDestination(config).write(rows('2024-03-01 10:59:59.999'), ctx());
    await new PostgresDestination(config).write(rows('2024-03-01 11:00:00'), runContext(next, new MemoryRunState()));
    const read = await readBackPostgres(config, { exportId: 'e1', teamId: 1, spans: [span, next] });
    expect([read.get(span.start)?.records, read.get(next.start)?.records]).to.deep.equal([1, 1]);
  });
});
