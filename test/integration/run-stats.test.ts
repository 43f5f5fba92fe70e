import { expect } from 'chai';
import { runIdFor } from '@bx/core';
import { Store } from '@bx/store';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';

const HOUR = 3600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');

/** The counters /metrics reads move with every run status change, in the same script. */
describe('run statistics in Redis', () => {
  let prefix: string;
  let sut: Store;

  const exportFor = (id: string) => exportFixture(id, T0);
  const hours = (exportId: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: runIdFor(exportId, T0 + i * HOUR),
      export_id: exportId,
      data_interval_start: T0 + i * HOUR,
      data_interval_end: T0 + (i + 1) * HOUR,
    }));
  const statsOf = async (id: string) => (await sut.stats.snapshot()).exports.find((e) => e.id === id)!;

  beforeEach(async () => {
    prefix = uniqueName('bxt');
    sut = Store.connect(testEnv.REDIS_URL, prefix);
  });
  afterEach(async () => {
    const keys = await sut.redis.keys(`${prefix}:*`);
    if (keys.length) await sut.redis.del(...keys);
    await sut.close();
  });

  it('counts runs per status through create, start, finish, cancel, retry and delete', async () => {
    await sut.exports.create(exportFor('e1'), T0 + 4 * HOUR, T0 + 5 * HOUR);
    const [a, b, c, d] = hours('e1', 4);
    expect(await sut.runs.createMany([a!, b!, c!, d!])).to.deep.equal(['created', 'created', 'created', 'created']);
    expect(await sut.runs.createMany([a!])).to.deep.equal(['Scheduled']);
    expect((await sut.stats.snapshot()).runsByStatus).to.deep.equal({
      Scheduled: 4,
      Running: 0,
      Completed: 0,
      Failed: 0,
      FailedRetryable: 0,
      Cancelled: 0,
    });

    await sut.runs.start(a!.id, 1000);
    await sut.runs.complete(a!.id, { records: 10, bytes: 2000, files: ['k'] }, 4000);
    await sut.runs.start(b!.id, 1000);
    await sut.runs.fail(b!.id, 'FailedRetryable', 'timeout', 1500);
    await sut.runs.start(c!.id, 1000);
    await sut.runs.fail(c!.id, 'Failed', 'denied', 2000);
    expect(await sut.runs.cancel(d!.id)).to.equal(true);
    expect(await sut.runs.cancel(a!.id)).to.equal(false);
    const mid = await sut.stats.snapshot();
    expect(mid.runsByStatus).to.include({ Scheduled: 0, Completed: 1, FailedRetryable: 1, Failed: 1, Cancelled: 1 });

    await sut.runs.reschedule(c!.id);
    await sut.runs.deleteMany([a!.id, b!.id]);
    const end = await sut.stats.snapshot();
    expect(end.runsByStatus).to.include({ Scheduled: 1, Completed: 0, FailedRetryable: 0, Failed: 0, Cancelled: 1 });
    expect(await sut.runs.get(a!.id)).to.equal(null);
  });

  it('adds rows and bytes of completed runs only, and durations per outcome', async () => {
    await sut.exports.create(exportFor('e1'), T0, T0 + HOUR);
    const [a, b] = hours('e1', 2);
    await sut.runs.createMany([a!, b!]);
    await sut.runs.start(a!.id, 0);
    await sut.runs.complete(a!.id, { records: 10, bytes: 2000, files: [] }, 3_000);
    await sut.runs.start(b!.id, 0);
    await sut.runs.fail(b!.id, 'FailedRetryable', 'x', 40_000);
    await sut.runs.start(b!.id, 100_000);
    await sut.runs.complete(b!.id, { records: 5, bytes: 700, files: [] }, 100_500);

    const snapshot = await sut.stats.snapshot();
    expect(await statsOf('e1')).to.include({ rows: 15, bytes: 2700 });
    const completed = snapshot.durations.find((d) => d.status === 'Completed')!;
    expect(completed.count).to.equal(2);
    expect(completed.sumSeconds).to.equal(3.5);
    expect(completed.buckets.filter(([, n]) => n > 0)).to.deep.equal([
      [1, 1],
      [5, 1],
    ]);
    const retryable = snapshot.durations.find((d) => d.status === 'FailedRetryable')!;
    expect(retryable).to.include({ count: 1, sumSeconds: 40 });
    expect(retryable.buckets.filter(([, n]) => n > 0)).to.deep.equal([[60, 1]]);
  });

  it('does not count a run that was cancelled while running when its attempt ends', async () => {
    await sut.exports.create(exportFor('e1'), T0, T0 + HOUR);
    const [a] = hours('e1', 1);
    await sut.runs.createMany([a!]);
    await sut.runs.start(a!.id, 0);
    await sut.runs.cancel(a!.id);
    expect(await sut.runs.complete(a!.id, { records: 10, bytes: 10, files: [] }, 10)).to.equal('Cancelled');
    const snapshot = await sut.stats.snapshot();
    expect(snapshot.runsByStatus).to.include({ Running: 0, Completed: 0, Cancelled: 1 });
    expect(await statsOf('e1')).to.include({ rows: 0, bytes: 0 });
    expect(snapshot.durations).to.deep.equal([]);
  });

  it('tracks the oldest run not yet exported per export', async () => {
    await sut.exports.create(exportFor('e1'), T0 + 3 * HOUR, T0 + 4 * HOUR);
    await sut.exports.create(exportFor('e2'), T0, T0 + HOUR);
    const [a, b, c] = hours('e1', 3);
    await sut.runs.createMany([a!, b!, c!]);
    expect(await statsOf('e1')).to.include({ oldestPendingEnd: T0 + HOUR, cursor: T0 + 3 * HOUR });
    expect(await statsOf('e2')).to.include({ oldestPendingEnd: null, cursor: T0 });

    await sut.runs.start(a!.id);
    await sut.runs.complete(a!.id, { records: 0, bytes: 0, files: [] });
    expect((await statsOf('e1')).oldestPendingEnd).to.equal(T0 + 2 * HOUR);
    await sut.runs.cancel(b!.id);
    expect((await statsOf('e1')).oldestPendingEnd).to.equal(T0 + 3 * HOUR);
    await sut.runs.reschedule(a!.id);
    expect((await statsOf('e1')).oldestPendingEnd).to.equal(T0 + HOUR);
    await sut.runs.start(a!.id);
    await sut.runs.fail(a!.id, 'Failed', 'no bucket');
    expect((await statsOf('e1')).oldestPendingEnd, 'a Failed run is not exported').to.equal(T0 + HOUR);

    await sut.exports.markDeleted(exportFor('e1'));
    expect((await sut.stats.snapshot()).exports.map((e) => e.id)).to.deep.equal(['e2']);
  });

  it('reads the statistics of thousands of exports in a few commands', async () => {
    const n = 2000;
    for (let i = 0; i < n; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, k) =>
          sut.exports.create(exportFor(`bulk-${i + k}`), T0, null),
        ),
      );
    await sut.runs.createMany(Array.from({ length: n }, (_, i) => hours(`bulk-${i}`, 1)[0]!));
    const sent: string[] = [];
    const original = sut.redis.sendCommand.bind(sut.redis);
    sut.redis.sendCommand = ((command: { name: string }) => {
      sent.push(command.name);
      return original(command as never);
    }) as typeof sut.redis.sendCommand;
    const snapshot = await sut.stats.snapshot();
    sut.redis.sendCommand = original;

    expect(snapshot.exports).to.have.length(n);
    expect(snapshot.exports.every((e) => e.oldestPendingEnd === T0 + HOUR)).to.equal(true);
    // 6 fixed reads (time, runs by status, durations, totals, cursors, reconciler counters); per
    // thousand exports a page of the export index, a script and an MGET; one more page read that
    // finds the index's end. Nothing per run.
    expect(sent.length).to.equal(6 + 3 * Math.ceil(n / 1000) + 1);
  });
});
