import type { Store } from '@bx/store';
import type { Redis } from 'ioredis';
import { callsBetween, clickhousePid, machineCpu, processCpu, sampleRedis, type ScaleServices } from './scale-services';
import { WorkerProcess } from './worker-process';

/** Worker processes as deployed (`services/worker/dist/main.js`), added one by one. */
export class ScaleWorkers {
  readonly processes: WorkerProcess[] = [];

  constructor(
    readonly env: Record<string, string>,
    readonly services: ScaleServices,
  ) {}

  /** Starts workers until `count` run. */
  async scaleTo(count: number): Promise<void> {
    const started: WorkerProcess[] = [];
    while (this.processes.length + started.length < count) started.push(new WorkerProcess(this.env));
    await Promise.all(started.map((w) => w.started()));
    this.processes.push(...started);
  }

  cpu(): number {
    return this.processes.reduce((sum, w) => sum + w.cpuSeconds(), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.splice(0).map((w) => w.stop()));
  }
}

export interface WindowResult {
  runs: number;
  seconds: number;
  runs_per_s: number;
  /** Commands clients sent to Redis per completed run (a script call counts once). */
  redis_ops_per_run: number;
  redis_ops_per_s: number;
  /** Redis main-thread CPU per run: 1 / this is the runs/s one Redis core allows. */
  redis_cpu_ms_per_run: number;
  worker_cpu_ms_per_run: number;
  s3_server_cpu_ms_per_run: number;
  /** The shared ClickHouse server's CPU per run (other users' queries included, if any). */
  clickhouse_cpu_ms_per_run: number;
  /** SELECTs ClickHouse answered per run (system.events; fewer than one where runs share queries). */
  clickhouse_queries_per_run: number;
  /** Share of the machine's CPU time that was busy, all processes of all users. */
  machine_busy: number;
  /** Commands per run, scripts' inner calls included, the largest first. */
  calls_per_run: Record<string, number>;
  /** The backlog ran out before the window ended. */
  drained: boolean;
  /** The runs before the window, while newly started worker processes warmed up. */
  warmup: WarmupResult;
}

/** What a window's warm-up cost: the runs newly started worker processes did while V8 compiled their code. */
export interface WarmupResult {
  runs: number;
  seconds: number;
  worker_cpu_ms_per_run: number;
  s3_server_cpu_ms_per_run: number;
}

/**
 * Runs completed per second by the running workers over `seconds`, with what
 * each run cost Redis, the workers, the S3 server and ClickHouse, and how busy
 * the whole machine was meanwhile. The window starts after `warmupRuns` more
 * runs (at least 3 s, at most `warmupMaxSeconds`): a worker process started
 * for it spends its first 1,000-2,000 runs compiling its code (2-3 times the
 * CPU per run of a warm one, docs/scaling.md), and a deployed worker runs for
 * days. What the warm-up cost is reported apart (`warmup`).
 */
export async function workerWindow(
  workers: ScaleWorkers,
  redis: Redis,
  store: Store,
  total: number,
  seconds: number,
  warm: { warmupRuns: number; warmupMaxSeconds: number } = { warmupRuns: 0, warmupMaxSeconds: 3 },
): Promise<WindowResult> {
  const completed = async () => Number((await store.redis.hget(store.keys.runsByStatus, 'Completed')) ?? 0);
  const ch = clickhousePid(workers.env.CLICKHOUSE_URL);
  const s3 = workers.services.pid('s3');
  const sample = async () => ({
    runs: await completed(),
    redis: await sampleRedis(redis),
    workers: workers.cpu(),
    s3: processCpu(s3),
    ch: ch ? processCpu(ch) : 0,
    selects: await selectQueries(workers.env.CLICKHOUSE_URL),
    machine: machineCpu(),
  });
  const w0 = await sample();
  const warmUntil = Date.now() + Math.max(3, warm.warmupMaxSeconds) * 1000;
  for (let minimum = Date.now() + 3000; Date.now() < warmUntil;) {
    await new Promise((r) => setTimeout(r, 500));
    const done = await completed();
    if (done >= total) break;
    if (Date.now() >= minimum && done - w0.runs >= warm.warmupRuns) break;
  }
  const a = await sample();
  const warmRuns = Math.max(a.runs - w0.runs, 1);
  const warmup: WarmupResult = {
    runs: a.runs - w0.runs,
    seconds: Math.round((a.redis.at - w0.redis.at) / 100) / 10,
    worker_cpu_ms_per_run: Math.round(((a.workers - w0.workers) * 1000 * 100) / warmRuns) / 100,
    s3_server_cpu_ms_per_run: Math.round(((a.s3 - w0.s3) * 1000 * 100) / warmRuns) / 100,
  };
  let drained = false;
  for (const until = Date.now() + seconds * 1000; Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 500));
    if ((await completed()) >= total) {
      drained = true;
      break;
    }
  }
  const b = await sample();
  const runs = b.runs - a.runs;
  const elapsed = (b.redis.at - a.redis.at) / 1000;
  const per = (x: number) => Math.round((x / Math.max(runs, 1)) * 100) / 100;
  return {
    runs,
    seconds: Math.round(elapsed * 10) / 10,
    runs_per_s: Math.round((runs / elapsed) * 10) / 10,
    redis_ops_per_run: per(b.redis.commands - a.redis.commands),
    redis_ops_per_s: Math.round((b.redis.commands - a.redis.commands) / elapsed),
    redis_cpu_ms_per_run: per((b.redis.cpu - a.redis.cpu) * 1000),
    worker_cpu_ms_per_run: per((b.workers - a.workers) * 1000),
    s3_server_cpu_ms_per_run: per((b.s3 - a.s3) * 1000),
    clickhouse_cpu_ms_per_run: per((b.ch - a.ch) * 1000),
    clickhouse_queries_per_run: per(b.selects - a.selects),
    machine_busy: Math.round(((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * 100) / 100,
    calls_per_run: Object.fromEntries(callsBetween(a.redis, b.redis).map(([name, n]) => [name, per(n)])),
    drained,
    warmup,
  };
}

/** SELECT queries the ClickHouse server at `url` has answered since it started (the bench's own among them). */
async function selectQueries(url = 'http://127.0.0.1:8123'): Promise<number> {
  const res = await fetch(url, { method: 'POST', body: "SELECT value FROM system.events WHERE event = 'SelectQuery'" });
  return Number((await res.text()).trim()) || 0;
}
