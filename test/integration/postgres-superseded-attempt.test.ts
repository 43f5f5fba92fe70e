import { expect } from 'chai';
import { RetryableError } from '@bx/core';
import { PostgresDestination } from '@bx/destination-postgres';
import { uniqueName } from '../helpers/env';
import { asRows, chTime, makeEvent, rowBatches } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { MemoryRunState, runContext } from '../helpers/run-context';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };

/**
 * An attempt whose worker was frozen past its lock (SIGSTOP, a paused VM) before it connected:
 * the later attempt that took the run over found no session of it to end, and completed. The
 * woken attempt then loads the interval too; it must not commit over the later attempt's rows.
 */
describe('Postgres destination: an attempt superseded by a later one', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  const events = Array.from({ length: 300 }, (_, i) =>
    makeEvent({ inserted_at: chTime(new Date(span.start + i * 11_000).toISOString()) }),
  );

  before(async () => {
    pg = await new TestPostgres().setup();
  });
  after(async () => pg.drop());

  it('does not commit once a later attempt has started: the later attempt’s rows stay', async () => {
    const latest = 3;
    const attempt = (n: number) =>
      Object.assign(new MemoryRunState(), { fresh: false, isLatest: async () => latest === n });
    // A run id of its own: a take-over ends the sessions named after its run (other suites use r1).
    const runId = uniqueName('run');
    const sut = new PostgresDestination(pg.config());
    const done = await sut.write(rowBatches(asRows(events), 100), { ...runContext(span, attempt(3)), runId });
    expect(done.records).to.equal(events.length);
    // Attempt 2 read the interval before a late part of it arrived: fewer rows.
    const err = await sut
      .write(rowBatches(asRows(events.slice(0, 50)), 100), { ...runContext(span, attempt(2)), runId })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as RetryableError).code).to.equal('Superseded');
    expect((await pg.rows()).length).to.equal(events.length);
  });
  it('a taken-over attempt ends no session: the later attempt’s load goes on', async () => {
    const runId = uniqueName('run');
    // The later attempt's session, named as a load of this run names its own.
    const later = await pg.session();
    await later.query(`SET application_name = 'bx ${runId}'`);
    const stale = Object.assign(new MemoryRunState(), { fresh: false, isLatest: async () => false });
    const sut = new PostgresDestination(pg.config());
    const err = await sut
      .write(rowBatches(asRows(events.slice(0, 10)), 100), { ...runContext(span, stale), runId })
      .catch((e: unknown) => e);
    expect((err as RetryableError).code).to.equal('Superseded');
    expect((await later.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
  });
});
