import { createEventsTableSql } from '@bx/destination-postgres';
import type { Run } from '@bx/core';
import { sleep } from '../helpers/processes';
import { chaosServices } from './chaos-services';
import { ChaosSystem, inFlight } from './chaos-system';
import { PostgresTarget } from './postgres-target';
import { plan, range, seed, type IntervalPlan } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
// Every other hour large enough (~20 MB of COPY data) that loads are caught mid-COPY.
const ROWS = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 20_000 : 2_000));

/** Waits for a load to be in COPY; its run id, or null after `timeoutMs`. */
async function copyUnderWay(pg: PostgresTarget, timeoutMs = 30_000): Promise<string | null> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(20)) {
    const [runId] = await pg.copying();
    if (runId) return runId;
  }
  return null;
}

/** Common checks: every row once, every run Completed with its interval's count, nothing left open. */
async function checkDone(
  scenario: Scenario,
  sys: ChaosSystem,
  pg: PostgresTarget,
  team: number,
  intervals: IntervalPlan[],
  runs: Run[],
) {
  scenario.checkExact(
    await pg.verify(
      sys,
      team,
      intervals.map((p) => p.span),
    ),
  );
  scenario.check(
    runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
    'every run Completed with its interval’s row count',
  );
  scenario.check((await pg.loadSessions()) === 0, 'no load session left open');
  scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
  scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
}

