import { expect } from 'chai';
import fs from 'node:fs';
import type { DestinationConfig } from '@bx/core';
import { E2eSystem, HOUR } from '../helpers/e2e-system';
import { TEST_SECRETS_KEY } from '../helpers/env';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { TestPostgres } from '../helpers/postgres';
import { eventually } from '../helpers/processes';
import { snowflakeConfig, startSnowflakeServer, tmpDir, type SnowflakeServer } from '../helpers/snowflake';
import { verifyCommand } from '../helpers/verify-command';

/**
 * Two exports of one team into one table, split by their event filters:
 * page views, and everything else. Each hourly run of either replaces its
 * own events of the interval only (the worker hands the destination the
 * export's filters); `npm run verify` reads back each export's own events
 * and matches every interval of both. Before, each run deleted the other
 * export's rows of its interval and verify counted them as its own.
 */
describe('end to end: two exports of one team into one table, split by event filters', function () {
  this.timeout(180_000);
  const sut = new E2eSystem({ prefix: 'bxshared', hours: 2 });
  const names = ['$pageview', '$autocapture', 'it\'s "q" \\ \0'];
  const events: SourceEvent[] = [];
  for (let h = 0; h < sut.hours; h++) {
    names.forEach((event, i) =>
      [0, 1].forEach((k) =>
        events.push(
          makeEvent({ inserted_at: chTime(new Date(sut.base + h * HOUR + (i * 2 + k) * 60_000).toISOString()), event }),
        ),
      ),
    );
  }
  let pg: TestPostgres;
  let sf: SnowflakeServer;
  const localFiles = tmpDir();

  before(async () => {
    [pg, sf] = await Promise.all([
      new TestPostgres().setup(),
      startSnowflakeServer({ account: 'testacct', users: { loader: 'loader-password' } }),
    ]);
    await sut.start(events, { TMPDIR: localFiles });
  });
  after(async () => {
    await sut.stop();
    await Promise.all([pg.drop(), sf.close()]);
    fs.rmSync(localFiles, { recursive: true, force: true });
  });

  const create = async (name: string, destination: DestinationConfig, filters: Record<string, string[]>) => {
    const { status, body } = await sut.api<{ id: string }>('POST', '/api/exports', {
      name,
      team_id: 1,
      interval: 'hour',
      start_at: new Date(sut.base).toISOString(),
      end_at: new Date(sut.end).toISOString(),
      destination,
      ...filters,
    });
    expect(status, JSON.stringify(body)).to.equal(201);
    return body.id;
  };
  const { env, verify: verifyArgs } = verifyCommand(() => sut);
  const verify = (id: string) =>
    verifyArgs(
      ['--export-id', id, '--start', new Date(sut.base).toISOString(), '--end', new Date(sut.end).toISOString()],
      { ...env(), SECRETS_ENCRYPTION_KEYS: TEST_SECRETS_KEY },
    );

  it('both complete every interval, verify matches both, the table holds every event once', async () => {
    const destinations: Record<string, DestinationConfig> = {
      pg: { type: 'Postgres', config: pg.config({ table_name: 'shared' }) },
      sf: { type: 'Snowflake', config: { ...snowflakeConfig(sf), table_name: 'shared' } },
    };
    const ids: string[] = [];
    for (const [name, destination] of Object.entries(destinations)) {
      ids.push(await create(`${name}-views`, destination, { include_events: ['$pageview'] }));
      ids.push(await create(`${name}-rest`, destination, { exclude_events: ['$pageview'] }));
    }
    for (const id of ids) await sut.runs(id, sut.hours);
    // Each interval of each export again, as a retry or the reconciler's repair would run it.
    type Listed = { id: string; status: string; attempts: number };
    const list = async (id: string) =>
      (await sut.api<{ results: Listed[] }>('GET', `/api/exports/${id}/runs`)).body.results;
    for (const id of ids) {
      for (const run of await list(id)) {
        expect((await sut.api('POST', `/api/exports/${id}/runs/${run.id}/retry`)).status).to.equal(202);
      }
    }
    for (const id of ids) {
      await eventually(
        async () => {
          const runs = await list(id);
          const failed = runs.find((r) => r.status === 'Failed');
          if (failed) throw new Error(`run failed: ${JSON.stringify(failed)}`);
          return runs.every((r) => r.status === 'Completed' && r.attempts >= 2) ? runs : undefined;
        },
        60_000,
        `the retried runs of ${id}`,
      );
    }
    for (const id of ids) {
      const v = await verify(id);
      expect(v.code, v.stdout).to.equal(0);
    }
    const all = events.map((e) => e.uuid).sort();
    const { rows } = await pg.admin.query<{ uuid: string }>(`SELECT uuid FROM "${pg.schema}"."shared" ORDER BY uuid`);
    expect(rows.map((r) => r.uuid)).to.deep.equal(all);
    expect(
      sf
        .rows('ANALYTICS.PUBLIC.shared')
        .map((r) => String(r.uuid))
        .sort(),
    ).to.deep.equal(all);
  });
});
