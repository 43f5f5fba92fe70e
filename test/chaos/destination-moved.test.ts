import { S3_CREDENTIALS } from '../helpers/env';
import { sleep } from '../helpers/processes';
import { createBucket, listKeys } from '../helpers/s3';
import { ChaosSystem, inFlight } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 23;
// One interval of ~26 MB uncompressed: a multipart upload of several 8 MB parts, open for a while.
const ROWS = [20_000];

describe('chaos: destination moved while a killed upload is open', function () {
  this.timeout(120_000);
  const sys = new ChaosSystem({ WORKER_CONCURRENCY: '1' });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => sys.teardown());

  it('worker SIGKILLed mid-upload, bucket PATCHed before the retry: rows once in the new bucket, old upload aborted', async () => {
    await new Scenario('destination moved mid-upload', sys).run(async (scenario) => {
      const [worker] = await sys.startWorkers(1);
      await sys.startScheduler();
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals), config: { compression: null } });
      const oldBucket = sys.bucket;

      // The kill lands while the attempt's multipart upload is open and known to the worker.
      for (const until = Date.now() + 30_000; ; await sleep(50)) {
        if (sys.proxy.openUploads().some((u) => u.delivered) && inFlight(worker!).length > 0) break;
        if (Date.now() > until) throw new Error('no multipart upload opened');
      }
      await sys.killWorker(worker!);
      const leftByKill = sys.uploadsLeftOpen().known;

      // The operator moves the export to another bucket (same server, same keys) before the retry.
      const newBucket = await createBucket(sys.s3);
      await sys.exports.update(exp.id, {
        destination: { type: 'S3', config: { bucket_name: newBucket, ...S3_CREDENTIALS } },
      });
      await sys.startWorkers(1);
      const [run] = await sys.settled(exp.id, 1, 60_000);

      const spans = intervals.map((p) => p.span);
      const verdict = await verifyExport({ ...sys, bucket: newBucket, teamId: TEAM, spans, prefix: 'team-' });
      scenario.checkExact(verdict);
      scenario.check(run!.status === 'Completed' && run!.attempts >= 2, `run ${run!.status} after ${run!.attempts}`);
      scenario.check(leftByKill.length > 0, 'the kill left an upload open');
      const open = sys.uploadsLeftOpen();
      scenario.check(
        open.known.length === 0,
        `multipart uploads left open in the old bucket: ${open.known.join(', ')}`,
      );
      const inOld = await listKeys(sys.s3, oldBucket, 'team-');
      scenario.check(inOld.length === 0, `objects left in the old bucket: ${inOld.join(', ')}`);
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
    });
  });

  it('worker SIGKILLed after some split files, prefix PATCHed before the retry: no file of the killed attempt left', async () => {
    await new Scenario('destination moved mid-split', sys).run(async (scenario) => {
      const team = TEAM + 1;
      await seed(sys.ch, team, intervals, 896);
      // Answers held 150-300 ms: the attempt writes its ~26 files over several seconds.
      void sys.proxy.inject({ kind: 'delay', minMs: 150, maxMs: 300 }, 60_000);
      const exp = await sys.createExport({
        team_id: team,
        ...range(intervals),
        config: { compression: null, max_file_size_mb: 1 },
      });
      // The kill lands once the attempt has written a few whole files (of ~26), before its manifest.
      let written: string[] = [];
      for (const until = Date.now() + 30_000; written.length < 3; await sleep(50)) {
        written = await listKeys(sys.s3, sys.bucket, `team-${team}/`);
        if (Date.now() > until) throw new Error('no files written');
      }
      for (const worker of [...sys.workers]) await sys.killWorker(worker);
      sys.proxy.clear();
      written = await listKeys(sys.s3, sys.bucket, `team-${team}/`);

      // The operator moves the export's files under another prefix before the retry.
      await sys.exports.update(exp.id, {
        destination: { type: 'S3', config: { prefix: `team-${team}/moved/{year}-{month}-{day}` } },
      });
      await sys.startWorkers(1);
      const [run] = await sys.checkAllExported(scenario, exp.id, team, intervals);
      scenario.note(`the killed attempt had written ${written.length} files under the old prefix`);
      scenario.check(run!.attempts >= 2, `run done in ${run!.attempts} attempts`);
      const left = written.filter((key) => !key.includes('/moved/'));
      const stillThere = (await listKeys(sys.s3, sys.bucket, `team-${team}/`)).filter((k) => left.includes(k));
      scenario.check(stillThere.length === 0, `files of the killed attempt left: ${stillThere.join(', ')}`);
      await sys.checkClean(scenario);
    });
  });
});