describe('chaos: Postgres', function () {
  this.timeout(300_000);

  it('restarted mid-COPY: the loads cut by admin_shutdown are retried; every row once', async () => {
    const sys = await new ChaosSystem().setup();
    const pg = await new PostgresTarget().setup();
    const team = 21;
    const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);
    try {
      await seed(sys.ch, team, intervals, 896);
      await new Scenario('Postgres restarted mid-COPY', sys).run(async (scenario) => {
        await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
        const exp = await pg.createExport(sys, team, range(intervals));
        const cut: string[] = [];
        for (let restart = 0; restart < 2; restart++) {
          const runId = await copyUnderWay(pg);
          if (!runId) break;
          cut.push(runId);
          await chaosServices.stop('postgres');
          await sleep(2000);
          await chaosServices.start('postgres');
        }
        scenario.check(cut.length === 2, `restarted with a COPY under way ${cut.length} times`);
        const runs = await sys.settled(exp.id, intervals.length, 120_000);
        await checkDone(scenario, sys, pg, team, intervals, runs);
        const retried = runs.filter((r) => cut.includes(r.id));
        scenario.check(
          retried.length > 0 && retried.every((r) => r.attempts >= 2),
          `the cut runs were retried (attempts ${retried.map((r) => r.attempts).join(', ')})`,
        );
        const errors = sys.logs('run failed, will retry').map((l) => String(l.error));
        scenario.check(
          errors.some((e) => /57P01|terminat|Connection/i.test(e)),
          `runs failed retryably on the shutdown: ${errors.slice(0, 2).join(' | ')}`,
        );
        scenario.note(
          `2 restarts mid-COPY, ${errors.length} retryable failures; runs retried: ${runs.filter((r) => r.attempts > 1).length}`,
        );
      });
    } finally {
      await sys.teardown();
      await pg.drop();
    }
  });

  it('a worker SIGKILLed mid-transaction: the interval finishes on another worker, nothing doubled', async () => {
    const sys = await new ChaosSystem().setup();
    const pg = await new PostgresTarget().setup();
    const team = 22;
    const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);
    const spans = intervals.map((p) => p.span);
    try {
      await seed(sys.ch, team, intervals, 896);
      await new Scenario('Postgres worker SIGKILL mid-transaction', sys).run(async (scenario) => {
        await Promise.all([sys.startScheduler(), sys.startWorkers(3)]);
        const exp = await pg.createExport(sys, team, range(intervals));
        await sys.settled(exp.id, intervals.length, 120_000);
        // Every interval loaded once; a forced backfill rewrites them all while workers die in the load.
        const began = Date.now();
        await sys.backfills.create(exp.id, { ...range(intervals), force: true });
        let sampling = true;
        const deviations: string[] = [];
        const sampler = (async () => {
          // A reader sees each interval's old rows or its new ones: the count never moves.
          while (sampling) {
            const counts = await pg.counts(team, spans);
            counts.forEach((n, i) => n !== intervals[i]!.rows && deviations.push(`${i}: ${n}`));
            await sleep(50);
          }
        })();
        const killed = new Map<string, number>();
        for (let k = 0, tries = 0; k < 3 && tries < 20; tries++) {
          const runId = await copyUnderWay(pg);
          if (!runId) break;
          // The worker's "run started" line may not have reached us yet (its log is written asynchronously).
          let victim: (typeof sys.workers)[number] | undefined;
          for (const until = Date.now() + 2000; !victim && Date.now() < until; await sleep(20)) {
            victim = sys.workers.find((w) => inFlight(w).includes(runId));
          }
          // Killed only while that COPY is still under way (the wait above may have outlasted it).
          if (!victim || killed.has(runId) || !(await pg.copying()).includes(runId)) continue;
          k++;
          killed.set(runId, Date.now());
          await sys.killWorker(victim);
          sys.spawnWorker();
        }
        await sys.settled(exp.id, intervals.length, 120_000);
        await waitUntil(
          async () => Math.min(...(await sys.runs(exp.id)).map((r) => Date.parse(r.finished_at!))) > began,
        );
        sampling = false;
        await sampler;
        const runs = await sys.runs(exp.id);
        await checkDone(scenario, sys, pg, team, intervals, runs);
        // The backfill may be done before the third kill finds a COPY under way.
        scenario.check(killed.size >= 2, `workers killed mid-COPY: ${killed.size} (at least 2 wanted)`);
        const taken = runs.filter((r) => killed.has(r.id));
        scenario.check(
          taken.every((r) => Date.parse(r.finished_at!) > killed.get(r.id)!),
          'each killed interval finished after the kill, on another worker',
        );
        scenario.check(
          deviations.length === 0,
          `readers saw an interval doubled or missing: ${deviations.slice(0, 5).join(', ')}`,
        );
        scenario.note(`${killed.size} SIGKILLs mid-COPY during a forced backfill; per-interval counts never moved`);
      });
    } finally {
      await sys.teardown();
      await pg.drop();
    }
  });

  it('another session holding a lock on the table: runs wait up to the bound, fail retryably, then load', async () => {
    const hold = 8000;
    const sys = await new ChaosSystem({ POSTGRES_LOCK_TIMEOUT_MS: '1500' }).setup();
    const pg = await new PostgresTarget().setup();
    const team = 23;
    const intervals = plan(
      Math.floor(Date.now() / HOUR) * HOUR,
      HOUR,
      Array.from({ length: 6 }, () => 500),
    );
    try {
      await seed(sys.ch, team, intervals, 128);
      for (const sql of createEventsTableSql(pg.schema, pg.table)) await pg.query(sql);
      await new Scenario('Postgres table locked by another session', sys).run(async (scenario) => {
        await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
        const holder = await pg.session();
        await holder.query('BEGIN');
        await holder.query(`LOCK TABLE ${pg.name} IN ACCESS EXCLUSIVE MODE`);
        const exp = await pg.createExport(sys, team, range(intervals));
        // Held until runs have waited out the bound (lock timeouts logged), not for a time that a
        // loaded machine may need just to start them; at least `hold` all the same.
        const began = Date.now();
        const lockTimeouts = () =>
          sys.logs('run failed, will retry').filter((l) => String(l.error).includes('55P03')).length;
        await waitUntil(async () => lockTimeouts() >= 2 && Date.now() - began >= hold);
        const held = Date.now() - began;
        const during = await sys.runs(exp.id);
        await holder.query('ROLLBACK');
        await holder.end();
        scenario.check(!during.some((r) => r.status === 'Completed'), 'no run completed while the lock was held');
        const runs = await sys.settled(exp.id, intervals.length, 60_000);
        await checkDone(scenario, sys, pg, team, intervals, runs);
        const errors = sys.logs('run failed, will retry').map((l) => String(l.error));
        scenario.check(
          errors.length > 0 && errors.every((e) => e.includes('55P03')),
          `runs failed retryably with lock timeouts: ${errors.slice(0, 2).join(' | ')}`,
        );
        scenario.note(
          `lock held ${(held / 1000).toFixed(1)} s with a 1.5 s bound: ${errors.length} lock timeouts, then every run loaded`,
        );
      });
    } finally {
      await sys.teardown();
      await pg.drop();
    }
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !(await condition()); await sleep(200)) {
    if (Date.now() > until) throw new Error('condition not met in time');
  }
}
