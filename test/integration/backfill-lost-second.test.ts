import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService, ExportService, StrandedRepair } from '@bx/operations';
import { BullMqRunQueue, MemoryRunQueue } from '@bx/queue';
import { Store, type RunStart } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { OwnRedis } from '../helpers/own-redis';
import { RedisSnapshot } from '../helpers/redis-snapshot';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const HOUR = 3_600_000;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Redis under `appendfsync everysec` loses the writes of its last second in a
 * crash of its machine, while the processes that made them carry on. Here the
 * lost second is replayed on the test's own keys: a snapshot of every key
 * under its prefix (DUMP) taken at the moment the loss goes back to, put back
 * (RESTORE) after the writes that the crash takes with it.
 */
describe('a backfill after Redis lost its last second', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let sut: BackfillService;
  let exportId: string;

  beforeEach(async () => {
    prefix = uniqueName('bxlost');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 1, backoffMs: 10 });
    sut = new BackfillService(store, queue, logger, () => T0 + 10 * HOUR);
    exportId = randomUUID();
    await store.exports.create(exportFixture(exportId, T0), T0 + HOUR, null);
  });
  afterEach(async () => {
    await dropStoreAndQueue(store, queue, prefix);
  });

  /** What a worker does with one run: its start, then its outcome (fenced by the attempt, as the worker's). */
  const work = async (hour: number, outcome: 'Completed' | 'Failed', records = 10) => {
    const id = runIdFor(exportId, T0 + hour * HOUR);
    const start = await store.runs.start(id);
    if (start.status !== 'started') throw new Error(`run ${hour} did not start: ${start.status}`);
    const attempt = { attempt: start.attempt, token: start.token };
    const answer =
      outcome === 'Completed'
        ? await store.runs.complete(id, { records, bytes: 1, files: [] }, Date.now(), attempt, start.backfillId)
        : await store.runs.fail(id, 'Failed', 'boom', Date.now(), attempt, start.backfillId);
    expect(answer).to.equal('ok');
  };

  /**
   * The backfill's first step (API) writes its runs and jobs, then moves its
   * cursor; the crash loses the cursor's move and what came after (here the
   * run of hour 0 finishing). Once Redis is back, a worker runs hour 0 again
   * before a scheduler's step redoes the lost one; then the other runs finish.
   */
  const lostCursorMove = async (first: 'Completed' | 'Failed') => {
    const snapshot = new RedisSnapshot(store.redis, prefix);
    const advance = store.backfills.advance.bind(store.backfills);
    store.backfills.advance = async (...args) => {
      await snapshot.take();
      return advance(...args);
    };
    const created = await sut.create(exportId, {
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + 3 * HOUR).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('not created');
    store.backfills.advance = advance;
    await work(0, first);
    await snapshot.restore(); // the crash: the last second of writes is gone

    await work(0, first); // its job came back (its move to completed was lost too): run again
    // A scheduler redoes the step the crash undid, once the step lock that came back with the loss expires.
    const id = created.backfill.id;
    for (const until = Date.now() + 10_000; !(await store.backfills.get(id))!.started_all; await sleep(100)) {
      if (Date.now() > until) throw new Error('the lost step was not redone');
      await sut.pump.step(id);
    }
    await work(1, 'Completed');
    await work(2, 'Completed');
    return sut.get(exportId, id);
  };

  it('counts a run it completed once, not again as skipped when its lost step is redone', async () => {
    const backfill = await lostCursorMove('Completed');
    expect(backfill).to.deep.include({
      status: 'Completed',
      total_runs: 3,
      finished_runs: 3,
      skipped_runs: 0,
      failed_runs: 0,
      records_completed: 30,
      progress: 1,
    });
  });

  it('does not run again a run it failed, nor count it twice, when its lost step is redone', async () => {
    const backfill = await lostCursorMove('Failed');
    expect(backfill).to.deep.include({
      status: 'Failed',
      total_runs: 3,
      finished_runs: 3,
      skipped_runs: 0,
      failed_runs: 1,
      records_completed: 20,
    });
    expect((await store.runs.get(runIdFor(exportId, T0)))!.status).to.equal('Failed');
  });
});

