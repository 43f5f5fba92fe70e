import { expect } from 'chai';
import { createReceiptsTableSql } from '@bx/destination-postgres';
import { E2eSystem, seedHours } from '../helpers/e2e-system';
import { TestPostgres, byUuid, storedRow } from '../helpers/postgres';
import { eventually } from '../helpers/processes';

/**
 * The whole system into the real PostgreSQL server: API, scheduler and worker
 * processes, ClickHouse 18.16, each export writing a table of its own in a
 * schema of the test's. The processes are shared by the tests, which run in order.
 */
describe('end to end: API → scheduler → worker → ClickHouse 18.16 → PostgreSQL', function () {
  this.timeout(120_000);
  const sut = new E2eSystem({ prefix: 'bxpg' });
  const { base, hours } = sut;
  // Each interval's first and last second, 30 between, 100 KB of properties; team 2's event is not exported.
  const events = seedHours(base, hours, { bigProperties: true });
  let pg: TestPostgres;

  before(async () => {
    pg = await new TestPostgres().setup();
    await sut.start(events);
  });
  after(async () => {
    await sut.stop();
    await pg.drop();
  });

  const api = sut.api.bind(sut);
  const runs = sut.runs.bind(sut);
  async function createExport(table: string, config: Record<string, unknown> = {}): Promise<string> {
    const created = await sut.createExport(table, {
      type: 'Postgres',
      config: { ...pg.config({ table_name: table }), ...config },
    });
    expect(created.destination.config).to.not.have.property('password');
    return created.id;
  }

  /** The table holds exactly team 1's source events of the seeded hours, each once, field by field. */
  async function expectTable(table: string): Promise<void> {
    const expected = events.filter((e) => e.team_id === 1).map(storedRow);
    expect((await pg.rows(table)).sort(byUuid)).to.deep.equal(expected.sort(byUuid));
  }

  it('exports each interval exactly; a re-run and a forced backfill leave each event once', async () => {
    const id = await createExport('events_e2e');
    const test = await api<{ status: string }>('POST', `/api/exports/${id}/test`);
    expect(test.body.status).to.equal('ok');
    const done = await runs(id, hours);
    for (const run of done) expect(run).to.deep.include({ records_completed: 33, attempts: 1, files: [] });
    await expectTable('events_e2e');

    const [latest] = done;
    // 409 while the worker still holds the finished run's job (a moment, under load).
    await eventually(
      async () =>
        (await api('POST', `/api/exports/${id}/runs/${latest!.id}/retry`)).status === 202 ? true : undefined,
      30_000,
      'the retry to be accepted',
    );
    await eventually(
      async () =>
        (await sut.store.runs.get(latest!.id))?.attempts === 2 && (await runs(id, hours)) ? true : undefined,
      60_000,
      'the retried run to complete',
    );
    await expectTable('events_e2e');

    const backfill = await api<{ id: string; total_runs: number }>('POST', `/api/exports/${id}/backfills`, {
      start_at: new Date(base).toISOString(),
      end_at: new Date(sut.end).toISOString(),
      force: true,
    });
    expect(backfill.status).to.equal(201);
    expect(backfill.body.total_runs).to.equal(hours);
    await eventually(
      async () => {
        const b = await api<{ status: string }>('GET', `/api/exports/${id}/backfills/${backfill.body.id}`);
        return b.body.status === 'Completed' ? true : undefined;
      },
      60_000,
      'the forced backfill to complete',
    );
    await expectTable('events_e2e');
    expect(sut.logs()).to.contain('postgres interval loaded').and.not.contain(`"password"`);
  });

  it('a refused login fails the run permanently; the test endpoint says why', async () => {
    const id = await createExport('events_refused', { password: 'not-the-password' });
    const test = await api<{ status: string; code: string; retryable: boolean }>('POST', `/api/exports/${id}/test`);
    expect(test.body).to.deep.include({ status: 'error', code: 'AuthenticationFailed', retryable: false });
    const failed = await runs(id, 1, 'Failed');
    expect(failed[0]).to.deep.include({ attempts: 1 });
    expect(failed[0]!.error).to.contain('28P01');
  });

  it('the password is sealed at rest, never returned and never logged', async () => {
    // The schema's receipts table (made by the other exports' runs, or here) belongs to the superuser.
    await pg.admin.query(createReceiptsTableSql(pg.schema));
    const { user, password } = await pg.role((u) => [
      `GRANT USAGE, CREATE ON SCHEMA "${pg.schema}" TO "${u}"`,
      `GRANT SELECT, INSERT, UPDATE ON "${pg.schema}"."batch_export_receipts" TO "${u}"`,
    ]);
    const id = await createExport('events_role', { user, password });
    expect((await api<{ status: string }>('POST', `/api/exports/${id}/test`)).body.status).to.equal('ok');
    await runs(id, hours);
    await expectTable('events_role');
    const renamed = await api('PATCH', `/api/exports/${id}`, { destination: { config: { password } } });
    expect(renamed.status).to.equal(200);
    const shown = [
      renamed.body,
      (await api('GET', `/api/exports/${id}`)).body,
      (await api('GET', '/api/exports')).body,
      (await api('GET', `/api/exports/${id}/runs`)).body,
    ].map((b) => JSON.stringify(b));
    expect(shown[1]).to.contain(user);
    for (const body of shown) expect(body).to.not.contain(password);
    // What redis-cli GET <prefix>:export:<id> (and the AOF) shows.
    const stored = (await sut.store.redis.get(`${sut.prefix}:export:${id}`))!;
    expect(stored).to.not.contain(password);
    expect(JSON.parse(stored).destination.config.password).to.match(/^bxenc:v1:/);
    expect(sut.logs(true)).to.contain(id).and.not.contain(password).and.not.contain('not-the-password');
  });
});
