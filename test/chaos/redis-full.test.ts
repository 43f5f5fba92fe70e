import { Redis } from 'ioredis';
import { testEnv } from '../helpers/env';
import { sleep } from '../helpers/processes';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
const TEAM = 24;
// Every third hour ~10 MB uncompressed (a multipart upload), the others small.
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 6 ? 0 : i % 3 === 1 ? 8_000 : 1_500));
/** How long Redis stays full: longer than the workers' locks (3 s). */
const FULL_MS = 8000;

/**
 * Makes the chaos Redis full (noeviction, as production runs it): a `maxmemory` below the memory
 * it uses, so that every write answers `OOM command not allowed` while reads still work. (Ballast
 * up to the limit is not enough: the append-only file's buffer counts while it fills and not once
 * it is written, so memory drops back under the limit.) Returns the function that frees it again.
 */
async function fillRedis(redis: Redis, prefix: string): Promise<() => Promise<void>> {
  await redis.config('SET', 'maxmemory', String(1024 * 1024));
  const refused = await redis.set(`${prefix}:probe`, 'x').then(
    () => false,
    (err: unknown) => /OOM/.test(String(err)),
  );
  if (!refused) throw new Error('Redis still takes writes');
  return async () => {
    await redis.config('SET', 'maxmemory', '0');
  };
}

describe('chaos: Redis full mid-backfill', function () {
  this.timeout(180_000);
  // The backfill steps 5 runs ahead of the workers (half the window): the scheduler enqueues while Redis is full.
  const sys = new ChaosSystem({ SCHEDULER_RUN_WINDOW: '10' });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);
  const admin = new Redis(testEnv.REDIS_URL);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => {
    await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
    admin.disconnect();
    await sys.teardown();
  });

  it('writes refused for longer than the locks: every run completes once memory is freed, rows once', async () => {
    await new Scenario('Redis full (noeviction) mid-backfill', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const { exp, backfill } = await sys.backfilled(TEAM, range(intervals), { compression: null });

      await sys.completedAtLeast(exp.id, 3, 60_000, 1);
      const free = await fillRedis(admin, sys.prefix);
      await sleep(FULL_MS);
      await free();
      scenario.note(`Redis refused writes (OOM) for ${FULL_MS / 1000} s with runs in flight`);

      await sys.checkAllExported(scenario, exp.id, TEAM, intervals);
      const status = await sys.backfills.get(exp.id, backfill.id);
      scenario.check(
        status.status === 'Completed' && status.finished_runs === intervals.length,
        `backfill ${status.status}, ${status.finished_runs}/${status.total_runs} runs finished`,
      );
      await sys.checkClean(scenario);
    });
  });
});
