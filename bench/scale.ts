/**
 * `npm run bench -- --scale [--exports N] [--quick]`: how far one deployment
 * goes on this machine. N exports (100,000) on 5-minute intervals with tiny
 * intervals (0-3 events), the real scheduler and worker code over a Redis and
 * an S3 server of the benchmark's own and the shared ClickHouse:
 *  1. memory per export; one scheduler tick that makes every export's run
 *     (and one with none due); runs/s with 1, 2 and 4 worker processes over
 *     that backlog, with Redis commands, CPU and memory per run;
 *  2. two schedulers ticking at once over N due exports;
 *  3. a simulation: 4 workers and a scheduler process as deployed, N exports
 *     due at once (a 5-minute boundary): how long the burst takes to drain
 *     and the exports' lag (the /metrics formula) at the end.
 * Reported under `scale` in bench/results.json; docs/scaling.md reads it.
 */
import { createLogger } from '@bx/core';
import { RunRetention } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { cpus, loadavg as osLoadavg } from 'node:os';
import { join } from 'node:path';
import { benchBucket } from './bench-bucket';
import { createFiveMinuteExports, FIVE_MINUTES, generateTinyIntervals } from './scale-data';
import { ScaleWorkers, workerWindow, type WindowResult } from './scale-workers';
import { ScaleServices, sampleRedis } from './scale-services';
import { completedRuns, simulate } from './scale-simulation';

export interface ScaleOptions {
  exports: number;
  /** Seconds each worker count is measured. */
  windowSeconds: number;
  /** WORKER_CONCURRENCY of each worker process. */
  concurrency: number;
  /** Longest the simulation may take to drain its burst, in seconds. */
  simulateTimeoutSeconds: number;
  /** Worker process counts measured in turn (1, 2, 4). */
  workerCounts?: number[];
  /** Runs each newly started worker process does before a window is measured (its JIT warm-up). */
  warmupRunsPerProcess?: number;
  /** Longest a window's warm-up may take, in seconds. */
  warmupMaxSeconds?: number;
  /** Only phase 1's footprint, tick and runs/s: per-run cost while iterating on it. */
  runsOnly?: boolean;
  clickhouseUrl: string;
  say: (msg: string) => void;
  /** Called with the figures so far after each phase. */
  save?: (result: Record<string, unknown>) => void;
}

const DATABASE = 'bx_bench_scale';
/** More runs per second than any window here has done (380 at best): a window is given at least this many a second. */
const MAX_RUNS_PER_S = 500;
const MIB = 1024 * 1024;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const loadavg = () => osLoadavg().map((x) => round(x, 1));

