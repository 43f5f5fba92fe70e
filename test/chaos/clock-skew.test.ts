import { intervalContaining, type Span } from '@bx/core';
import { sleep } from '../helpers/processes';
import { ChaosSystem, CLOCK_SKEW_PRELOAD } from './chaos-system';
import { plan, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const FIVE_MINUTES = 300_000;
const SKEW_MS = 45 * 60_000;
const TEAM = 16;

/** Every 5-minute interval from `first` that has ended by `now`. */
function endedSince(first: number, now: number): Span[] {
  const spans: Span[] = [];
  for (let start = first; start + FIVE_MINUTES <= now; start += FIVE_MINUTES)
    spans.push({ start, end: start + FIVE_MINUTES });
  return spans;
}

describe('chaos: clock skew between two schedulers', function () {
  this.timeout(120_000);
  const sys = new ChaosSystem();
  // Two hours of past intervals, and rows in the one running when the suite starts.
  const current = intervalContaining(Date.now(), 'every 5 minutes', 'UTC');
  const intervals = plan(current.end, FIVE_MINUTES, [...Array.from({ length: 24 }, () => 300), 300]);
  const first = intervals[0]!.span.start;

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 64);
  });
  after(async () => sys.teardown());

  it('schedulers 45 min fast and 45 min slow: every interval once, none skipped, none early', async () => {
    await new Scenario('clock skew: 2 schedulers ±45 min', sys).run(async (scenario) => {
      const skewed = (ms: number) => ({
        NODE_OPTIONS: `--require ${CLOCK_SKEW_PRELOAD}`,
        TEST_CLOCK_SKEW_MS: String(ms),
      });
      const [fast, slow] = await Promise.all([
        sys.startScheduler(skewed(SKEW_MS)),
        sys.startScheduler(skewed(-SKEW_MS)),
        sys.startWorkers(2),
      ]);
      // The skew is real: each scheduler's own clock (its log time) is 45 minutes off.
      const offset = (p: typeof fast) =>
        Date.parse(String(p!.logs.find((l) => l.msg === 'scheduler started')!.time)) - Date.now();
      const offsets = [offset(fast), offset(slow)];
      scenario.check(
        Math.abs(offsets[0]! - SKEW_MS) < 60_000 && Math.abs(offsets[1]! + SKEW_MS) < 60_000,
        `scheduler clocks skewed by +45/-45 min (${offsets.map((o) => Math.round(o / 60_000)).join('/')} min)`,
      );
      // The export: the intervals that ended before it was created (the catch-up), exactly. The runs
      // to expect cannot change while the test looks, whatever 5-minute boundary the clock passes.
      const ongoing = intervalContaining(Date.now(), 'every 5 minutes', 'UTC');
      const spans = endedSince(first, ongoing.start);
      const exp = await sys.createExport({
        team_id: TEAM,
        interval: 'every 5 minutes',
        start_at: new Date(first).toISOString(),
        end_at: new Date(ongoing.start).toISOString(),
      });
      // And the interval still running, the one a fast clock would schedule early: an export of its
      // own (writing elsewhere), whose run may come only once it has ended by the real clock.
      const running = await sys.createExport({
        team_id: TEAM,
        interval: 'every 5 minutes',
        start_at: new Date(ongoing.start).toISOString(),
        end_at: new Date(ongoing.end).toISOString(),
        config: { prefix: 'running/{year}-{month}-{day}' },
      });
      const due = spans.map((s) => new Date(s.start).toISOString());
      const early = new Set<string>();
      /** Both exports' runs; a run whose interval had not ended when it was seen is early. */
      const look = async () => {
        const [runs, other] = await Promise.all([sys.runs(exp.id), sys.runs(running.id)]);
        const now = Date.now();
        for (const r of [...runs, ...other])
          if (Date.parse(r.data_interval_end) > now) early.add(r.data_interval_start);
        return runs;
      };

      // Settled: a Completed run for every interval, and no other run; an early run ends the wait at once.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const runs = await look();
        if (early.size) break;
        const starts = runs.map((r) => r.data_interval_start);
        if (
          due.every((s) => starts.includes(s)) &&
          starts.every((s) => due.includes(s)) &&
          runs.every((r) => r.status === 'Completed')
        )
          break;
        if (Date.now() > deadline) throw new Error(`not settled: ${runs.length} runs for ${due.length} intervals`);
        await sleep(250);
      }
      // A worker logs a run completed just after recording it: wait for the lines, not a fixed time.
      const completions = () =>
        sys
          .logs('run completed')
          .map((l) => l.run_id as string)
          .filter((id) => id.startsWith(`${exp.id}-`));
      const logged = Date.now() + 30_000;
      while (!early.size && new Set(completions()).size < due.length) {
        if (Date.now() > logged)
          throw new Error(`${new Set(completions()).size} of ${due.length} runs logged completed`);
        await sleep(100);
      }
      await sleep(1500); // ticks of both schedulers after settling: nothing more may appear
      const runs = await look();
      const verdict = await verifyExport({ ...sys, teamId: TEAM, spans, prefix: 'team-' });
      scenario.checkExact(verdict);
      scenario.check(early.size === 0, `runs scheduled before their interval ended: ${[...early].join(', ')}`);
      scenario.check(
        runs.length === spans.length &&
          runs.every((r, i) => r.data_interval_start === new Date(spans[i]!.start).toISOString()),
        `one run per ended interval, none skipped: ${runs.length} runs for ${spans.length} intervals`,
      );
      const completed = completions();
      scenario.check(
        completed.length === runs.length && new Set(completed).size === runs.length,
        `each interval exported once: ${completed.length} completions of ${new Set(completed).size} runs`,
      );
      scenario.check(
        runs.every((r) => r.attempts === 1),
        'no run was attempted twice',
      );
      const created = [fast!, slow!].map((p) =>
        p.logs.filter((l) => l.msg === 'scheduler tick').reduce((n, l) => n + Number(l.enqueued), 0),
      );
      scenario.note(
        `${runs.length} intervals: ${created[0]} scheduled by the +45 min scheduler, ${created[1]} by the -45 min one, none early`,
      );
      const future = runs.filter((r) => Math.abs(Date.parse(r.created_at) - Date.now()) > 10 * 60_000);
      scenario.check(
        future.length === 0,
        `run created_at off by the scheduler's skew: ${future
          .map((r) => r.created_at)
          .slice(0, 3)
          .join(', ')}`,
      );
    });
  });
});
