import { expect } from 'chai';
import fs from 'node:fs';
import { runIdFor } from '@bx/core';
import { RUNS_QUEUE } from '@bx/queue';
import { E2eSystem, HOUR, seedHours } from '../helpers/e2e-system';
import { eventually } from '../helpers/processes';
import { QueueInspector } from '../helpers/queue-inspector';
import {
  byUuid,
  rsaKeyPair,
  snowflakeConfig,
  startSnowflakeServer,
  storedRow,
  tmpDir,
  type SnowflakeServer,
} from '../helpers/snowflake';

const PASSWORD = 'loader-password-e2e';

/**
 * The whole system against the Snowflake test bed: API, scheduler and worker
 * processes, ClickHouse 18.16, and the real snowflake-sdk in the worker talking
 * to the test server in this process through each export's `access_url`.
 * The processes are shared by the tests, which therefore run in order.
 */
describe('end to end: ClickHouse → worker → snowflake-sdk → Snowflake test bed', function () {
  this.timeout(120_000);
  const sut = new E2eSystem({ prefix: 'bxsf' });
  const { base, hours } = sut;
  const lastInterval = base + (hours - 1) * HOUR;
  const key = rsaKeyPair();
  // Each interval's first and last second and 30 between; team 2's event is not exported.
  const events = seedHours(base, hours);
  let sf: SnowflakeServer;
  let bullmq: QueueInspector;
  const localFiles = tmpDir();

  before(async () => {
    sf = await startSnowflakeServer({
      account: 'testacct',
      users: { loader: PASSWORD },
      publicKeys: { keyloader: key.publicKey },
    });
    bullmq = new QueueInspector(sut.prefix);
    // The local files of the worker killed below stay behind; keep them out of the shared /tmp.
    await sut.start(events, { TMPDIR: localFiles });
  });
  after(async () => {
    await sut.stop();
    await bullmq.close();
    await sf.close();
    fs.rmSync(localFiles, { recursive: true, force: true });
  });

  const runs = sut.runs.bind(sut);
  async function createExport(table: string, config: Record<string, unknown>, startAt = base): Promise<string> {
    const destination = { type: 'Snowflake', config: { ...snowflakeConfig(sf), table_name: table, ...config } };
    return (await sut.createExport(table, destination, startAt)).id;
  }

  /** The table holds exactly team 1's source events of the intervals from `from`, each once. */
  function expectTable(table: string, from = base): void {
    const inRange = events.filter((e) => {
      const at = Date.parse(`${e.inserted_at!.replace(' ', 'T')}Z`);
      return e.team_id === 1 && at >= from && at < sut.end;
    });
    expect(sf.rows(`ANALYTICS.PUBLIC.${table}`).sort(byUuid)).to.deep.equal(inRange.map(storedRow).sort(byUuid));
    expect(sf.stagedFiles(`ANALYTICS.PUBLIC.${table}`), 'nothing left in the stage').to.deep.equal([]);
  }

  it('exports each interval exactly with key-pair authentication (the server checks the JWT)', async () => {
    const id = await createExport('events_keypair', { user: 'keyloader', password: null, private_key: key.privateKey });
    const done = await runs(id, hours);
    expectTable('events_keypair');
    for (const run of done) {
      expect(run.records_completed).to.equal(32);
      expect(run.files).to.have.length(1);
      expect(run.attempts).to.equal(1);
    }
    const logins = sf.logins.map((l) => (l as { data: Record<string, string> }).data);
    expect(logins.length).to.be.at.least(hours);
    expect(logins.every((d) => d.AUTHENTICATOR === 'SNOWFLAKE_JWT')).to.equal(true);
    expect(sut.logs()).to.not.contain('PRIVATE KEY').and.not.contain(PASSWORD);
  });

  it('a refused login fails the run permanently, with Snowflake message on the run', async () => {
    const id = await createExport('events_refused', { password: 'not-the-password' }, lastInterval);
    const [run] = await runs(id, 1, 'Failed');
    expect(run).to.deep.include({
      status: 'Failed',
      attempts: 1,
      error: 'Snowflake login failed: 390100: "Incorrect username or password was specified."',
    });
  });

  it('a 503 is retried by the SDK, a failed COPY by the queue; the run completes with each event once', async () => {
    sf.faults.httpError({ status: 503, path: /query-request/, sql: /^PUT .*events_retry/ });
    sf.faults.queryError({
      sql: /^COPY INTO "events_retry"/,
      code: '000603',
      sqlState: 'XX000',
      message: 'SQL execution internal error:\nProcessing aborted due to error 300010:391167117',
    });
    const id = await createExport('events_retry', { password: PASSWORD }, lastInterval);
    const [run] = await runs(id, 1);
    expect(run).to.deep.include({ attempts: 2, records_completed: 32 });
    expect(sf.queryLog.some((q) => q.sql.includes('events_retry') && q.outcome === 'http-error')).to.equal(true);
    expectTable('events_retry', lastInterval);
  });

  it('a worker killed between PUT and COPY, then a manual re-run, leave no duplicate', async () => {
    // The first COPY never answers; the worker dies while it waits.
    sf.faults.stall({ sql: /^COPY INTO "events_crash"/ });
    const id = await createExport('events_crash', { password: PASSWORD }, lastInterval);
    const runId = runIdFor(id, lastInterval);
    await eventually(
      async () => (sf.queryLog.some((q) => q.sql.startsWith('COPY INTO "events_crash"')) ? true : undefined),
      30_000,
      'the COPY to be sent',
    );
    await sut.worker.stop('SIGKILL');
    // The server sees the dead worker's connection close (then the held COPY ends, never run),
    // possibly after the test sees the process exit.
    await eventually(
      async () =>
        sf.queryLog.some((q) => q.sql.startsWith('COPY INTO "events_crash"') && q.outcome === 'abandoned')
          ? true
          : undefined,
      10_000,
      'the held COPY to be abandoned',
    );
    expect(sf.stagedFiles('ANALYTICS.PUBLIC.events_crash'), 'staged, never loaded').to.have.length(1);
    expect(sf.loadHistory('ANALYTICS.PUBLIC.events_crash'), 'nothing loaded').to.have.length(0);
    await expireLock(runId);
    await sut.startService('worker');
    const [taken] = await runs(id, 1);
    // The run counts two attempts (killed, taken over), while BullMQ's job attempt is 1 both times:
    // the stage folder's random part is what keeps COPY from skipping identical files.
    expect(taken!.attempts, 'the take-over is a second attempt of the run').to.equal(2);
    expectTable('events_crash', lastInterval);

    // A manual retry: the run is queued again (a new job, attempt 1 for BullMQ), writing identical files.
    await sut.store.runs.reschedule(runId);
    await sut.queue.requeue({
      run_id: runId,
      export_id: id,
      data_interval_start: lastInterval,
      data_interval_end: sut.end,
    });
    await eventually(
      async () =>
        (await sut.store.runs.get(runId))?.status === 'Completed' && (await bullmq.runs.getJob(runId))?.finishedOn
          ? true
          : undefined,
      30_000,
      'the re-run to complete',
    );
    expectTable('events_crash', lastInterval);
    expect(
      (await sut.store.runs.get(runId))!.attempts,
      'the manual retry is one more attempt, loaded at once',
    ).to.equal(3);
    const loads = sf.loadHistory('ANALYTICS.PUBLIC.events_crash');
    expect(loads, 'two loads, from two attempt folders').to.have.length(2);
    expect(loads[0]!.checksum, 'of identical files').to.equal(loads[1]!.checksum);
  });

  /**
   * What BullMQ does once a dead worker's lock expires (60 s, too long for a
   * test): the job is marked stalled and the next stalled check, which a
   * starting worker runs at once, moves it back to wait.
   */
  async function expireLock(jobId: string): Promise<void> {
    const queueKey = `${sut.prefix}:${RUNS_QUEUE}`;
    await sut.store.redis.del(`${queueKey}:${jobId}:lock`, `${queueKey}:stalled-check`);
    await sut.store.redis.sadd(`${queueKey}:stalled`, jobId);
  }
});
