import { runIdFor, type Run } from '@bx/core';
import type { ServiceProcess } from '../helpers/processes';
import { sleep } from '../helpers/processes';
import { chaosServices } from './chaos-services';
import { ChaosSystem, inFlight } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { intervalStartOf, verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 17;
// Every other hour ~24 MB uncompressed: multipart uploads (8 MiB parts) in flight when a worker freezes.
const ROWS = Array.from({ length: 14 }, (_, i) => (i % 2 === 0 ? 24_000 : 2_000));

describe('chaos: a zombie worker (frozen past its lock, then woken)', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem();
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => sys.teardown());

  it('its late attempt neither deletes nor replaces what the attempt that took over wrote; every row once', async () => {
    await new Scenario('zombie worker: SIGSTOP past the lock, SIGCONT', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals), config: { compression: null } });

      /** A worker in the middle of a multipart upload, and its runs; waits for one. */
      const uploading = async (): Promise<{ worker: ServiceProcess; runs: string[] } | null> => {
        for (const until = Date.now() + 30_000; Date.now() < until; await sleep(50)) {
          const open = new Set(sys.proxy.openUploads().map((u) => runIdFor(exp.id, intervalStartOf(u.key))));
          const worker = sys.workers.find((w) => inFlight(w).some((id) => open.has(id)));
          if (worker) return { worker, runs: inFlight(worker) };
        }
        return null;
      };
      /** Waits until each of `ids` is Completed (by the attempt that took it over). */
      const completed = async (ids: string[]): Promise<Run[]> => {
        for (const until = Date.now() + 60_000; ; await sleep(200)) {
          const runs = (await sys.runs(exp.id)).filter((r) => ids.includes(r.id));
          if (runs.every((r) => r.status === 'Completed')) return runs;
          if (Date.now() > until) throw new Error(`runs ${ids.join(', ')} not completed by another worker`);
        }
      };

      /** Freezes a worker mid-upload until another worker has completed its runs; then wakes it. */
      const zombies: ServiceProcess[] = [];
      const zombie = async (shutDown: boolean): Promise<string | null> => {
        const target = await uploading();
        if (!target) return null;
        sys.freeze(target.worker);
        zombies.push(target.worker);
        sys.spawnWorker();
        const taken = await completed(target.runs);
        if (shutDown) await sys.terminateWorker(target.worker, () => sys.thaw(target.worker));
        else sys.thaw(target.worker);
        const attempts = taken.map((r) => r.attempts).join(', ');
        return `${target.runs.length} runs frozen mid-upload, completed by another worker (attempts ${attempts}), then ${shutDown ? 'SIGTERM + SIGCONT' : 'SIGCONT'}`;
      };

      // 1. Redis itself frozen for longer than the locks: every attempt in flight loses its lock at
      //    once, and carries on when Redis is back while the runs are taken over.
      const running = (await sys.completedAtLeast(exp.id, 0, 60_000, 1)).filter((r) => r.status === 'Running').length;
      chaosServices.signalRedis('SIGSTOP');
      await sleep(5000);
      chaosServices.signalRedis('SIGCONT');
      // 2. A worker shut down as it wakes (SIGTERM waiting for it): its runs are aborted, and it must
      //    not clean up the keys it wrote, which the attempt that took over has written since.
      const second = await zombie(true);
      scenario.check(second !== null, 'froze a worker mid-upload, then shut it down');
      // 3. Woken to carry on as if nothing happened (when an upload is still to catch).
      const third = await zombie(false);
      scenario.note(
        [`Redis frozen 5 s (locks last 3 s) with ${running} runs running`, second, third ?? 'no upload left to freeze']
          .filter(Boolean)
          .join('; '),
      );

      const runs = await sys.settled(exp.id, intervals.length, 120_000);
      const verdict = await verifyExport({
        ...sys,
        teamId: TEAM,
        spans: intervals.map((p) => p.span),
        prefix: 'team-',
      });
      scenario.checkExact(verdict);
      scenario.check(
        runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
        'every run Completed with its interval’s row count',
      );
      scenario.check(sys.uploadsLeftOpen().known.length === 0, 'no multipart upload left open');
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
      const late = zombies.flatMap((z) => z.logs.filter((l) => l.msg === 'run superseded by a later attempt'));
      const kept = zombies.flatMap((z) =>
        z.logs.filter((l) => l.msg === 'objects of an aborted attempt left: a later attempt may have written them'),
      );
      scenario.note(
        `the woken workers logged ${late.length} attempts superseded, ${kept.length} aborted attempts leaving the keys alone`,
      );
    });
  });
});
