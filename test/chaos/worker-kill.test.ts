import { runIdFor } from '@bx/core';
import { sleep } from '../helpers/processes';
import { ChaosSystem, inFlight } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { intervalStartOf, verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 11;
const KILLS = 6;
// 24 hours: every third one ~24 MB (a multipart upload of two 16 MB parts), two empty.
// Uncompressed, so that parts fill (and kills can land in open uploads) without
// exporting three times the rows gzip would need for the same object size.
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 4 || i === 17 ? 0 : i % 3 === 0 ? 24_000 : 2_000));

describe('chaos: worker SIGKILL mid-upload', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem();
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => sys.teardown());

  it('repeated kills at random moments: other workers take the runs over, every row exported once', async () => {
    await new Scenario('worker SIGKILL mid-upload', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(3)]);
      const exp = await sys.createExport({
        team_id: TEAM,
        ...range(intervals),
        config: { compression: null },
      });

      // Each kill comes at a random moment, preferably while a multipart upload
      // is open (its worker is killed mid-upload), else into any run in flight.
      const uploader = () => {
        const uploading = new Set(sys.proxy.openUploads().map((u) => runIdFor(exp.id, intervalStartOf(u.key))));
        return sys.workers.find((w) => inFlight(w).some((id) => uploading.has(id)));
      };
      const killed = new Map<string, number>(); // run id → when its worker was killed
      let midUpload = 0;
      for (let k = 0; k < KILLS; k++) {
        await sleep(300 + Math.random() * 1200);
        let target = uploader();
        for (const until = Date.now() + 4000; !target && Date.now() < until; target = uploader()) await sleep(100);
        const busy = sys.workers.filter((w) => inFlight(w).length > 0);
        const victim = target ?? busy[Math.floor(Math.random() * busy.length)];
        if (!victim) break;
        if (target) midUpload++;
        inFlight(victim).forEach((id) => killed.set(id, Date.now()));
        await sys.killWorker(victim);
        sys.spawnWorker();
      }
      scenario.note(
        `${KILLS} SIGKILLs hit ${killed.size} runs in flight, ${midUpload} kills with a multipart upload open`,
      );

      const lastKill = Date.now();
      const runs = await sys.settled(exp.id, intervals.length, 90_000);
      scenario.note(`all runs completed ${((Date.now() - lastKill) / 1000).toFixed(1)} s after the last kill`);
      const verdict = await verifyExport({
        ...sys,
        teamId: TEAM,
        spans: intervals.map((p) => p.span),
        prefix: 'team-',
      });
      scenario.checkExact(verdict);
      scenario.check(killed.size >= 3, `kills hit only ${killed.size} runs in flight`);
      scenario.check(midUpload >= 2, `only ${midUpload} kills landed in an open multipart upload`);
      scenario.check(
        runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
        'every run Completed with its interval’s row count',
      );
      // (A run whose completion was not yet in its worker's log when the kill came needed no takeover.)
      const takenOver = runs.filter((r) => killed.has(r.id) && Date.parse(r.finished_at!) > killed.get(r.id)!);
      scenario.check(
        takenOver.every((r) => r.attempts >= 2),
        `killed runs were taken over (attempts: ${takenOver.map((r) => r.attempts).join(', ')})`,
      );
      const open = sys.uploadsLeftOpen();
      scenario.check(open.known.length === 0, `multipart uploads left open: ${open.known.join(', ')}`);
      const aborted = sys.proxy.allUploads().filter((u) => u.state === 'aborted').length;
      scenario.note(
        `${aborted} multipart uploads of killed attempts aborted by the next attempt, ${open.known.length + open.orphaned.length} left open`,
      );
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
    });
  });
});
