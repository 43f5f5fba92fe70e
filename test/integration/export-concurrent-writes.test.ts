import { expect } from 'chai';
import { createLogger, type BatchExport } from '@bx/core';
import { ExportService, FailurePolicy } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import type { RedisTarget } from '@bx/redis';
import { Store } from '@bx/store';
import { testEnv, uniqueName } from '../helpers/env';
import { deleteKeysUnder } from '../helpers/redis-keys';

const logger = createLogger({}, 'error');
/** Racing pairs per test: 100 showed lost updates in most pairs before writes compared and set. */
const PAIRS = 100;

const body = (i: number, overrides: Record<string, unknown> = {}) => ({
  name: `export ${i}`,
  team_id: 3,
  interval: 'hour',
  destination: {
    type: 'S3',
    config: { bucket_name: 'bucket', region: 'eu-west-1', aws_access_key_id: 'a', aws_secret_access_key: 'b' },
  },
  ...overrides,
});

const modes: Array<{ title: string; target: () => RedisTarget; prefix: () => string }> = [
  { title: 'one Redis server', target: () => ({ url: testEnv.REDIS_URL }), prefix: () => uniqueName('bxw') },
  {
    title: 'a Redis Cluster',
    target: () => ({ url: testEnv.REDIS_URL, clusterNodes: testEnv.TEST_REDIS_CLUSTER_NODES }),
    prefix: () => `{${uniqueName('bxw')}}`,
  },
];

for (const mode of modes) {
  describe(`concurrent writes of an export on ${mode.title}`, () => {
    let prefix: string;
    let store: Store;
    let queue: BullMqRunQueue;
    let sut: ExportService;
    let policy: FailurePolicy;

    before(async () => {
      prefix = mode.prefix();
      store = Store.connect(mode.target(), prefix);
      await store.assertReachable();
      queue = new BullMqRunQueue({ redis: mode.target(), prefix, attempts: 2, backoffMs: 10 });
      sut = new ExportService(store, queue, logger);
      policy = new FailurePolicy(store, logger, { threshold: 1 });
    });
    after(async () => {
      await queue.obliterate();
      await deleteKeysUnder(store.redis, prefix);
      await Promise.all([queue.close(), store.close()]);
    });

    const createMany = (overrides: Record<string, unknown> = {}) =>
      Promise.all(Array.from({ length: PAIRS }, (_, i) => sut.create(body(i, overrides))));

    /** The record, the paused set and the schedule agree: a paused export is never due, a running one always. */
    const expectConsistent = async (exp: BatchExport) => {
      const paused = await store.redis.sismember(store.keys.pausedExports, exp.id);
      const due = await store.redis.zscore(store.keys.schedule, exp.id);
      expect(paused, `${exp.id} in the paused set`).to.equal(exp.paused ? 1 : 0);
      if (exp.paused) expect(due, `${exp.id} paused yet scheduled`).to.equal(null);
      else expect(due, `${exp.id} running yet unscheduled`).not.to.equal(null);
    };

    it('two PATCHes of different fields both land', async () => {
      const exports = await createMany();
      await Promise.all(
        exports.flatMap((exp, i) => [
          sut.update(exp.id, { name: `renamed ${i}` }),
          sut.update(exp.id, { include_events: [`event-${i}`] }),
        ]),
      );
      for (const [i, exp] of exports.entries()) {
        const stored = (await store.exports.get(exp.id))!;
        expect(stored.name).to.equal(`renamed ${i}`);
        expect(stored.include_events).to.deep.equal([`event-${i}`]);
      }
    });

    it('a PATCH that leaves `paused` alone does not undo an auto-pause, nor the auto-pause the PATCH', async () => {
      const exports = await createMany();
      await Promise.all(
        exports.flatMap((exp, i) => [
          sut.update(exp.id, { name: `renamed ${i}` }),
          policy.failed(exp.id, `destination down ${i}`),
        ]),
      );
      for (const [i, exp] of exports.entries()) {
        const stored = (await store.exports.get(exp.id))!;
        expect(stored.name).to.equal(`renamed ${i}`);
        expect(stored.paused, exp.id).to.equal(true);
        expect(stored.paused_reason).to.match(new RegExp(`destination down ${i}$`));
        await expectConsistent(stored);
      }
    });

    it('pause and unpause race a PATCH without losing either', async () => {
      const running = await createMany();
      const paused = await createMany({ paused: true });
      await Promise.all([
        ...running.flatMap((exp, i) => [sut.pause(exp.id), sut.update(exp.id, { exclude_events: [`x-${i}`] })]),
        ...paused.flatMap((exp, i) => [sut.unpause(exp.id), sut.update(exp.id, { name: `back ${i}` })]),
      ]);
      for (const [i, exp] of running.entries()) {
        const stored = (await store.exports.get(exp.id))!;
        expect(stored).to.deep.include({ paused: true, exclude_events: [`x-${i}`] });
        await expectConsistent(stored);
      }
      for (const [i, exp] of paused.entries()) {
        const stored = (await store.exports.get(exp.id))!;
        expect(stored).to.deep.include({ paused: false, name: `back ${i}` });
        await expectConsistent(stored);
      }
    });

    it('unpause racing an auto-pause leaves the schedule as the record says', async () => {
      const exports = await createMany({ paused: true });
      await Promise.all(exports.flatMap((exp) => [sut.unpause(exp.id), policy.failed(exp.id, 'down')]));
      for (const exp of exports) await expectConsistent((await store.exports.get(exp.id))!);
    });

    it('an auto-pause between an unpause’s write and its schedule keeps the export off the schedule', async () => {
      // It did not: the unpause scheduled what it had read, so a paused export was due again.
      const exp = await sut.create(body(0, { paused: true }));
      const schedule = store.schedule;
      const cursor = schedule.cursor;
      schedule.cursor = async (id: string) => {
        schedule.cursor = cursor;
        await policy.failed(id, 'down');
        return cursor.call(schedule, id);
      };
      try {
        await sut.unpause(exp.id);
      } finally {
        schedule.cursor = cursor;
      }
      const stored = (await store.exports.get(exp.id))!;
      expect(stored.paused).to.equal(true);
      await expectConsistent(stored);
    });

    it('a scheduler that read the export paused does not unschedule it once unpaused', async () => {
      // It did: the scheduler took it off after the unpause had put it back, and it never ran again.
      const exp = await sut.create(body(0, { paused: true }));
      const seenPaused = (await store.exports.get(exp.id))!;
      await sut.unpause(exp.id);
      expect(seenPaused.paused).to.equal(true);
      expect(await store.schedule.unschedule(exp.id)).to.equal(false);
      await expectConsistent((await store.exports.get(exp.id))!);
      await sut.pause(exp.id);
      await store.redis.zadd(store.keys.schedule, 0, exp.id);
      expect(await store.schedule.unschedule(exp.id)).to.equal(true);
      await expectConsistent((await store.exports.get(exp.id))!);
    });

    it('a PATCH racing a DELETE never brings the export back', async () => {
      const exports = await createMany();
      const outcomes = await Promise.allSettled(
        exports.flatMap((exp, i) => [sut.update(exp.id, { name: `late ${i}` }), sut.delete(exp.id)]),
      );
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason.name).to.equal('NotFoundError');
      for (const exp of exports) {
        expect(await store.exports.get(exp.id)).to.equal(null);
        expect(await store.redis.zscore(store.keys.schedule, exp.id)).to.equal(null);
        expect(await store.redis.sismember(store.keys.pausedExports, exp.id)).to.equal(0);
      }
    });
  });
}
