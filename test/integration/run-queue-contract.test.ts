import { expect } from 'chai';
import { createLogger } from '@bx/core';
import {
  BullMqRunQueue,
  MemoryRunQueue,
  type JobContext,
  type RunJob,
  type RunOutcome,
  type RunQueue,
  type RunWorker,
} from '@bx/queue';
import { connectRedis, type RedisTarget } from '@bx/redis';
import { testEnv, uniqueName } from '../helpers/env';
import { QueueInspector } from '../helpers/queue-inspector';
import { deleteKeysUnder } from '../helpers/redis-keys';

const logger = createLogger({}, 'error');
const T0 = Date.parse('2024-01-01T00:00:00Z');
const HOUR = 3_600_000;

interface Harness {
  sut: RunQueue;
  /** The lines a job logged through ctx.log. */
  jobLog(runId: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The run queue's contract, run against every implementation: BullMQ over
 * the real Redis, and the in-memory queue that fast tests use. An in-memory
 * queue that drifted from BullMQ's behaviour would make those tests lie.
 */
const implementations: Array<[string, () => Harness]> = [
  ['BullMQ', () => bullMqHarness({ url: testEnv.REDIS_URL }, uniqueName('bxc'))],
  [
    'BullMQ on a Redis Cluster',
    () =>
      bullMqHarness(
        { url: testEnv.REDIS_URL, clusterNodes: testEnv.TEST_REDIS_CLUSTER_NODES },
        `{${uniqueName('bxc')}}`,
      ),
  ],
  [
    'in memory',
    () => {
      const sut = new MemoryRunQueue({ attempts: 3, backoffMs: 20 });
      return { sut, jobLog: async (runId) => sut.jobLog(runId), close: () => sut.close() };
    },
  ],
];

function bullMqHarness(redis: RedisTarget, prefix: string): Harness {
  // A backoff of 20 ms (as in memory) left the promote test racing BullMQ's own move out of `delayed` on a
  // loaded machine; 1 s (0.5-1 s with jitter) costs the retry test about 3 s.
  const sut = new BullMqRunQueue({ redis, prefix, attempts: 3, backoffMs: 1000 });
  const inspector = new QueueInspector(prefix, redis);
  return {
    sut,
    jobLog: async (runId) => (await inspector.runs.getJobLogs(runId)).logs,
    close: async () => {
      await inspector.close();
      await sut.obliterate();
      await sut.close();
      const connection = connectRedis(redis);
      await deleteKeysUnder(connection, prefix);
      connection.disconnect();
    },
  };
}

const run = (i: number, exportId = 'e1'): RunJob => ({
  run_id: `${exportId}-2024010${1 + (i % 9)}T0${i % 10}0000Z`,
  export_id: exportId,
  export_name: `export ${exportId}`,
  data_interval_start: T0 + i * HOUR,
  data_interval_end: T0 + (i + 1) * HOUR,
});

async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const [name, make] of implementations) {
  describe(`run queue contract: ${name}`, function () {
    this.timeout(30_000);
    let h: Harness;
    let worker: RunWorker | undefined;
    const seen: Array<{ job: RunJob; ctx: JobContext }> = [];
    const start = (processor: (job: RunJob, ctx: JobContext) => Promise<RunOutcome>, concurrency = 1) => {
      worker = h.sut.startWorker(
        async (job, ctx) => {
          seen.push({ job, ctx });
          return processor(job, ctx);
        },
        { concurrency, logger },
      );
      return worker;
    };
    const done: RunOutcome = { status: 'completed', records: 1, bytes: 1, files: [] };

    beforeEach(() => {
      h = make();
      seen.length = 0;
    });
    afterEach(async () => {
      await worker?.close(500);
      worker = undefined;
      await h.close();
    });

    it('runs each run once, scheduled ones before prioritized ones, oldest first, with its payload', async () => {
      await h.sut.enqueue([run(3), run(4)], { priority: 10 });
      await h.sut.enqueue([run(0), run(1), run(0)]);
      await h.sut.enqueue([run(1), run(2)]);
      start(async () => done);
      await until(() => seen.length === 5 || undefined, 'five runs');
      expect(seen.map((s) => s.job)).to.deep.equal([run(0), run(1), run(2), run(3), run(4)]);
      expect(seen[0]!.ctx).to.deep.include({ attempt: 1, maxAttempts: 3, lastAttempt: false });
      expect((await h.sut.jobCounts())[0]!.counts).to.deep.include({ completed: 5, waiting: 0, prioritized: 0 });
    });

    it('a failed attempt that may be retried runs again after a backoff; the last one is dead-lettered', async () => {
      start(async (_job, ctx) => ({ status: 'failed', error: `boom ${ctx.attempt}`, retry: !ctx.lastAttempt }));
      await h.sut.enqueue([run(0)]);
      await until(async () => (await h.sut.deadLetterIds()).length === 1 || undefined, 'the dead letter');
      expect(seen.map((s) => [s.ctx.attempt, s.ctx.lastAttempt])).to.deep.equal([
        [1, false],
        [2, false],
        [3, true],
      ]);
      expect(await h.sut.deadLetterIds()).to.deep.equal([run(0).run_id]);
      expect((await h.sut.jobCounts())[0]!.counts).to.deep.include({ failed: 1 });
    });

    it('a permanent failure is not retried; held and skipped outcomes end the job without a dead letter', async () => {
      start(async (job) =>
        job.run_id === run(0).run_id
          ? { status: 'failed', error: 'no bucket', retry: false }
          : job.run_id === run(1).run_id
            ? { status: 'held' }
            : { status: 'skipped', reason: 'cancelled' },
      );
      await h.sut.enqueue([run(0), run(1), run(2)]);
      await until(async () => (await h.sut.jobCounts())[0]!.counts.completed === 2 || undefined, 'two ends');
      await until(async () => (await h.sut.deadLetterIds()).length === 1 || undefined, 'one dead letter');
      expect(seen).to.have.length(3);
      expect(await h.sut.deadLetterIds()).to.deep.equal([run(0).run_id]);
    });

    it('requeue runs a finished run again and clears its dead letter; refused while a worker holds it', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      start(async (_job, ctx) => {
        if (seen.length === 1) return { status: 'failed', error: 'no bucket', retry: false };
        if (seen.length === 2) await held;
        return { ...done, records: ctx.attempt };
      });
      await h.sut.enqueue([run(0)]);
      await until(async () => (await h.sut.deadLetterIds()).length === 1 || undefined, 'the dead letter');
      await h.sut.requeue(run(0));
      expect(await h.sut.deadLetterIds()).to.deep.equal([]);
      await until(() => seen.length === 2 || undefined, 'the second run');
      const refused = await h.sut.requeue(run(0)).then(
        () => null,
        (e: { code?: string }) => e.code,
      );
      expect(refused).to.equal('RunActive');
      expect(await h.sut.settled(run(0).run_id, 50)).to.equal(false);
      release();
      expect(await h.sut.settled(run(0).run_id)).to.equal(true);
      expect(seen.map((s) => s.ctx.attempt)).to.deep.equal([1, 1]);
    });

    it('remove takes a queued run off; promote runs one waiting for its backoff now', async () => {
      await h.sut.enqueue([run(0), run(1)]);
      expect(await h.sut.remove(run(0).run_id)).to.equal(true);
      expect(await h.sut.remove('e1-20990101T000000Z')).to.equal(false);
      expect(await h.sut.promote(run(1).run_id)).to.equal(false);
      start(async (_job, ctx) => (ctx.attempt === 1 ? { status: 'failed', error: 'x', retry: true } : done));
      await until(() => seen.length === 1 || undefined, 'the first attempt');
      await until(async () => (await h.sut.jobCounts())[0]!.counts.delayed === 1 || undefined, 'the backoff');
      expect(await h.sut.promote(run(1).run_id)).to.equal(true);
      await until(() => seen.length === 2 || undefined, 'the second attempt');
      expect(seen.map((s) => s.job.run_id)).to.deep.equal([run(1).run_id, run(1).run_id]);
    });

    it('hasLiveJob: queued, prioritized, waiting for a backoff or running yes; finished, failed or none no', async () => {
      const live = (...ids: number[]) => h.sut.hasLiveJob(ids.map((i) => run(i).run_id));
      await h.sut.enqueue([run(0)]);
      await h.sut.enqueue([run(1)], { priority: 10 });
      expect(await live(0, 1, 2)).to.deep.equal([true, true, false]);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      start(async (job, ctx) => {
        if (job.run_id === run(0).run_id) return done;
        if (job.run_id === run(2).run_id) return { status: 'failed', error: 'no bucket', retry: false };
        if (ctx.attempt === 1) return { status: 'failed', error: 'x', retry: true };
        await held;
        return done;
      });
      await until(async () => (await h.sut.jobCounts())[0]!.counts.delayed === 1 || undefined, 'the backoff');
      expect(await live(0, 1)).to.deep.equal([false, true]);
      await h.sut.promote(run(1).run_id);
      await until(() => seen.length === 3 || undefined, 'the second attempt');
      expect(await live(1)).to.deep.equal([true]);
      release();
      await h.sut.enqueue([run(2)]);
      await until(async () => (await h.sut.deadLetterIds()).length === 1 || undefined, 'the dead letter');
      await until(async () => (await h.sut.settled(run(1).run_id, 0)) || undefined, 'the run to end');
      expect(await live(0, 1, 2)).to.deep.equal([false, false, false]);
    });

    it('cancelRunning aborts the signal of the run on whichever worker runs it; forget drops its traces', async () => {
      start(async (_job, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        return { status: 'skipped', reason: 'cancelled' };
      });
      await h.sut.enqueue([run(0)]);
      await until(() => seen.length === 1 || undefined, 'the run to start');
      await h.sut.cancelRunning(run(0).run_id);
      await until(async () => (await h.sut.settled(run(0).run_id, 0)) || undefined, 'the run to stop');
      expect(seen[0]!.ctx.signal.aborted).to.equal(true);
      await h.sut.forget([run(0).run_id]);
      expect((await h.sut.jobCounts())[0]!.counts).to.deep.include({ completed: 0, waiting: 0 });
    });

    it("a job's log lines are kept with the job", async () => {
      start(async (_job, ctx) => {
        await ctx.log('run started');
        await ctx.log('run completed records=1');
        return done;
      });
      await h.sut.enqueue([run(0)]);
      await until(async () => (await h.sut.jobCounts())[0]!.counts.completed === 1 || undefined, 'the run');
      expect(await h.jobLog(run(0).run_id)).to.deep.equal(['run started', 'run completed records=1']);
    });
  });
}
