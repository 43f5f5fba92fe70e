import { expect } from 'chai';
import { PostgresDestination, readBackPostgres } from '@bx/destination-postgres';
import { asRows, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext } from '../helpers/run-context';

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);

/**
 * An existing table may keep timestamps at a lower precision than the
 * microseconds of a DateTime64(6) source (`timestamptz(0)`, `timestamp(3)`).
 * PostgreSQL rounds a value to the column's precision on the way in, also in
 * a binary COPY: 10:59:59.6 became 11:00:00, in the next interval, whose run
 * deleted it as a row of an earlier load of its own. And `npm run verify`
 * rounded a row's instant to milliseconds: 10:59:59.999999 counted in the
 * next interval, both intervals MISMATCH.
 */
describe('Postgres destination: rows of the last instants of an interval', function () {
  this.timeout(60_000);
  let pg: TestPostgres;

  const first = { start: at('2024-01-01T10:00:00Z'), end: at('2024-01-01T11:00:00Z') };
  const second = { start: first.end, end: first.end + HOUR };
  const inFirst: SourceEvent[] = [
    makeEvent({ inserted_at: '2024-01-01 10:30:00.25' }),
    makeEvent({ inserted_at: '2024-01-01 10:59:59.6' }),
    makeEvent({ inserted_at: '2024-01-01 10:59:59.999999', timestamp: '2024-01-01 10:59:59.9996' }),
  ];
  const inSecond: SourceEvent[] = [
    makeEvent({ inserted_at: '2024-01-01 11:00:00' }),
    makeEvent({ inserted_at: '2024-01-01 11:00:00.4' }),
  ];
  const write = (span: { start: number; end: number }, events: SourceEvent[]) =>
    new PostgresDestination(pg.config({ table_name: 'coarse' })).write(
      rowBatches(asRows(events), 2),
      runContext(span, new MemoryRunState()),
    );

  before(async () => {
    pg = await new TestPostgres().setup();
  });
  after(async () => {
    await pg.drop();
  });

  it('an existing table of fewer digits: each row in its own interval (cut), the next run deleting none', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."coarse" (
      "uuid" text, "event" text, "properties" jsonb, "distinct_id" text, "team_id" bigint,
      "timestamp" timestamp(3), "created_at" timestamptz(0), "inserted_at" timestamptz(0),
      "elements_chain" text, "person_id" text, "person_properties" jsonb)`);
    await write(first, inFirst);
    await write(second, inSecond);
    // A retry of the second interval (the reconciler's repair, a manual retry) deletes none of the first's either.
    await write(second, inSecond);

    const { rows } = await pg.admin.query<{ uuid: string; ins: string; ts: string }>(
      `SELECT "uuid", to_char("inserted_at" AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS ins,
              to_char("timestamp", 'HH24:MI:SS.US') AS ts
         FROM "${pg.schema}"."coarse"`,
    );
    const held = new Map(rows.map((r) => [r.uuid, r]));
    expect([...held.keys()].sort()).to.deep.equal([...inFirst, ...inSecond].map((e) => e.uuid).sort());
    expect(inFirst.map((e) => held.get(e.uuid)!.ins)).to.deep.equal([
      '10:30:00.000000',
      '10:59:59.000000',
      '10:59:59.000000',
    ]);
    expect(held.get(inFirst[2]!.uuid)!.ts).to.equal('10:59:59.999000');
    expect(inSecond.map((e) => held.get(e.uuid)!.ins)).to.deep.equal(['11:00:00.000000', '11:00:00.000000']);
    // npm run verify's read-back counts each interval's rows where its run put them.
    const read = await readBackPostgres(pg.config({ table_name: 'coarse' }), {
      exportId: 'e1',
      teamId: 1,
      spans: [first, second],
    });
    expect([read.get(first.start)?.records, read.get(second.start)?.records]).to.deep.equal([3, 2]);
  });

  it('verify reads a row of the last microsecond of an interval back in that interval', async () => {
    // The table the destination creates: timestamptz, microseconds (a DateTime64(6) source).
    const config = pg.config({ table_name: 'fine' });
    const last = [makeEvent({ inserted_at: '2024-01-01 10:59:59.999999' })];
    const next = [makeEvent({ inserted_at: '2024-01-01 11:00:00' })];
    await new PostgresDestination(config).write(rowBatches(asRows(last), 1), runContext(first, new MemoryRunState()));
    await new PostgresDestination(config).write(rowBatches(asRows(next), 1), runContext(second, new MemoryRunState()));
    const read = await readBackPostgres(config, { exportId: 'e1', teamId: 1, spans: [first, second] });
    expect([read.get(first.start)?.records, read.get(second.start)?.records]).to.deep.equal([1, 1]);
  });
});
