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
      const runs = await sys.settled(exp.id, intervals.length, 60_000, ['Failed', 'Completed']);
      const took = Date.now() - began;
      await sleep(3000); // anything still to come (retries, more notices) would show now

      const verdict = await verifyExport({ ...sys, teamId: TEAM, spans: intervals.map((p) => p.span), prefix: '' });
      scenario.counts(verdict);
      scenario.check(verdict.missing === verdict.rows && verdict.duplicated === 0, 'nothing was exported');
      scenario.check(
        runs.every((r) => r.status === 'Failed' && r.attempts === 1 && /InvalidAccessKeyId/.test(r.error ?? '')),
        `every run Failed at its first attempt with InvalidAccessKeyId: ${runs.map((r) => `${r.status}/${r.attempts}`).join(' ')}`,
      );
      const requests = sys.proxy.counts.requests;
      scenario.check(requests <= 3 * runs.length, `no retry storm: ${requests} S3 requests for ${runs.length} runs`);
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
        (await sys.queue.deadLetterIds()).length === runs.length,
        'every failed run is in the dead-letter queue',
      );
      scenario.note(
        `${runs.length} runs Failed after 1 attempt each in ${(took / 1000).toFixed(1)} s, ${requests} S3 requests; ` +
          `paused after ${after} failures; ${hook.notices.length} webhook notice; nothing exported (missing = all rows, as expected)`,
      );
    });
  });
});
