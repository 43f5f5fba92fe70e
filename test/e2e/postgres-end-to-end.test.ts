import { expect } from 'chai';
import { createServer, type AddressInfo } from 'node:net';
import type { Run } from '@bx/core';
import { createReceiptsTableSql } from '@bx/destination-postgres';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { TestClickHouse } from '../helpers/clickhouse';
import { testEnv, uniqueName } from '../helpers/env';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { TestPostgres, byUuid, storedRow } from '../helpers/postgres';
import { ServiceProcess, eventually } from '../helpers/processes';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const HOUR = 3_600_000;
const TOKEN = 'e2e-token-0123456789abcdef';

/**
 * The whole system into the real PostgreSQL server: API, scheduler and worker
 * processes, ClickHouse 18.16, each export writing a table of its own in a
 * schema of the test's. The processes are shared by the tests, which run in order.
 */
describe('end to end: API → scheduler → worker → ClickHouse 18.16 → PostgreSQL', function () {
  this.timeout(120_000);
  const hours = 3;
  const base = Math.floor(Date.now() / HOUR) * HOUR - hours * HOUR;
  let ch: TestClickHouse;
  let pg: TestPostgres;
  let store: Store;
  let queue: BullMqRunQueue;
  let prefix: string;
  let port: number;
  const services: ServiceProcess[] = [];
  const events: SourceEvent[] = [];

  before(async () => {
    for (let h = 0; h < hours; h++) {
      const start = base + h * HOUR;
      const at = (ms: number) => chTime(new Date(ms).toISOString());
      // Each interval's first and last second, the next one's first (in the next interval), 100 KB of properties.
      events.push(makeEvent({ inserted_at: at(start) }), makeEvent({ inserted_at: at(start + HOUR - 1000) }));
      events.push(
        makeEvent({ inserted_at: at(start + 1800_000), properties: JSON.stringify({ big: 'x'.repeat(100_000) }) }),
      );
      for (let i = 0; i < 30; i++) events.push(makeEvent({ inserted_at: at(start + 60_000 + i * 97_000) }));
      events.push(makeEvent({ team_id: 2, inserted_at: at(start + 60_000) }));
    }
    ch = await new TestClickHouse().setup();
    await ch.insert(events);
    pg = await new TestPostgres().setup();
    prefix = uniqueName('bxpg');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 5, backoffMs: 200 });
    port = await freePort();
    const env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
      RUN_BACKOFF_MS: '200',
    };
    for (const [role, extra, ready] of [
      ['api', { PORT: String(port) }, 'api listening'],
      ['scheduler', {}, 'scheduler started'],
      ['worker', {}, 'worker started'],
    ] as const) {
      const service = new ServiceProcess(role, { ...env, ...extra });
      services.push(service);
      await service.waitForLog(ready);
    }
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await dropStoreAndQueue(store, queue, prefix);
    await Promise.all([ch.drop(), pg.drop()]);
  });

  async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as T };
  }

  async function createExport(table: string, config: Record<string, unknown> = {}): Promise<string> {
    const { status, body } = await api<{ id: string; destination: { config: Record<string, unknown> } }>(
      'POST',
      '/api/exports',
      {
        name: table,
        team_id: 1,
        interval: 'hour',
        start_at: new Date(base).toISOString(),
        // Exactly the seeded hours, also when the clock passes an hour mid-test.
        end_at: new Date(base + hours * HOUR).toISOString(),
        destination: { type: 'Postgres', config: { ...pg.config({ table_name: table }), ...config } },
      },
    );
    expect(status).to.equal(201);
    expect(body.destination.config).to.not.have.property('password');
    return body.id;
  }

  async function runs(exportId: string, count: number, status: Run['status'] = 'Completed'): Promise<Run[]> {
    return eventually(
      async () => {
        const list = (await api<{ results: Run[] }>('GET', `/api/exports/${exportId}/runs`)).body.results;
        const failed = list.find((r) => r.status === 'Failed' && status !== 'Failed');
        if (failed) throw new Error(`run failed: ${failed.error}`);
        return list.length >= count && list.every((r) => r.status === status) ? list : undefined;
      },
      60_000,
      `${count} ${status} runs of ${exportId}`,
    );
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
      async () => ((await store.runs.get(latest!.id))?.attempts === 2 && (await runs(id, hours)) ? true : undefined),
      60_000,
      'the retried run to complete',
    );
    await expectTable('events_e2e');

    const backfill = await api<{ id: string; total_runs: number }>('POST', `/api/exports/${id}/backfills`, {
      start_at: new Date(base).toISOString(),
      end_at: new Date(base + hours * HOUR).toISOString(),
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
    const logs = services.flatMap((s) => s.logs.map((l) => JSON.stringify(l))).join('\n');
    expect(logs).to.contain('postgres interval loaded').and.not.contain(`"password"`);
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
    const stored = (await store.redis.get(`${prefix}:export:${id}`))!;
    expect(stored).to.not.contain(password);
    expect(JSON.parse(stored).destination.config.password).to.match(/^bxenc:v1:/);
    const logs = services.map((s) => s.logs.map((l) => JSON.stringify(l)).join('\n') + s.stderr.join('')).join('\n');
    expect(logs).to.contain(id).and.not.contain(password).and.not.contain('not-the-password');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