/** Where the first command after `from` ends in an append-only file's bytes (RESP arrays of bulk strings). */
function commandEnd(aof: Buffer, from: number): number {
  const line = (at: number) => {
    const end = aof.indexOf('\r\n', at);
    return { text: aof.toString('latin1', at, end), next: end + 2 };
  };
  let { text, next } = line(from);
  for (let n = Number(text.slice(1)); n > 0; n--) {
    ({ text, next } = line(next));
    next += Number(text.slice(1)) + 2;
  }
  return next;
}

/**
 * A crash of Redis's machine can leave its append-only file cut inside a
 * script's transaction (MULTI, the script's writes, EXEC). Redis 7.0 with
 * aof-load-truncated loads such a file without the transaction, but keeps its
 * first commands in the file, with no EXEC: the next restart applies them,
 * glued to what came after the first. Seen in the lost-second chaos scenario
 * as a run Completed (its finish's first write) that its backfill never
 * counted: Running for ever at 23 of 24.
 */
describe('a backfill after Redis replayed half of a run’s finish', function () {
  this.timeout(60_000);
  const redis = new OwnRedis();
  const prefix = uniqueName('bxtorn');
  const exportId = randomUUID();
  let backfillId = '';
  let store: Store;
  const connect = () => (store = Store.connect(redis.url, prefix));
  const crash = async (cutAt?: number) => {
    await store.close();
    await redis.kill();
    if (cutAt !== undefined) truncateSync(redis.incrFile(), cutAt);
    await redis.start();
    connect();
  };
  const runId = (hour: number) => runIdFor(exportId, T0 + hour * HOUR);
  const start = async (hour: number) => {
    const started = await store.runs.start(runId(hour));
    if (started.status !== 'started') throw new Error(`run ${hour} did not start: ${started.status}`);
    return started;
  };
  const complete = async (hour: number, started: Extract<RunStart, { status: 'started' }>) => {
    const attempt = { attempt: started.attempt, token: started.token };
    const result = { records: 10, bytes: 1, files: [] };
    expect(await store.runs.complete(runId(hour), result, Date.now(), attempt, started.backfillId)).to.equal('ok');
  };

  before(async () => {
    await redis.start();
    connect();
  });
  after(async () => {
    await store.close();
    await redis.stop();
  });

  it('replays half a run’s finish: the run Completed, its backfill still waiting for it', async () => {
    const queue = new MemoryRunQueue({ attempts: 1, backoffMs: 10 });
    const service = () => new BackfillService(store, queue, logger, () => T0 + 10 * HOUR);
    await store.exports.create(exportFixture(exportId, T0), T0 + HOUR, null);
    const created = await service().create(exportId, {
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + 3 * HOUR).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('not created');
    const first = await start(0);
    const before = statSync(redis.incrFile()).size;
    await complete(0, first);
    // The crash cuts the file inside the finish's transaction, after its first write (the status).
    const aof = readFileSync(redis.incrFile());
    const multi = aof.indexOf('*1\r\n$5\r\nMULTI\r\n', before);
    expect(multi, 'the finish is one transaction in the file').to.be.greaterThan(-1);
    await crash(commandEnd(aof, commandEnd(aof, multi)) + 4);
    expect((await store.runs.get(runId(0)))!.status, 'the finish is lost').to.equal('Running');

    const second = await start(1); // a write of its own transaction: the file goes on after the cut
    await crash(); // the next restart applies the half finish
    expect((await store.runs.get(runId(0)))!.status, 'the half finish applied').to.equal('Completed');
    await complete(1, second);
    await complete(2, await start(2));

    // Reads never write: the backfill waits for the run until the scheduler's repair.
    backfillId = created.backfill.id;
    expect((await service().get(exportId, backfillId)).status).to.equal('Running');
  });

  it('the stranded-run repair counts the run, and takes it out of the unfinished indexes', async () => {
    // (After the test above.) The half finish moved no index: the run still counts as pending.
    const lagOf = async () => (await store.stats.snapshot()).exports.find((e) => e.id === exportId)!.oldestPendingEnd;
    expect(await store.runs.unfinishedCounts([exportId])).to.deep.equal([1]);
    expect(await lagOf()).to.equal(T0 + HOUR);
    const queue = new MemoryRunQueue({ attempts: 1, backoffMs: 10 });
    const sut = new StrandedRepair(store, queue, new ExportService(store, queue, logger), logger);
    // The run is retracked, then its backfill waits for more runs than the export has unfinished: settled.
    expect(await sut.pass()).to.include({ backfills: 1 });
    expect(await store.runs.unfinishedCounts([exportId])).to.deep.equal([0]);
    expect(await lagOf()).to.equal(null);
    expect(await new BackfillService(store, queue, logger).get(exportId, backfillId)).to.deep.include({
      status: 'Completed',
      finished_runs: 3,
      records_completed: 30,
      progress: 1,
    });
    expect((await store.runs.get(runId(0)))!.status).to.equal('Completed');
  });
});

/**
 * A torn finish may stop anywhere in finish-run.lua's transaction: here after
 * its HDEL of `bf_open` and before its ZREM from the backfill's open set (the
 * state written directly). The stranded-run repair settles it; cancelling could not end it.
 */
describe('a backfill whose run’s finish was torn after its bf_open went', () => {
  const prefix = uniqueName('bxtorn2');
  const exportId = randomUUID();
  const backfillId = randomUUID();
  let store: Store;
  before(() => (store = Store.connect(testEnv.REDIS_URL, prefix)));
  after(async () => {
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
  });

  it('counts the run and finishes', async () => {
    await store.backfills.create({
      id: backfillId,
      export_id: exportId,
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + 2 * HOUR).toISOString(),
      force: false,
      total_runs: 2,
      created_at: new Date().toISOString(),
      cursor: T0,
    });
    const runs = [0, 1].map((h) => ({
      id: runIdFor(exportId, T0 + h * HOUR),
      export_id: exportId,
      data_interval_start: T0 + h * HOUR,
      data_interval_end: T0 + (h + 1) * HOUR,
      backfill_id: backfillId,
    }));
    await store.runs.createMany(runs, Date.now(), { evenIfExported: false });
    await store.backfills.advance(
      backfillId,
      { from: T0, to: T0 + 2 * HOUR, skipped: 0, startedAll: true },
      Date.now(),
    );
    const s1 = await store.runs.start(runs[1]!.id);
    if (s1.status !== 'started') throw new Error(s1.status);
    const result = { records: 5, bytes: 1, files: [] };
    const attempt = { attempt: s1.attempt, token: s1.token };
    expect(await store.runs.complete(runs[1]!.id, result, Date.now(), attempt, s1.backfillId)).to.equal('ok');
    expect((await store.runs.start(runs[0]!.id)).status).to.equal('started');
    const run0 = `${prefix}:run:${runs[0]!.id}`;
    await store.redis.hset(run0, 'status', 'Completed', 'records_completed', '7');
    await store.redis.hdel(run0, 'bf_open');

    const queue = new MemoryRunQueue({ attempts: 1, backoffMs: 10 });
    const sut = new StrandedRepair(store, queue, new ExportService(store, queue, logger), logger);
    await sut.pass();
    await sut.pass();
    expect(await store.backfills.get(backfillId)).to.deep.include({ finished_runs: 2, records_completed: 12 });
    expect((await store.backfills.get(backfillId))!.finished_ms).to.be.a('number');
    expect(await store.backfills.openCount(backfillId)).to.equal(0);
  });
});