export async function runScale(opts: ScaleOptions): Promise<Record<string, unknown>> {
  const { say } = opts;
  const n = opts.exports;
  // Filled phase by phase, and saved after each: a phase that fails leaves the earlier ones' figures.
  const result: Record<string, unknown> = { exports: n, worker_concurrency: opts.concurrency };
  const loadBefore = loadavg();
  const save = () => {
    /** The machine: cores, load averages (1, 5, 15 min) at the start and now; other users' work included. */
    result.machine = { cores: cpus().length, loadavg_before: loadBefore, loadavg_now: loadavg() };
    result.measured_at = new Date().toISOString();
    opts.save?.(result);
  };
  const services = await new ScaleServices().start();
  const redis = new Redis(services.redisUrl);
  const boundary = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES;
  // Phase 1's interval starts 20 minutes back; phase 3's interval is the last one that ended.
  const first = boundary - 4 * FIVE_MINUTES;
  try {
    const s3 = await benchBucket(services.s3Url, 'bx-scale');
    say(`scale: ${n.toLocaleString('en-US')} teams' tiny 5-minute intervals into ${DATABASE}.events`);
    result.events = await generateTinyIntervals(opts.clickhouseUrl, DATABASE, n, first, 12);
    const workerEnv = {
      REDIS_URL: services.redisUrl,
      CLICKHOUSE_URL: opts.clickhouseUrl,
      CLICKHOUSE_DATABASE: DATABASE,
      WORKER_CONCURRENCY: String(opts.concurrency),
      SHUTDOWN_GRACE_MS: '5000',
      ALLOWED_PRIVATE_DESTINATIONS: '127.0.0.1',
      ALLOW_PLAINTEXT_SECRETS: 'true',
    };

    // 1. Footprint, one tick, runs/s per worker count.
    const p1 = 'bxs1';
    const store = Store.connect(services.redisUrl, p1);
    const m0 = await sampleRedis(redis);
    say(`scale: storing ${n.toLocaleString('en-US')} exports`);
    const createdAt = Date.now();
    await createFiveMinuteExports(store, n, first, s3);
    result.exports_store_s = round((Date.now() - createdAt) / 1000, 1);
    const m1 = await sampleRedis(redis);
    result.redis_mb_per_1k_exports = round(((m1.usedMemory - m0.usedMemory) / n / MIB) * 1000, 3);
    say(`scale: one scheduler tick over ${n.toLocaleString('en-US')} due exports`);
    const [tick] = await ticks(services.redisUrl, p1, first + FIVE_MINUTES, 1);
    if (tick!.enqueued !== n) throw new Error(`the tick enqueued ${tick!.enqueued} runs, expected ${n}`);
    const m2 = await sampleRedis(redis);
    const [idle] = await ticks(services.redisUrl, p1, first + FIVE_MINUTES, 1);
    say(
      `  ${tick!.seconds.toFixed(2)} s (${tick!.cpu_seconds.toFixed(2)} s CPU); none due: ${idle!.seconds.toFixed(3)} s`,
    );
    const scheduledKb = (m2.usedMemory - m1.usedMemory) / n / 1024;
    Object.assign(result, {
      tick_s: round(tick!.seconds, 2),
      /** CPU of the tick: the scheduler process, and Redis's main thread. */
      tick_cpu_s: round(tick!.cpu_seconds, 2),
      tick_redis_cpu_s: round(m2.cpu - m1.cpu, 2),
      tick_none_due_s: round(idle!.seconds, 3),
      redis_kb_per_scheduled_run: round(scheduledKb, 2),
    });
    save();

    const workers = new ScaleWorkers({ ...workerEnv, QUEUE_PREFIX: p1 }, services);
    const windows: Record<string, WindowResult> = {};
    result.windows = windows;
    // Each window gets runs to do: when fewer are left than it could finish,
    // the next interval of every export is ticked in first (one more run each),
    // as long as that interval has ended (4 of them before `boundary`).
    const backlog = { runs: n, intervals: 1, bytes: 0 };
    const topUp = async (needed: number) => {
      while (backlog.runs - (await completedRuns(store)) < needed) {
        const at = first + (backlog.intervals + 1) * FIVE_MINUTES;
        if (at > Date.now()) return;
        const before = await sampleRedis(redis);
        const [more] = await ticks(services.redisUrl, p1, at, 1);
        backlog.bytes += (await sampleRedis(redis)).usedMemory - before.usedMemory;
        backlog.runs += more!.enqueued;
        backlog.intervals++;
        say(`  the next interval ticked in: ${more!.enqueued} more runs (${backlog.runs} in all)`);
      }
    };
    for (const count of opts.workerCounts ?? [1, 2, 4]) {
      const fresh = count - workers.processes.length;
      const warmupRuns = Math.max(fresh, 0) * (opts.warmupRunsPerProcess ?? 0);
      await topUp(warmupRuns + opts.windowSeconds * MAX_RUNS_PER_S);
      await workers.scaleTo(count);
      const w = await workerWindow(workers, redis, store, backlog.runs, opts.windowSeconds, {
        warmupRuns,
        warmupMaxSeconds: opts.warmupMaxSeconds ?? 3,
      });
      windows[`w${count}`] = w;
      result.runs_per_s = Object.fromEntries(Object.entries(windows).map(([k, x]) => [k, x.runs_per_s]));
      result.redis_ops_per_run = w.redis_ops_per_run;
      save();
      say(
        `  ${count} worker process(es): ${w.runs_per_s} runs/s, ${w.redis_ops_per_run} Redis commands/run, ` +
          `CPU per run: workers ${w.worker_cpu_ms_per_run} ms, ClickHouse ${w.clickhouse_cpu_ms_per_run} ms ` +
          `(${w.clickhouse_queries_per_run} queries), S3 server ${w.s3_server_cpu_ms_per_run} ms, ` +
          `Redis ${w.redis_cpu_ms_per_run} ms; machine ${Math.round(w.machine_busy * 100)}% busy ` +
          `(after ${w.warmup.runs} runs of warm-up in ${w.warmup.seconds} s: workers ${w.warmup.worker_cpu_ms_per_run} ms, ` +
          `S3 server ${w.warmup.s3_server_cpu_ms_per_run} ms per run)`,
      );
      if (w.drained) break;
    }
    await workers.stop();
    if (opts.runsOnly) return result;
    const m3 = await sampleRedis(redis);
    const finished = await completedRuns(store);
    /** A finished run's whole footprint: its record, log, indexes and BullMQ job. */
    // The runs ticked in for later windows are not finished ones: their memory is left out.
    const finishing = m3.usedMemory - m2.usedMemory - backlog.bytes;
    result.redis_kb_per_finished_run = round(scheduledKb + finishing / finished / 1024, 2);
    // Retention removes the finished runs (record, log, indexes, job): what that costs Redis, and frees.
    say(`scale: run retention over ${finished.toLocaleString('en-US')} finished runs`);
    const queue = new BullMqRunQueue({
      redis: { url: services.redisUrl },
      prefix: p1,
      attempts: 15,
      backoffMs: 10_000,
    });
    const retention = new RunRetention(store, queue, createLogger({}, 'error'), 0);
    const began = Date.now();
    const removed = await retention.pass(await store.now());
    const m4 = await sampleRedis(redis);
    // A removed Completed run sets its slot in its export's bitmap of the year, which Redis allocates up to that bit.
    const bitmaps = await bitmapBytes(redis, `${p1}:exported:*`);
    result.retention = {
      runs: removed,
      seconds: round((Date.now() - began) / 1000, 1),
      redis_cpu_ms_per_run: round(((m4.cpu - m3.cpu) * 1000) / Math.max(removed, 1), 3),
      /** Memory a finished run held until retention removed it. */
      redis_kb_freed_per_run: round((m3.usedMemory - m4.usedMemory + bitmaps.bytes) / Math.max(removed, 1) / 1024, 2),
      /** The exported-interval bitmaps retention started: one per export and year, allocated up to today's slot. */
      bitmaps: bitmaps.keys,
      redis_kb_per_bitmap: round(bitmaps.bytes / Math.max(bitmaps.keys, 1) / 1024, 2),
    };
    await queue.close();
    save();
    await store.close();
    await redis.flushall();

    // 2. Two schedulers at once over the same due exports.
    say('scale: two scheduler ticks at once');
    const p2 = 'bxs2';
    const store2 = Store.connect(services.redisUrl, p2);
    await createFiveMinuteExports(store2, n, first, s3);
    const p0 = await sampleRedis(redis);
    const pair = await ticks(services.redisUrl, p2, first + FIVE_MINUTES, 2);
    const p1s = await sampleRedis(redis);
    const created = await store2.redis.hget(store2.keys.runsByStatus, 'Scheduled');
    say(`  ${pair.map((t) => `${t.seconds.toFixed(2)} s, ${t.enqueued} runs, ${t.exports} exports read`).join('; ')}`);
    result.two_schedulers = {
      tick_s: pair.map((t) => round(t.seconds, 2)),
      cpu_s: pair.map((t) => round(t.cpu_seconds, 2)),
      redis_cpu_s: round(p1s.cpu - p0.cpu, 2),
      enqueued: pair.map((t) => t.enqueued),
      exports_read: pair.map((t) => t.exports),
      runs_created: Number(created ?? 0),
    };
    save();
    await store2.close();
    await redis.flushall();

    // 3. The simulation: a 5-minute boundary's runs with 4 workers and a scheduler process.
    try {
      result.simulation = await simulate(opts, services, s3, workerEnv);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      result.simulation = { error };
      say(`scale: the simulation failed: ${error}`);
    }
    save();
    await redis.flushall();
    return result;
  } finally {
    redis.disconnect();
    services.stop();
  }
}

