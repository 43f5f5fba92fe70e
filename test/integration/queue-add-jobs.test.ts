import { expect } from 'chai';
import { createLogger } from '@bx/core';
import { BullMqRunQueue, jobName, jobPayload, type RunJob } from '@bx/queue';
import { QueueInspector } from '../helpers/queue-inspector';
import { Redis } from 'ioredis';
import { testEnv, uniqueName } from '../helpers/env';

const logger = createLogger({}, 'error');

/**
 * BullMqRunQueue.enqueue writes BullMQ's jobs with a script of its own
 * (add-jobs.ts), one call per chunk of jobs instead of one BullMQ call per
 * job. It must leave Redis as BullMQ's addBulk would, with the same options,
 * but for the events stream it leaves out on purpose: a BullMQ upgrade that
 * changes what a job looks like in Redis fails here.
 */
describe('enqueueing runs writes what BullMQ writes', function () {
  this.timeout(30_000);
  const prefixes: string[] = [];
  const queues: BullMqRunQueue[] = [];
  const inspectors: QueueInspector[] = [];
  let redis: Redis;

  const newQueue = () => {
    const prefix = uniqueName('bxq');
    prefixes.push(prefix);
    const queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    queues.push(queue);
    const bullmq = new QueueInspector(prefix);
    inspectors.push(bullmq);
    return { prefix, queue, bullmq };
  };
  const runs = (n: number, from = 0): RunJob[] =>
    Array.from({ length: n }, (_, i) => ({
      run_id: `e${(from + i) % 7}-2024010${(from + i) % 9}T0${i % 10}0000Z`,
      export_id: `e${(from + i) % 7}`,
      export_name: `export ${(from + i) % 7}`,
      data_interval_start: 1_700_000_000_000 + (from + i) * 3_600_000,
      data_interval_end: 1_700_000_000_000 + (from + i + 1) * 3_600_000,
    }));
  /** BullMQ's own way: addBulk, with the names, payloads and options the run queue gives its jobs. */
  const bullmqAdd = (
    q: { queue: BullMqRunQueue; bullmq: QueueInspector },
    jobs: readonly RunJob[],
    priority?: number,
  ) =>
    q.bullmq.runs.addBulk(
      jobs.map((run) => ({
        name: jobName(run),
        data: jobPayload(run),
        opts: q.queue.jobOptions(run.run_id, priority),
      })),
    );

  /** Every key of a queue prefix and its content, with times and the events stream left out. */
  const state = async (prefix: string) => {
    const out: Record<string, unknown> = {};
    for (const key of (await redis.keys(`${prefix}:*`)).sort()) {
      const name = key.slice(prefix.length);
      if (name.endsWith(':events')) continue;
      const type = await redis.type(key);
      if (type === 'hash') {
        const { timestamp, opts, ...rest } = await redis.hgetall(key);
        out[name] = { ...rest, ...(opts ? { opts: JSON.parse(opts) as unknown } : {}), timestamp: timestamp && 'set' };
      } else if (type === 'list') out[name] = await redis.lrange(key, 0, -1);
      else if (type === 'zset') out[name] = await redis.zrange(key, 0, -1, 'WITHSCORES');
      else out[name] = await redis.get(key);
    }
    return out;
  };

  before(() => {
    redis = new Redis(testEnv.REDIS_URL);
  });
  after(async () => {
    for (const inspector of inspectors) await inspector.close();
    for (const queue of queues) {
      await queue.obliterate().catch(() => undefined);
      await queue.close();
    }
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });

  for (const priority of [undefined, 10]) {
    it(`jobs ${priority ? 'with' : 'without'} a priority, duplicates and all, in several chunks`, async () => {
      const a = newQueue();
      const b = newQueue();
      const first = runs(1500);
      const second = [...runs(3, 1400), ...runs(600, 1500)]; // three already queued
      await bullmqAdd(a, first, priority);
      await bullmqAdd(a, second, priority);
      await b.queue.enqueue(first, { priority });
      await b.queue.enqueue(second, { priority });
      expect(await state(b.prefix)).to.deep.equal(await state(a.prefix));
      expect(await redis.xlen(`${b.prefix}:export-runs:events`)).to.equal(0);
    });
  }

  it('a paused queue gets its jobs but no marker: workers are not woken', async () => {
    const a = newQueue();
    const b = newQueue();
    await a.bullmq.runs.pause();
    await b.bullmq.runs.pause();
    await bullmqAdd(a, runs(5));
    await b.queue.enqueue(runs(5));
    expect(await state(b.prefix)).to.deep.equal(await state(a.prefix));
    expect(await redis.exists(`${b.prefix}:export-runs:marker`)).to.equal(0);
  });

  it('a worker runs the jobs with their data, attempts and backoff', async () => {
    const { queue } = newQueue();
    const seen: Array<{ run: RunJob; attempt: number; maxAttempts: number }> = [];
    const worker = queue.startWorker(
      async (run, ctx) => {
        seen.push({ run, attempt: ctx.attempt, maxAttempts: ctx.maxAttempts });
        if (ctx.attempt === 1) return { status: 'failed', error: 'transient', retry: true };
        return { status: 'skipped', reason: 'test' };
      },
      { concurrency: 1, logger },
    );
    try {
      const jobs = runs(2);
      await queue.enqueue(jobs);
      const deadline = Date.now() + 15_000;
      while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Both first attempts, oldest first; then the retries, in whatever order their backoff ends.
      expect(seen.slice(0, 2).map((s) => [s.run, s.attempt, s.maxAttempts])).to.deep.equal([
        [jobs[0], 1, 3],
        [jobs[1], 1, 3],
      ]);
      expect(seen.slice(2).map((s) => [s.run.run_id, s.attempt, s.maxAttempts])).to.have.deep.members([
        [jobs[0]!.run_id, 2, 3],
        [jobs[1]!.run_id, 2, 3],
      ]);
    } finally {
      await worker.close(1000);
    }
  });
});
