import { readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { chaosServices } from './chaos-services';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';
import { sleep } from '../helpers/processes';

const HOUR = 3_600_000;
const TEAM = 15;
// Every third hour ~20 MB uncompressed: multipart uploads in flight when Redis goes.
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 7 ? 0 : i % 3 === 1 ? 20_000 : 2_000));
/** What `appendfsync everysec` may lose in a crash of the machine: the last second of writes. */
const LOST_MS = 1000;

/**
 * Redis's append-only file as a crash of its machine leaves it under
 * `appendfsync everysec` (the production setting): the writes of the last
 * second were in the page cache, not on disk. Sampled every 50 ms, the
 * file is cut back to its length of LOST_MS before the kill (Redis loads a
 * file cut mid-command, aof-load-truncated).
 */
class AofTail {
  private readonly sizes: Array<{ at: number; file: string; size: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly dir = join(process.env.BX_SERVICES_DIR!, 'redis', 'appendonlydir');

  start(): void {
    this.timer = setInterval(() => {
      const file = this.incrFile();
      this.sizes.push({ at: Date.now(), file, size: statSync(file).size });
      if (this.sizes.length > 200) this.sizes.shift();
    }, 50);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Cuts the file back to its length LOST_MS ago; the bytes lost. */
  loseLastSecond(killedAt: number): number {
    const file = this.incrFile();
    const then = [...this.sizes].reverse().find((s) => s.at <= killedAt - LOST_MS && s.file === file);
    const size = statSync(file).size;
    if (!then) return 0;
    truncateSync(file, then.size);
    return size - then.size;
  }

  /** The file Redis appends to now (the manifest's `incr` entry). */
  private incrFile(): string {
    const manifest = readFileSync(join(this.dir, 'appendonly.aof.manifest'), 'utf8');
    const name = /file (\S+) seq \d+ type i/.exec(manifest)?.[1];
    if (!name) throw new Error(`no incr file in the AOF manifest: ${manifest}`);
    return join(this.dir, name);
  }
}

describe('chaos: Redis machine crash mid-backfill, the last second of writes lost', function () {
  this.timeout(300_000);
  const sys = new ChaosSystem();
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);
  const aof = new AofTail();

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => {
    aof.stop();
    await sys.teardown();
  });

  it('runs whose completion was lost are done again: every row exported once, the backfill counts each', async () => {
    await new Scenario('Redis crash, last second lost', sys).run(async (scenario) => {
      aof.start();
      await Promise.all([sys.startScheduler(), sys.startWorkers(3)]);
      const { exp, backfill } = await sys.backfilled(TEAM, range(intervals), { compression: null });

      const crashes: string[] = [];
      for (const after of [3, 9, 15]) {
        // Right after a run's completion was written: that write is among those lost.
        const completions = () => sys.logs('run completed').length;
        while (completions() < after) await sleep(20);
        const killedAt = Date.now();
        await chaosServices.kill('redis');
        const lost = aof.loseLastSecond(killedAt);
        await chaosServices.start('redis');
        crashes.push(`after ${completions()} completions, ${lost} bytes of AOF lost`);
      }
      scenario.note(`Redis SIGKILLed three times: ${crashes.join('; ')}`);

      // A run left unfinished without a job waits for the stranded-run repair (two passes a minute apart).
      const runs = await sys.settled(exp.id, intervals.length, 150_000);
      const spans = intervals.map((p) => p.span);
      scenario.checkExact(await verifyExport({ ...sys, teamId: TEAM, spans, prefix: 'team-' }));
      const wrong = runs.filter((r, i) => r.status !== 'Completed' || r.records_completed !== intervals[i]!.rows);
      scenario.check(wrong.length === 0, `runs not Completed with their interval’s rows: ${wrong.map((r) => r.id)}`);
      // Counted once each, though some completed twice (the first completion lost).
      // A run whose finish a torn write cut is counted by the stranded-run repair (once a minute).
      let b = await sys.backfills.get(exp.id, backfill.id);
      for (const until = Date.now() + 75_000; b.status === 'Running' && Date.now() < until; await sleep(500))
        b = await sys.backfills.get(exp.id, backfill.id);
      const rows = intervals.reduce((n, p) => n + p.rows, 0);
      // None skipped: a step redone after its cursor's move was lost must not count its own runs again.
      scenario.check(
        b.status === 'Completed' &&
          b.finished_runs === intervals.length &&
          b.skipped_runs === 0 &&
          b.records_completed === rows,
        `backfill ${b.status}, ${b.finished_runs}/${b.total_runs} runs, ${b.skipped_runs} skipped, ` +
          `${b.records_completed}/${rows} rows`,
      );
      await sys.checkClean(scenario);
      const redone = sys.logs('run completed').length - intervals.length;
      scenario.note(`${redone} completions more than intervals (done again after their record was lost)`);
    });
  });
});
