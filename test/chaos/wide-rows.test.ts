import { readFileSync } from 'node:fs';
import { ChaosSystem } from './chaos-system';
import { plan, range, type IntervalPlan } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
const TEAM = 39;
const MB = 4;
// Rows of 8 MB (4 MB of properties, 4 of person properties), a few per interval.
const ROWS = [6, 1, 6];

/** Inserts `rows` per interval whose properties and person properties are `mb` MB of JSON each. */
async function seedWide(sys: ChaosSystem, intervals: readonly IntervalPlan[], mb: number): Promise<void> {
  const tens = Math.round((mb * 1024 * 1024) / 10);
  const json = (key: string, ten: string) =>
    `concat('{"${key}":"', arrayStringConcat(arrayMap(x -> '${ten}', range(${tens}))), '"}')`;
  for (const { span, rows } of intervals) {
    const at = `toDateTime(${span.start / 1000} + intDiv(number * ${(span.end - span.start) / 1000}, ${rows}))`;
    await sys.ch.client.command({
      query: `INSERT INTO ${sys.ch.database}.${sys.ch.table}
        SELECT generateUUIDv4(), '$pageview', ${json('big', 'é\\\\n\\\\"<>&\\\\u0001')}, ${at}, ${TEAM},
          concat('user-', toString(number)), '', ${at}, generateUUIDv4(), ${json('p', 'yyyyyyyyyy')}, ${at}
        FROM system.numbers LIMIT ${rows}`,
    });
  }
}

/** Peak resident memory of a process, in MB (VmHWM). */
function peakMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

describe('chaos: rows of several MB through a worker with a 64 MB heap', function () {
  this.timeout(120_000);
  const sys = new ChaosSystem({ WORKER_CONCURRENCY: '2' });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seedWide(sys, intervals, MB);
  });
  after(async () => sys.teardown());

  it('every row once, in one attempt each, the worker alive and its memory bounded', async () => {
    await new Scenario('wide rows, 64 MB heap', sys).run(async (scenario) => {
      const [worker] = await sys.startWorkers(1, { NODE_OPTIONS: '--max-old-space-size=64' });
      await sys.startScheduler();
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals) });
      const runs = await sys.checkAllExported(scenario, exp.id, TEAM, intervals, 90_000);
      const peak = peakMb(worker!.pid);
      scenario.note(`${ROWS.reduce((a, b) => a + b)} rows of ${2 * MB} MB; worker peak RSS ${peak} MB`);
      scenario.check(
        runs.every((r) => r.attempts === 1),
        `one attempt per run: ${runs.map((r) => r.attempts).join(', ')}`,
      );
      // Measured 158 MB (batch buffers of a row each, the read-ahead, upload parts): a guard against
      // memory that grows with the rows (a copy per row, an interval kept whole), not a measurement.
      scenario.check(peak < 400, `worker peak RSS ${peak} MB, bounded by 400`);
      await sys.checkClean(scenario);
    });
  });
});
