import { sleep } from '../helpers/processes';
import { webhookReceiver } from '../helpers/webhook-receiver';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 15;
const PAUSE_AFTER = 3;
const ROWS = Array.from({ length: 12 }, () => 500);

describe('chaos: bad S3 credentials', function () {
  this.timeout(120_000);
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  let sys: ChaosSystem;
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    hook = await webhookReceiver();
    sys = await new ChaosSystem({
      AUTO_PAUSE_AFTER_FAILURES: String(PAUSE_AFTER),
      ALERT_WEBHOOK_URL: hook.url,
    }).setup();
    await seed(sys.ch, TEAM, intervals, 64);
  });
  after(async () => {
    hook.server.close();
    await sys.teardown();
  });

  it('fail permanently and fast, no retry storm; the export is auto-paused and the webhook called once', async () => {
    await new Scenario('bad credentials', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const began = Date.now();
      const exp = await sys.createExport({
        team_id: TEAM,
        ...range(intervals),
        config: { aws_access_key_id: 'WRONG-KEY' },
      });
      // After PAUSE_AFTER failures the export pauses, and the pause holds the runs not started yet.
      let runs = await sys.settled(exp.id, intervals.length, 60_000, ['Failed', 'Completed', 'Scheduled']);
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
        runs = await sys.runs(exp.id);
        const paused = (await sys.exports.get(exp.id)).paused;
        if (paused && runs.every((r) => r.status === 'Failed' || r.status === 'Scheduled')) break;
      }
      const took = Date.now() - began;
      const failed = runs.filter((r) => r.status === 'Failed');
      const held = runs.filter((r) => r.status === 'Scheduled');
      // The webhook is called just after the pause: its notice is waited for, not assumed to be in by now.
      for (const until = Date.now() + 30_000; hook.notices.length === 0 && Date.now() < until;) await sleep(100);
      await sleep(3000); // anything still to come (retries, more notices) would show now

      const verdict = await verifyExport({ ...sys, teamId: TEAM, spans: intervals.map((p) => p.span), prefix: '' });
      scenario.counts(verdict);
      scenario.check(verdict.missing === verdict.rows && verdict.duplicated === 0, 'nothing was exported');
      scenario.check(
        failed.length >= PAUSE_AFTER &&
          failed.every((r) => r.attempts === 1 && /InvalidAccessKeyId/.test(r.error ?? '')) &&
          held.every((r) => r.attempts === 0) &&
          failed.length + held.length === runs.length,
        `runs Failed at their first attempt with InvalidAccessKeyId, the rest held by the pause: ${runs.map((r) => `${r.status}/${r.attempts}`).join(' ')}`,
      );
      const requests = sys.proxy.counts.requests;
      scenario.check(
        requests <= 3 * failed.length,
        `no retry storm: ${requests} S3 requests for ${failed.length} failed runs`,
      );
      scenario.check(took < 20_000, `failed fast: all runs done in ${took} ms`);
      const paused = await sys.exports.get(exp.id);
      const after = Number(/paused after (\d+) consecutive failed runs/.exec(paused.paused_reason ?? '')?.[1]);
      scenario.check(
        paused.paused && after >= PAUSE_AFTER && /InvalidAccessKeyId/.test(paused.paused_reason ?? ''),
        `auto-paused after ${PAUSE_AFTER} failed runs: paused=${paused.paused}, reason=${paused.paused_reason}`,
      );
      scenario.check(
        !(await sys.store.schedule.due(Number.MAX_SAFE_INTEGER, 1000)).includes(exp.id),
        'the paused export is no longer scheduled',
      );
      scenario.check(
        hook.notices.length === 1 && hook.notices[0]!.export_id === exp.id,
        `webhook called once: ${hook.notices.length} notices`,
      );
      scenario.check(
        (await sys.queue.deadLetterIds()).length === failed.length,
        'every failed run is in the dead-letter queue',
      );
      scenario.note(
        `${failed.length} runs Failed after 1 attempt each, ${held.length} held by the pause, in ${(took / 1000).toFixed(1)} s, ${requests} S3 requests; ` +
          `paused after ${after} failures; ${hook.notices.length} webhook notice; nothing exported (missing = all rows, as expected)`,
      );
    });
  });
});