interface TickOutput {
  seconds: number;
  cpu_seconds: number;
  exports: number;
  enqueued: number;
}

/** `count` scheduler ticks at `at`, each in its own process, started together. */
async function ticks(url: string, prefix: string, at: number, count: number): Promise<TickOutput[]> {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'scale-tick.ts')], {
      env: { ...process.env, REDIS_URL: url, QUEUE_PREFIX: prefix, TICK_AT: String(at), TICK_WAIT: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const outputs = children.map((child) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ready = new Promise<void>((resolve) => {
      const check = () => (out.includes('ready\n') ? resolve() : setTimeout(check, 20));
      check();
    });
    const done = new Promise<TickOutput>((resolve, reject) =>
      child.once('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out.split('\n').at(-2)!) as TickOutput) : reject(new Error(`tick ${code}`)),
      ),
    );
    return { ready, done, child };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const o of outputs) o.child.stdin.end('go\n');
  return Promise.all(outputs.map((o) => o.done));
}

/** How many keys match `pattern`, and the memory Redis reports for them (MEMORY USAGE). */
async function bitmapBytes(redis: Redis, pattern: string): Promise<{ keys: number; bytes: number }> {
  let keys = 0;
  let bytes = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const sizes = await Promise.all(found.map((k) => redis.memory('USAGE', k)));
    keys += found.length;
    bytes += sizes.reduce<number>((a, b) => a + Number(b ?? 0), 0);
  } while (cursor !== '0');
  return { keys, bytes };
}
