import { expect } from 'chai';
import { runIdFor, type Run } from '@bx/core';
import { RunRetention } from '@bx/operations';
import { TestClickHouse } from '../helpers/clickhouse';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { snowflakeConfig, startSnowflakeServer, type SnowflakeServer } from '../helpers/snowflake';

const T = Date.parse('2024-01-01T10:00:00Z');
const HOUR = 3_600_000;
const TABLE = 'ANALYTICS.PUBLIC.events';
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A Snowflake run that reads no rows skips connecting unless its run state
 * says an earlier attempt may have loaded some. Retention removes the run
 * record, and that state with it: a forced re-run of the interval then left
 * the rows of the earlier run in the table although the source holds none
 * any more (here: the events table emptied; a filter that leaves every
 * event out no longer serves, since a run replaces only the events its
 * filters select: another export may share the table).
 */
describe('Snowflake: a re-run of an interval whose run record retention removed', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let sf: SnowflakeServer;
  let sys: InProcessSystem;
  const events = [0, 1, 2].map((i) => makeEvent({ inserted_at: chTime(iso(T + i * 60_000)) }));

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(events);
    sf = await startSnowflakeServer({ users: { loader: 'loader-password' } });
    sys = await new InProcessSystem(ch.database).start();
    sys.startWorker(1);
  });
  after(async () => {
    await sys.stop();
    await sf.close();
    await ch.drop();
  });

  const finished = (exportId: string, runId: string) =>
    eventually(
      async () => {
        const res = await sys.call('GET', `/api/exports/${exportId}/runs/${runId}`);
        const run = res.json as Run | null;
        return run && (run.status === 'Completed' || run.status === 'Failed') ? run : undefined;
      },
      30_000,
      'the run to finish',
    );

  it('deletes the rows the earlier run loaded when the re-run reads none', async () => {
    const created = await sys.call('POST', '/api/exports', {
      name: 'retained',
      team_id: 1,
      interval: 'hour',
      destination: { type: 'Snowflake', config: snowflakeConfig(sf) },
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    const id = created.json.id as string;
    const runId = runIdFor(id, T);
    const span = { start_at: iso(T), end_at: iso(T + HOUR) };
    expect((await sys.call('POST', `/api/exports/${id}/backfills`, span)).status).to.equal(201);
    expect(await finished(id, runId)).to.deep.include({ status: 'Completed', records_completed: 3 });
    expect(sf.rows(TABLE)).to.have.length(3);

    await new RunRetention(sys.store, sys.queue, sys.logger, 1).pass(Date.now() + 1000);
    expect((await sys.call('GET', `/api/exports/${id}/runs/${runId}`)).status, 'the record is gone').to.equal(404);

    // Now the interval holds nothing to export: the table must hold nothing of it either.
    await ch.client.command({ query: `TRUNCATE TABLE ${ch.database}.${ch.table}` });
    const again = await sys.call('POST', `/api/exports/${id}/backfills`, { ...span, force: true });
    expect(again.status, JSON.stringify(again.json)).to.equal(201);
    expect(await finished(id, runId)).to.deep.include({ status: 'Completed', records_completed: 0 });
    expect(sf.rows(TABLE)).to.deep.equal([]);
  });
});
