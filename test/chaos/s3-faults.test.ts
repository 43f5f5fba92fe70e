import type { HttpFault } from '../helpers/http-fault-proxy';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 14;
// Three intervals large enough for a multipart upload (two parts), one empty.
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 3 ? 0 : i % 8 === 1 ? 55_000 : 2_000));

/**
 * One after the other, each for its time, twice over: 32 s of a misbehaving S3.
 * The outage comes first, when 22 of the 24 runs are still to do: every run in
 * flight fails and waits for its backoff, so runs are still going through the
 * phases after it. (In the order reset, outage, 503s, held answers, the runs
 * could all be done before the held answers began: CI saw 0 held of 62
 * requests; held answers first, then resets, 0 errors of 44.)
 */
const PHASES: Array<[string, HttpFault, number]> = [
  ['503 SlowDown on every request', { kind: 'status', every: 1 }, 5_000],
  ['answers held 0.5-2 s', { kind: 'delay', minMs: 500, maxMs: 2_000 }, 4_000],
  ['connections reset on every third request', { kind: 'reset', every: 3 }, 4_000],
  ['503 SlowDown on every second request', { kind: 'status', every: 2 }, 3_000],
];
const ROUNDS = 2;

describe('chaos: S3 answering 503, slowly, or resetting connections', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem();
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 512);
  });
  after(async () => sys.teardown());

  it('runs retry through the faults and complete: every row exported once, no upload left open', async () => {
    await new Scenario('S3 503 / slow / resets', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals) });
      await sys.completedAtLeast(exp.id, 2);
      for (let round = 0; round < ROUNDS; round++)
        for (const [, fault, ms] of PHASES) await sys.proxy.inject(fault, ms);
      const { counts } = sys.proxy;
      scenario.note(
        `${ROUNDS}× ${PHASES.map(([what, , ms]) => `${what} (${ms / 1000} s)`).join(', then ')}: ` +
          `${counts.status} error answers, ${counts.delayed} held, ${counts.reset} resets in ${counts.requests} requests`,
      );

      const runs = await sys.settled(exp.id, intervals.length, 150_000, ['Completed', 'Failed']);
      const verdict = await verifyExport({
        ...sys,
        teamId: TEAM,
        spans: intervals.map((p) => p.span),
        prefix: 'team-',
      });
      scenario.checkExact(verdict);
      const failed = runs.filter((r) => r.status !== 'Completed');
      scenario.check(failed.length === 0, `runs failed: ${failed.map((r) => `${r.id}: ${r.error}`).join('; ')}`);
      scenario.check(
        runs.every((r, i) => r.status !== 'Completed' || r.records_completed === intervals[i]!.rows),
        'every completed run has its interval’s row count',
      );
      scenario.check(counts.status > 0 && counts.delayed > 0 && counts.reset > 0, 'every kind of fault was injected');
      const retried = runs.filter((r) => r.attempts > 1);
      scenario.check(retried.length > 0, 'the faults made runs fail retryably');
      scenario.note(`${retried.length} runs retried, up to ${Math.max(...runs.map((r) => r.attempts))} attempts`);
      const open = sys.uploadsLeftOpen();
      scenario.check(open.known.length === 0, `multipart uploads left open: ${open.known.join(', ')}`);
      if (open.orphaned.length) {
        scenario.note(
          `${open.orphaned.length} uploads open whose creation answer a reset dropped (no attempt had their id)`,
        );
      }
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
    });
  });
});
